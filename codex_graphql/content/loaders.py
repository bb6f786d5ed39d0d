"""Per-request batch loaders for the viewer's access and playback positions."""

from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from codex_graphql.content import repository
from codex_graphql.context import Context


class EntitlementLoader(DataLoader[uuid.UUID, bool]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[bool]:
        user_id = self.ctx.viewer.user_id
        if user_id is None:
            return [False] * len(keys)
        entitled = await repository.entitled_content_ids(self.ctx.db, user_id, list(keys))
        return [k in entitled for k in keys]


class PositionLoader(DataLoader[uuid.UUID, float | None]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[float | None]:
        user_id = self.ctx.viewer.user_id
        if user_id is None:
            return [None] * len(keys)
        found = await repository.positions(self.ctx.db, user_id, list(keys))
        return [found.get(k) for k in keys]


def entitlements(ctx: Context) -> EntitlementLoader:
    return ctx.loader("content.entitlements", lambda: EntitlementLoader(ctx))


def positions(ctx: Context) -> PositionLoader:
    return ctx.loader("content.positions", lambda: PositionLoader(ctx))
