from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from codex_graphql.accounts import repository
from codex_graphql.accounts.models import User
from codex_graphql.context import Context


class UserLoader(DataLoader[uuid.UUID, User | None]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[User | None]:
        users = {u.id: u for u in await repository.users_by_ids(self.ctx.db, list(keys))}
        return [users.get(k) for k in keys]


def users(ctx: Context) -> UserLoader:
    return ctx.loader("users", lambda: UserLoader(ctx))
