"""Purchase's loader-backed fields answered for several purchases at once (batched.py): a purchase history
asks every purchase for its item and its organization, and one batch each answers the whole page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from codex_graphql.batched import load_for
from codex_graphql.commerce import loaders
from codex_graphql.content.types import Content
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.types import Organization

if TYPE_CHECKING:
    from codex_graphql.commerce.types import Purchase
    from codex_graphql.context import Context


async def contents(ctx: Context, purchases: Sequence[Purchase]) -> list[Content | None]:
    """Each purchase's item as the viewer may read it (None when no longer available to them)."""
    rows = await load_for(loaders.purchased_content(ctx), [purchase.row.content_id for purchase in purchases])
    return [Content.from_model(row) if row else None for row in rows]


async def organizations(ctx: Context, purchases: Sequence[Purchase]) -> list[Organization | None]:
    """Each purchase's seller (one ``Organization`` object per organization)."""
    ids = list(dict.fromkeys(purchase.row.organization_id for purchase in purchases))
    rows = await load_for(organization_loaders.organizations(ctx), ids)
    found = {key: Organization.from_model(row) if row else None for key, row in zip(ids, rows, strict=True)}
    return [found[purchase.row.organization_id] for purchase in purchases]


__all__ = ["contents", "organizations"]
