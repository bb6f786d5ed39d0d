from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader, RowLoader
from codex_graphql.commerce import repository
from codex_graphql.content import repository as contents
from codex_graphql.content.models import Content

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class RevenueLoader(KeyedLoader[uuid.UUID, int]):
    """Net revenue (completed purchases, tax excluded) per content item of the active organization."""

    per = "organization"
    missing = 0
    query = staticmethod(repository.revenue_by_content)


class PurchasedContentLoader(RowLoader[uuid.UUID, Content | None]):
    """Content of purchases, deleted items included (history keeps them)."""

    query = staticmethod(contents.by_ids_for_history)


def revenue(ctx: Context) -> RevenueLoader:
    return ctx.loaders.commerce_revenue


def purchased_content(ctx: Context) -> PurchasedContentLoader:
    return ctx.loaders.commerce_content
