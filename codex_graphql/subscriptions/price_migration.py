"""Opt-in move of a tier's subscribers to its current price (``migrateSubscriptionTierPrice``). Services never
commit.

A price change of a tier (``service.edit``) deactivates the old price row and adds a new one: existing
subscribers keep paying the old provider price. Staff with SUBSCRIPTIONS_MANAGE may move them. ``request`` runs
in the mutation's transaction: it checks the tier (the active organization's, not archived, with a current price
at the provider for the interval), counts the TRIALING, ACTIVE and PAST_DUE subscriptions of that tier and
interval on another price, audits the request (SUBSCRIPTION_TIER_PRICE_MIGRATED) and queues ``MIGRATION_ACTOR``
through the outbox with the target price row's id. The request calls no provider.

``migrate`` is the job (``workers/subscription_actors.py``). It reads pages of ids in short transactions; for each
subscription still to move (read again just before: the customer may have changed tier meanwhile), with no
transaction open, the provider moves the subscription's item to the target price with
``proration_behavior="none"`` (the new amount is billed from the next renewal; nothing is charged or credited
now) under the idempotency key ``codex-subscription-price:<row id>:<price row id>``; the answer is applied by
``billing.apply`` under the row's lock with its arrival time as the state time, as the answers to the
customer's own changes are (the ``customer.subscription.updated`` webhook that follows is then stale, or the
same state). Safe to run twice: a subscription already on the target price is no longer listed, and a crash
between the call and the record replays the same provider answer. A target price that is no longer active (the
price changed again, or the tier was archived) moves nobody: staff request the move to the new price.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.authz import Viewer
from codex_graphql.db import Database, TenantScope
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payments import BillingRefused, PaymentProvider
from codex_graphql.subscriptions import billing, reconcile_repository, repository, service
from codex_graphql.subscriptions import billing_repository as subscriptions
from codex_graphql.subscriptions.models import (
    LIVE_STATUSES,
    BillingInterval,
    Subscription,
    SubscriptionTier,
    SubscriptionTierStatus,
)

log = logging.getLogger("codex_graphql.subscriptions.price_migration")

MIGRATION_ACTOR = "migrate_subscription_tier_price"
BATCH = 100


def idempotency_key(subscription_id: uuid.UUID, price_id: uuid.UUID) -> str:
    """The provider idempotency key of moving one subscription to one price: the same change whoever runs it."""
    return f"codex-subscription-price:{subscription_id}:{price_id}"


@dataclass(frozen=True, slots=True)
class Requested:
    tier: SubscriptionTier
    queued: int  # subscriptions on an older price, queued to move


async def request(session: AsyncSession, viewer: Viewer, tier_id: uuid.UUID | None,
                  interval: BillingInterval) -> Requested:
    """Check, audit and queue the move of the tier's ``interval`` subscribers on older prices (nothing queued
    when there are none). NOT_FOUND for a tier that is not the active organization's; INVALID_STATE for an
    archived tier or a current price not yet at the provider; INVALID_INPUT for an interval without a price."""
    tier = await service.managed(session, viewer, tier_id)  # locked: concurrent requests run one after the other
    if tier.status is SubscriptionTierStatus.ARCHIVED:
        raise DomainError(ErrorCode.INVALID_STATE, "This tier is archived: its subscribers keep the prices they pay.",
                          "tierId")
    prices = (await repository.prices_of(session, tier.organization_id, [tier.id]))[tier.id]
    price = next((p for p in prices if p.active and p.interval is interval), None)
    if price is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"This tier has no {interval.value.lower()}ly price.", "interval")
    if price.stripe_price_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "The tier's current price is not at the payment provider yet: "
                          "complete it with updateSubscriptionTier first.", "interval")
    queued = await reconcile_repository.count_on_older_price(session, tier.organization_id, tier.id, interval,
                                                             price.stripe_price_id)
    if queued:
        await audit.record(session, audit.AuditAction.SUBSCRIPTION_TIER_PRICE_MIGRATED,
                           organization_id=tier.organization_id, target_type="SubscriptionTier", target_id=tier.id,
                           after={"interval": interval.value, "priceId": str(price.id),
                                  "amountCents": price.amount_cents, "queued": queued})
        events.enqueue(session, MIGRATION_ACTOR, tier.organization_id, price_id=str(price.id),
                       price_organization_id=str(tier.organization_id))
    return Requested(tier, queued)


def _still_to_move(row: Subscription, tier_id: uuid.UUID, interval: BillingInterval, provider_price: str,
                   provider_subscription: str) -> bool:
    return (row.tier_id == tier_id and row.interval is interval and row.status in LIVE_STATUSES
            and row.stripe_subscription_id == provider_subscription and row.stripe_price_id != provider_price)


@dataclass(slots=True)
class Outcome:
    moved: int = 0  # the provider answered with the subscription on the target price
    refused: int = 0  # the provider refused (e.g. the subscription ended there): left to the reconciliation
    failed: int = 0  # no answer (network, provider error): the job is retried


async def migrate(db: Database, provider: PaymentProvider, organization_id: uuid.UUID, price_id: uuid.UUID, *,
                  batch: int = BATCH) -> Outcome:
    """Move every live subscription of the price's tier and interval on another price to it (module docstring)."""
    scope = TenantScope(organization_id=organization_id)
    outcome = Outcome()
    async with db.transaction(scope) as session:
        price = await reconcile_repository.tier_price(session, organization_id, price_id)
        if price is None or not price.active or price.stripe_price_id is None:
            log.info("price migration: price %s is no longer a tier's current price; nobody moved", price_id)
            return outcome
        tier_id, interval, provider_price = price.tier_id, price.interval, price.stripe_price_id
    after: uuid.UUID | None = None
    while True:
        async with db.transaction(scope) as session:
            page = await reconcile_repository.on_older_price(session, organization_id, tier_id, interval,
                                                             provider_price, after, batch)
        for row_id, provider_subscription in page:
            async with db.transaction(scope) as session:  # the customer may have changed it since the page was read
                row = await subscriptions.in_organization_by_id(session, organization_id, row_id)
                still = row is not None and _still_to_move(row, tier_id, interval, provider_price, provider_subscription)
            if not still:
                continue
            try:  # no transaction open
                state = await provider.change_subscription_price(
                    provider_subscription, provider_price, proration_behavior="none",
                    idempotency_key=idempotency_key(row_id, price_id))
            except BillingRefused as error:
                log.warning("price migration: subscription %s refused: %s", row_id, error)
                outcome.refused += 1
                continue
            except Exception as error:  # noqa: BLE001 (unknown outcome: the retried job asks again, same key)
                log.warning("price migration: subscription %s: provider call failed: %s", row_id, error)
                outcome.failed += 1
                continue
            at = billing.provider_time(None)
            async with db.transaction(scope) as session:
                row = await subscriptions.lock(session, organization_id, row_id)
                if row is not None:
                    await billing.apply(session, row, state, at)
            outcome.moved += state.price_id == provider_price
        if len(page) < batch:
            break
        after = page[-1][0]
    log.info("price migration done", extra={"price": str(price_id), "moved": outcome.moved,
                                             "refused": outcome.refused, "failed": outcome.failed})
    return outcome
