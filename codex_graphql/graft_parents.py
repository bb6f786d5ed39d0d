"""The resolvers' parent objects of the compiled types, loaded by id for grafts (``fastpath.grafts``).

A field inside a compiled root that does not compile is resolved on the object the resolvers would have
built there: the same row (read in the request's tenant scope, so row-level security sees what the
compiled statement saw) through the loader their resolvers use, built by the same ``from_model``. One
statement per type, whatever the number of parents. A type missing here is never grafted (a field of it
that does not compile leaves its whole root to the resolvers).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.commerce import loaders as commerce_loaders
from codex_graphql.content.types import Content
from codex_graphql.fastpath.grafts import ParentLoader, declare_parents
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.types import Organization


def _by(loader: Callable[[Any], Any], build: Callable[[Any], Any]) -> ParentLoader:
    async def load(ctx: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        rows = await loader(ctx).load_many(ids)
        return {id_: build(row) for id_, row in zip(ids, rows, strict=True) if row is not None}
    return load


# Content everywhere it compiles (catalogue pages, `content(id:)`, a purchase's item, best sellers): the row
# by id as RLS shows it, deleted items included (Purchase.content's loader), like the compiled statements.
declare_parents("Content", _by(commerce_loaders.purchased_content, Content.from_model))
declare_parents("Organization", _by(organization_loaders.organizations, Organization.from_model))
declare_parents("Viewer", _by(account_loaders.users, Viewer.from_model))  # `viewer`: the signed-in user's row
declare_parents("User", _by(account_loaders.users, User.from_model))
