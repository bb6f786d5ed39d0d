"""Batch loaders for customer lists: purchases and owned content of every customer on a page."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.analytics import repository
from codex_graphql.batching import GroupedLoader, KeyedLoader
from codex_graphql.commerce.models import Purchase
from codex_graphql.pagination import decode_cursor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from codex_graphql.context import Context  # annotations only: the context builds these loaders

PurchaseKey = tuple[uuid.UUID, int, str | None]


class CustomerPurchasesLoader(GroupedLoader[PurchaseKey, list[Purchase]]):
    """Keys are (user, first, after); one statement per distinct (first, after), usually one."""

    per = "organization"
    missing: list[Purchase] = []

    async def query(self, db: AsyncSession, organization_id: uuid.UUID, user_ids: list[uuid.UUID], first: int,
                    after: str | None) -> dict[uuid.UUID, list[Purchase]]:
        return await repository.customer_purchases(
            db, organization_id, user_ids, first, decode_cursor(after) if after else None)


class OwnedContentLoader(KeyedLoader[uuid.UUID, list[uuid.UUID]]):
    """The ids of the content each customer owns in the active organization."""

    per = "organization"
    missing: list[uuid.UUID] = []
    query = staticmethod(repository.owned_content_ids)


def customer_purchases(ctx: Context) -> CustomerPurchasesLoader:
    return ctx.loaders.analytics_customer_purchases


def owned_content(ctx: Context) -> OwnedContentLoader:
    return ctx.loaders.analytics_owned_content
