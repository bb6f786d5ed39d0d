"""The one place the domains' compiled declarations are gathered (the generic core never imports a domain).

``register(schema)`` imports each domain's ``compiled`` module (each declares its types' compilable
fields and root fields in ``fastpath.registry``) and binds the served schema, from which the registry
reads every declared field's guard. ``schema.build_schema`` calls it.
"""

from __future__ import annotations

from typing import Any

from codex_graphql.accounts import compiled as _accounts  # noqa: F401  (declares User, Viewer, `viewer`)
from codex_graphql.analytics import compiled as _analytics  # noqa: F401  (Organization.analytics)
from codex_graphql.articles import compiled as _articles  # noqa: F401  (Content.excerpt, wordCount, ...)
from codex_graphql.categories import compiled as _categories  # noqa: F401  (Category, Content/Organization.categories)
from codex_graphql.commerce import compiled as _commerce  # noqa: F401  (Purchase, Viewer.purchases)
from codex_graphql.content import compiled as _content  # noqa: F401  (Content, `content(id:)`)
from codex_graphql.fastpath import registry
from codex_graphql.org_settings import compiled as _org_settings  # noqa: F401  (Organization.branding, settings, ...)
from codex_graphql.organizations import compiled as _organizations  # noqa: F401  (Organization, `organization`)
from codex_graphql.subscriptions import compiled as _subscriptions  # noqa: F401  (Organization.subscriptionTiers)


def register(schema: Any) -> None:
    registry.bind_schema(schema)
