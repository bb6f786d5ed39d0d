from __future__ import annotations

import strawberry

from codex_graphql.accounts import loaders
from codex_graphql.accounts.viewer import Viewer


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in user, or null for anonymous requests.")
    async def viewer(self, info: strawberry.Info) -> Viewer | None:
        user_id = info.context.viewer.user_id
        if user_id is None:
            return None
        user = await loaders.users(info.context).load(user_id)
        return Viewer.from_model(user) if user else None
