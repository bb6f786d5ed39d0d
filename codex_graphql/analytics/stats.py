"""``Content.stats``: its type and the batch loaders behind it, plus recording views.

Kept apart from ``analytics.types`` because content types import it (and analytics types import them).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from codex_graphql.analytics import repository
from codex_graphql.batching import ContextLoader, KeyedLoader
from codex_graphql.db import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from codex_graphql.context import Context  # annotations only: the context builds these loaders


@strawberry.type(description="Sales and audience of one content item. Money is minor units net of tax.")
class ContentStats:
    purchases: int = strawberry.field(
        description="Purchases ever made (PAID, FREE and GRANT; refunded ones included).")
    revenue_cents: int = strawberry.field(
        description="Revenue net of tax and of refunds, partial ones included (same as Content.revenueCents).")
    refunds: int = strawberry.field(description="Purchases fully refunded or revoked (partial refunds only lower revenue).")
    views: int = strawberry.field(
        description="Playback URLs issued, counted once per viewer per hour.")
    unique_viewers: int = strawberry.field(description="Distinct signed-in viewers who were issued a playback URL.")


class StatsLoader(KeyedLoader[uuid.UUID, ContentStats]):
    """Two statements per batch (sales summary, views) whatever the number of items."""

    per = "organization"
    missing = ContentStats(purchases=0, revenue_cents=0, refunds=0, views=0, unique_viewers=0)

    async def query(self, db: AsyncSession, organization_id: uuid.UUID,
                    keys: list[uuid.UUID]) -> dict[uuid.UUID, ContentStats]:
        sales = await repository.sales(db, organization_id, keys)
        views = await repository.view_counts(db, organization_id, keys)
        out = {}
        for key in keys:
            sold = sales.get(key)
            seen = views.get(key, (0, 0))
            out[key] = ContentStats(
                purchases=sold.purchases if sold else 0, revenue_cents=sold.revenue_cents if sold else 0,
                refunds=sold.refunds if sold else 0, views=seen[0], unique_viewers=seen[1],
            )
        return out


def hour_bucket(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class ViewRecorder(ContextLoader[tuple[uuid.UUID, uuid.UUID], bool]):
    """Records (content, organization) views of the viewer: one INSERT ... ON CONFLICT DO NOTHING per
    batch, so a list of items asking for playback costs one statement."""

    async def batch_load_fn(self, keys: list[tuple[uuid.UUID, uuid.UUID]]) -> list[bool]:
        user_id = self.ctx.viewer.user_id
        if user_id is None:
            return [False] * len(keys)
        now = utcnow()
        hour = hour_bucket(now)
        await repository.record_views(self.ctx.db, [
            {"content_id": content_id, "organization_id": organization_id, "user_id": user_id, "hour": hour,
             "created_at": now}
            for content_id, organization_id in dict.fromkeys(keys)
        ])
        return [True] * len(keys)


def stats(ctx: Context) -> StatsLoader:
    return ctx.loaders.analytics_stats


async def record_view(ctx: Context, content_id: uuid.UUID, organization_id: uuid.UUID) -> None:
    """Count a playback URL issued to the signed-in viewer (anonymous viewers are not counted)."""
    if ctx.viewer.user_id is None:
        return
    await ctx.loaders.analytics_views.load((content_id, organization_id))
