"""Batch loaders for customer lists: purchases and owned content of every customer on a page."""

from __future__ import annotations

import uuid
from collections import defaultdict

from aiodataloader import DataLoader

from codex_graphql.analytics import repository
from codex_graphql.commerce.models import Purchase
from codex_graphql.context import Context
from codex_graphql.pagination import decode_cursor

PurchaseKey = tuple[uuid.UUID, int, str | None]


class CustomerPurchasesLoader(DataLoader[PurchaseKey, list[Purchase]]):
    """Keys are (user, first, after); one statement per distinct (first, after), usually one."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[PurchaseKey]) -> list[list[Purchase]]:
        organization_id = self.ctx.viewer.active_organization_id
        if organization_id is None:
            return [[] for _ in keys]
        groups: dict[tuple[int, str | None], list[uuid.UUID]] = defaultdict(list)
        for user_id, first, after in keys:
            groups[(first, after)].append(user_id)
        found: dict[PurchaseKey, list[Purchase]] = {}
        for (first, after), user_ids in groups.items():
            rows = await repository.customer_purchases(
                self.ctx.db, organization_id, user_ids, first, decode_cursor(after) if after else None)
            for user_id in user_ids:
                found[(user_id, first, after)] = rows.get(user_id, [])
        return [found[k] for k in keys]


class OwnedContentLoader(DataLoader[uuid.UUID, list[uuid.UUID]]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[list[uuid.UUID]]:
        organization_id = self.ctx.viewer.active_organization_id
        if organization_id is None:
            return [[] for _ in keys]
        found = await repository.owned_content_ids(self.ctx.db, organization_id, list(keys))
        return [found.get(k, []) for k in keys]


def customer_purchases(ctx: Context) -> CustomerPurchasesLoader:
    return ctx.loader("analytics.customer_purchases", lambda: CustomerPurchasesLoader(ctx))


def owned_content(ctx: Context) -> OwnedContentLoader:
    return ctx.loader("analytics.owned_content", lambda: OwnedContentLoader(ctx))
