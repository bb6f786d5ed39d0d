"""SQL for the work that brings customers' subscriptions in line with the payment provider outside any webhook:
the opt-in move of a tier's subscribers to its current price (``price_migration``) and the reconciliation of
states a lost webhook left stale (``jobs.reconcile_subscriptions``). Work lists hold ids only; the rows
themselves are locked and changed through ``billing_repository.lock`` and ``billing.apply``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.subscriptions.models import (
    LIVE_STATUSES,
    BillingInterval,
    Subscription,
    SubscriptionStatus,
    SubscriptionTierPrice,
)


async def tier_price(session: AsyncSession, organization_id: uuid.UUID, price_id: uuid.UUID) -> SubscriptionTierPrice | None:
    """One price row (active or old) of the organization's tiers."""
    statement = in_organization(select(SubscriptionTierPrice), SubscriptionTierPrice, organization_id)
    return await session.scalar(statement.where(SubscriptionTierPrice.id == price_id))


def _on_older_price(organization_id: uuid.UUID, tier_id: uuid.UUID, interval: BillingInterval,
                    provider_price_id: str, *columns: Any) -> Select[Any]:
    return in_organization(select(*columns), Subscription, organization_id).where(
        Subscription.tier_id == tier_id, Subscription.interval == interval,
        Subscription.status.in_(LIVE_STATUSES), Subscription.stripe_subscription_id.is_not(None),
        Subscription.stripe_price_id.is_distinct_from(provider_price_id))


async def count_on_older_price(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID,
                               interval: BillingInterval, provider_price_id: str) -> int:
    """How many TRIALING, ACTIVE or PAST_DUE subscriptions of the tier and interval pay another provider price
    than ``provider_price_id`` (an older price of the tier)."""
    statement = _on_older_price(organization_id, tier_id, interval, provider_price_id, func.count())
    return int(await session.scalar(statement) or 0)


async def on_older_price(session: AsyncSession, organization_id: uuid.UUID, tier_id: uuid.UUID,
                         interval: BillingInterval, provider_price_id: str, after: uuid.UUID | None,
                         limit: int) -> list[tuple[uuid.UUID, str]]:
    """(row id, provider subscription id) of those subscriptions, by row id after ``after``: one page."""
    statement = _on_older_price(organization_id, tier_id, interval, provider_price_id,
                                Subscription.id, Subscription.stripe_subscription_id)
    if after is not None:
        statement = statement.where(Subscription.id > after)
    rows = await session.execute(statement.order_by(Subscription.id).limit(limit))
    return [(row[0], str(row[1])) for row in rows.all()]


async def possibly_stale(session: AsyncSession, period_ended_before: datetime, incomplete_before: datetime,
                         limit: int) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(organization id, row id, provider subscription id) of subscriptions, in every organization, whose state a
    lost webhook may have left stale: TRIALING, ACTIVE or PAST_DUE ones whose period ended before
    ``period_ended_before`` (no renewal applied), and INCOMPLETE ones that reached the provider and have not
    changed since ``incomplete_before``. Least recently changed first (an applied state moves a row to the
    back). Platform scope only (``platform_read``, migration 0027): the reconciliation job's work list, each on
    a partial index of those rows."""
    columns = (Subscription.organization_id, Subscription.id, Subscription.stripe_subscription_id,
               Subscription.updated_at)
    has_provider = Subscription.stripe_subscription_id.is_not(None)
    live = select(*columns).where(Subscription.status.in_(LIVE_STATUSES), has_provider,
                                  Subscription.current_period_end < period_ended_before)
    incomplete = select(*columns).where(Subscription.status == SubscriptionStatus.INCOMPLETE, has_provider,
                                        Subscription.updated_at < incomplete_before)
    both = union_all(live.order_by(Subscription.updated_at).limit(limit),
                     incomplete.order_by(Subscription.updated_at).limit(limit)).subquery()
    statement = select(both.c.organization_id, both.c.id, both.c.stripe_subscription_id).order_by(
        both.c.updated_at, both.c.id).limit(limit)
    return [(row[0], row[1], str(row[2])) for row in (await session.execute(statement)).all()]
