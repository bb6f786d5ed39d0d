"""SQL of the subscription pool (earnings/pool.py): a month's subscription revenue and plays by subscribers, the
items' co-creators, and the rows that close a month (``creator_pool_period`` first, then the ledger's)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.analytics.models import ContentView
from codex_graphql.authz import in_organization
from codex_graphql.content.models import Content
from codex_graphql.earnings.models import (
    ContentContributor,
    CreatorPoolPeriod,
    EarningEntry,
    PlatformSettings,
)
from codex_graphql.organizations.models import Organization
from codex_graphql.subscriptions.models import SubscriptionInvoice

_POOL_PERCENT = cast(Organization.settings["creator_pool_percent"].astext, Integer)


async def organizations_with_pool(session: AsyncSession, slug: str | None = None) -> list[tuple[uuid.UUID, int]]:
    """(organization, creator pool percent) of every organization whose pool is on (``creatorPoolPercent`` above
    0), or only of the one with ``slug``. Organization rows are readable by everyone."""
    statement = select(Organization.id, _POOL_PERCENT).where(_POOL_PERCENT > 0).order_by(Organization.id)
    if slug is not None:
        statement = statement.where(Organization.slug == slug)
    return [(org, int(percent)) for org, percent in (await session.execute(statement)).all()]


async def platform_fee_percent(session: AsyncSession) -> int:
    """The platform fee now (the one platform settings row; 0 before it exists)."""
    return int(await session.scalar(select(PlatformSettings.platform_fee_percent)) or 0)


def _paid_in(organization_id: uuid.UUID, start: datetime, end: datetime) -> Any:
    return in_organization(select(SubscriptionInvoice), SubscriptionInvoice, organization_id).where(
        SubscriptionInvoice.paid_at >= start, SubscriptionInvoice.paid_at < end)


async def revenue_by_currency(session: AsyncSession, organization_id: uuid.UUID, start: datetime,
                              end: datetime) -> dict[str, int]:
    """Per currency: the subscription revenue net of tax of the invoices paid in [start, end)."""
    net = func.sum(SubscriptionInvoice.amount_paid_cents - SubscriptionInvoice.tax_cents)
    statement = _paid_in(organization_id, start, end).with_only_columns(SubscriptionInvoice.currency, net).group_by(
        SubscriptionInvoice.currency)
    return {currency: int(cents) for currency, cents in (await session.execute(statement)).all()}


async def subscriber_plays(session: AsyncSession, organization_id: uuid.UUID, start: datetime, end: datetime,
                           currency: str) -> list[tuple[uuid.UUID, int, uuid.UUID | None]]:
    """(item, plays, its creator) of the organization's items played in [start, end) by the viewers who paid a
    subscription invoice of the organization in ``currency`` in that same interval. A play is a ``content_view``
    row (one per viewer, item and hour), counted in the hour it happened."""
    subscribers = _paid_in(organization_id, start, end).with_only_columns(SubscriptionInvoice.user_id).where(
        SubscriptionInvoice.currency == currency, SubscriptionInvoice.user_id.is_not(None))
    statement = in_organization(
        select(ContentView.content_id, func.count(), Content.creator_id).join(Content, Content.id == ContentView.content_id),
        ContentView, organization_id,
    ).where(ContentView.hour >= start, ContentView.hour < end, ContentView.user_id.in_(subscribers)).group_by(
        ContentView.content_id, Content.creator_id).order_by(ContentView.content_id)
    return [(content_id, int(plays), creator_id) for content_id, plays, creator_id in (await session.execute(statement)).all()]


async def contributors_of(session: AsyncSession, organization_id: uuid.UUID,
                          content_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tuple[uuid.UUID, int]]]:
    """Each item's co-creators as (user, percent of the creators' share)."""
    if not content_ids:
        return {}
    statement = in_organization(
        select(ContentContributor.content_id, ContentContributor.user_id, ContentContributor.share_percent),
        ContentContributor, organization_id,
    ).where(ContentContributor.content_id.in_(content_ids)).order_by(ContentContributor.content_id,
                                                                     ContentContributor.user_id)
    found: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {}
    for content_id, user_id, percent in (await session.execute(statement)).all():
        found.setdefault(content_id, []).append((user_id, percent))
    return found


async def is_closed(session: AsyncSession, organization_id: uuid.UUID, period_start: date, currency: str) -> bool:
    statement = in_organization(select(CreatorPoolPeriod.period_start), CreatorPoolPeriod, organization_id).where(
        CreatorPoolPeriod.period_start == period_start, CreatorPoolPeriod.currency == currency)
    return await session.scalar(statement) is not None


async def claim_period(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Record a closed period (organization, period, currency and its figures); False when it was closed already.
    A concurrent closer of the same period waits here for the first one's commit, then gets False."""
    statement = insert(CreatorPoolPeriod).values(**values).on_conflict_do_nothing(
        index_elements=[CreatorPoolPeriod.organization_id, CreatorPoolPeriod.period_start, CreatorPoolPeriod.currency],
    ).returning(CreatorPoolPeriod.period_start)
    return (await session.execute(statement)).first() is not None


async def add_pool_entries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The period's SUBSCRIPTION ledger rows; a row already there (``uq_earning_entry_subscription``) is skipped."""
    if rows:
        await session.execute(insert(EarningEntry).values([{"id": uuid.uuid4(), **row} for row in rows])
                              .on_conflict_do_nothing())


__all__ = ["add_pool_entries", "claim_period", "contributors_of", "is_closed", "organizations_with_pool",
           "platform_fee_percent", "revenue_by_currency", "subscriber_plays"]
