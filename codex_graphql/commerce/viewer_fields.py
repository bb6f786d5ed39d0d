"""Commerce's field on ``Viewer`` (the signed-in user's own purchases), declared here, where its data lives,
and attached to the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.commerce import queries
from codex_graphql.commerce.types import Purchase
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.relay import Connection


@strawberry.type(description="Commerce's fields of `Viewer` (never served as a type of its own).")
class ViewerCommerce:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's purchases in every organization, newest first.")
    async def purchases(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None
    ) -> Connection[Purchase]:
        return await queries.viewer_purchases(info, self.user_id, first, after)
