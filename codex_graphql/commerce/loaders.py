from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from codex_graphql.commerce import repository
from codex_graphql.content import repository as contents
from codex_graphql.content.models import Content
from codex_graphql.context import Context


class RevenueLoader(DataLoader[uuid.UUID, int]):
    """Net revenue (completed purchases, tax excluded) per content item of the active organization."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[int]:
        organization_id = self.ctx.viewer.active_organization_id
        if organization_id is None:
            return [0] * len(keys)
        totals = await repository.revenue_by_content(self.ctx.db, organization_id, list(keys))
        return [totals.get(k, 0) for k in keys]


class PurchasedContentLoader(DataLoader[uuid.UUID, Content | None]):
    """Content of purchases, deleted items included (history keeps them)."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[Content | None]:
        found = {c.id: c for c in await contents.by_ids_for_history(self.ctx.db, list(keys))}
        return [found.get(k) for k in keys]


def revenue(ctx: Context) -> RevenueLoader:
    return ctx.loader("commerce.revenue", lambda: RevenueLoader(ctx))


def purchased_content(ctx: Context) -> PurchasedContentLoader:
    return ctx.loader("commerce.content", lambda: PurchasedContentLoader(ctx))
