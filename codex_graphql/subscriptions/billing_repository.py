"""SQL for customers' subscriptions (``subscription``, migration 0024). Statements are scoped with
``in_organization`` or by the customer's own user id (row-level security lets a customer read their own rows
in every organization)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page
from codex_graphql.subscriptions.models import (
    LIVE_STATUSES,
    Subscription,
    SubscriptionInvoice,
    SubscriptionTierPrice,
    SubscriptionTierSummary,
)

ORDER = (Subscription.created_at.desc(), Subscription.id)


async def lock(session: AsyncSession, organization_id: uuid.UUID, subscription_id: uuid.UUID) -> Subscription | None:
    """The row, locked: every writer (webhook handlers, the customer's mutations) takes this lock first, so
    concurrent changes of one subscription run one after the other."""
    statement = in_organization(select(Subscription), Subscription, organization_id)
    return await session.scalar(statement.where(Subscription.id == subscription_id).with_for_update())


async def lock_checkout(session: AsyncSession, user_id: uuid.UUID, tier_id: uuid.UUID) -> None:
    """Serialize the customer's checkouts for one tier until the transaction ends: concurrent retries with one
    key find the row the first one made instead of racing to insert it (its unique key would refuse them)."""
    await session.execute(text("select pg_advisory_xact_lock(hashtextextended(:k, 0))")
                          .bindparams(k=f"subscription-checkout:{user_id}:{tier_id}"))


async def by_checkout_key(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                          key: str) -> Subscription | None:
    statement = in_organization(select(Subscription), Subscription, organization_id)
    return await session.scalar(statement.where(Subscription.user_id == user_id, Subscription.checkout_key == key))


async def live_for_tier(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                        tier_id: uuid.UUID) -> Subscription | None:
    """The customer's TRIALING, ACTIVE or PAST_DUE subscription to the tier, if any."""
    statement = in_organization(select(Subscription), Subscription, organization_id).where(
        Subscription.user_id == user_id, Subscription.tier_id == tier_id, Subscription.status.in_(LIVE_STATUSES))
    return await session.scalar(statement.limit(1))


async def own(session: AsyncSession, user_id: uuid.UUID, subscription_id: uuid.UUID) -> Subscription | None:
    """The customer's own subscription (any organization), None for anyone else's."""
    return await session.scalar(select(Subscription).where(Subscription.id == subscription_id,
                                                           Subscription.user_id == user_id))


def _own(organization_id: uuid.UUID | None, user_id: uuid.UUID) -> Select[Any]:
    """The customer's subscriptions that reached the provider (a checkout never completed is left out): in one
    organization, or in all."""
    statement = select(Subscription).where(Subscription.user_id == user_id,
                                           Subscription.stripe_subscription_id.is_not(None))
    return in_organization(statement, Subscription, organization_id) if organization_id else statement


async def user_page(session: AsyncSession, organization_id: uuid.UUID | None, user_id: uuid.UUID, first: int,
                    after: str | None) -> Page[Subscription]:
    """The customer's own subscriptions, newest first."""
    return await keyset_page(session, _own(organization_id, user_id), created_col=Subscription.created_at,
                             id_col=Subscription.id, first=first, after=after)


async def user_count(session: AsyncSession, organization_id: uuid.UUID | None, user_id: uuid.UUID) -> int:
    statement = _own(organization_id, user_id).with_only_columns(func.count()).order_by(None)
    return int(await session.scalar(statement) or 0)


async def customer_id_of(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    """The provider customer of the customer's latest subscription in the organization (reused by a new checkout)."""
    statement = in_organization(select(Subscription.stripe_customer_id), Subscription, organization_id).where(
        Subscription.user_id == user_id, Subscription.stripe_customer_id.is_not(None))
    return await session.scalar(statement.order_by(*ORDER).limit(1))


async def price_by_provider_id(session: AsyncSession, organization_id: uuid.UUID,
                               provider_price_id: str) -> SubscriptionTierPrice | None:
    """The tier price (active or old) the provider price stands for, in the organization."""
    statement = in_organization(select(SubscriptionTierPrice), SubscriptionTierPrice, organization_id)
    return await session.scalar(statement.where(SubscriptionTierPrice.stripe_price_id == provider_price_id))


async def add(session: AsyncSession, row: Subscription) -> None:
    session.add(row)
    await session.flush()


async def in_organization_by_id(session: AsyncSession, organization_id: uuid.UUID,
                                subscription_id: uuid.UUID) -> Subscription | None:
    """A subscription of the organization, whoever's it is (read, not locked): for its staff."""
    statement = in_organization(select(Subscription), Subscription, organization_id)
    return await session.scalar(statement.where(Subscription.id == subscription_id))


async def subscriber_counts(session: AsyncSession, organization_id: uuid.UUID,
                            tier_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many TRIALING, ACTIVE or PAST_DUE subscriptions each tier of the organization has, from the summary
    the subscription triggers keep (one statement; tiers without a summary row are absent)."""
    m = SubscriptionTierSummary
    statement = in_organization(select(m.tier_id, m.trialing + m.active + m.past_due), m, organization_id).where(
        m.tier_id.in_(tier_ids))
    return {tier_id: int(count) for tier_id, count in (await session.execute(statement)).all()}


async def record_invoice(session: AsyncSession, values: dict[str, Any]) -> bool:
    """A paid invoice, once per provider invoice id (a replay inserts nothing); True when it was new."""
    statement = insert(SubscriptionInvoice).values(id=uuid.uuid4(), **values).on_conflict_do_nothing(
        index_elements=[SubscriptionInvoice.stripe_invoice_id]).returning(SubscriptionInvoice.id)
    return (await session.execute(statement)).first() is not None
