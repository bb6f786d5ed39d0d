"""The periodic reconciliation of subscription tiers, and of customers' subscriptions, with the payment provider,
run by workers (and by the API process in embedded mode).

A mutation commits a tier's rows before calling the provider and records the provider's ids after; a crash in
between, or a provider failure, leaves rows without provider ids (or a deactivated price not archived at the
provider). The next change of the tier completes that work; this job completes it for tiers nobody touches.
The work list (ids only) is read under the platform scope; each tier's work is read in its organization's
scope, done with no transaction open (idempotency keys from the row ids: the same provider objects whoever
runs it, however often) and recorded in a second short transaction that writes only ids still missing.

Customers' subscriptions (``reconcile_subscriptions``) follow webhooks; a webhook Stripe gave up on, or one lost
before it was stored, leaves a row stale: a live subscription whose period ended without its renewal applied
keeps access only until the renewal leeway runs out (``billing.RENEWAL_LEEWAY``) even when the customer paid,
and one canceled at the provider keeps access it no longer has. The job lists, in one statement under the
platform scope (``subscription``'s platform read policy and partial indexes, migration 0027), TRIALING, ACTIVE
and PAST_DUE rows whose period ended more than ``PERIOD_LEEWAY`` ago and INCOMPLETE rows with a provider
subscription unchanged for ``INCOMPLETE_AFTER`` (ids only, at most ``BATCH`` a pass, least recently changed
first: an applied state moves a row to the back, so every row gets its turn). It reads each subscription from the provider with no
transaction open and applies the answer through ``billing.apply`` under the row's lock, its arrival time as the
state time (as the answers to the customer's own changes): the ordering rules keep whichever of it and any
webhook is newer.
Invoices are not read: the credits and the RENEWED announcement of a lost ``invoice.paid`` wait for Stripe to
deliver it again (or for a resend from Stripe's dashboard)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.payments import PaymentProvider, SubscriptionNotFound
from codex_graphql.subscriptions import billing, reconcile_repository, repository, service
from codex_graphql.subscriptions import billing_repository as subscriptions

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 300.0
STALE_AFTER = timedelta(minutes=2)  # leave a tier a running mutation is still completing alone
BATCH = 100
SUBSCRIPTIONS_INTERVAL_SECONDS = 600.0
PERIOD_LEEWAY = timedelta(hours=1)  # Stripe renews at the period end; its events follow within minutes
INCOMPLETE_AFTER = timedelta(minutes=15)  # a checkout's own events normally arrive within seconds


async def reconcile_tiers(db: Database, provider: PaymentProvider, *, stale_after: timedelta = STALE_AFTER,
                          batch: int = BATCH) -> int:
    """Complete the provider work of tiers unchanged for ``stale_after``; returns how many were completed."""
    async with db.transaction(TenantScope.platform_wide()) as session:
        tiers = await repository.with_pending_work(session, utcnow() - stale_after, batch)
    completed = 0
    for organization_id, tier_id in tiers:
        async with db.transaction(TenantScope(organization_id=organization_id)) as session:
            work = await service.pending_work(session, organization_id, tier_id)
        if work is None:
            continue
        outcome = await service.call_provider(provider, work)  # no transaction open
        async with db.transaction(TenantScope(organization_id=organization_id)) as session:
            await service.record(session, outcome)
        completed += outcome.error is None
    if tiers:
        log.info("subscription tiers reconciled", extra={"pending": len(tiers), "completed": completed})
    return completed


async def reconcile_subscriptions(db: Database, provider: PaymentProvider, *, period_leeway: timedelta = PERIOD_LEEWAY,
                                  incomplete_after: timedelta = INCOMPLETE_AFTER, batch: int = BATCH) -> int:
    """Read at most ``batch`` subscriptions a lost webhook may have left stale from the provider and apply their
    state (module docstring); returns how many states were applied (a state the row already had counts too)."""
    now = utcnow()
    async with db.transaction(TenantScope.platform_wide()) as session:
        work = await reconcile_repository.possibly_stale(session, now - period_leeway, now - incomplete_after, batch)
    applied = 0
    for organization_id, row_id, provider_subscription in work:
        applied += await _reconcile_one(db, provider, organization_id, row_id, provider_subscription)
    if work:
        log.info("subscriptions reconciled", extra={"read": len(work), "applied": applied})
    return applied


async def _reconcile_one(db: Database, provider: PaymentProvider, organization_id: uuid.UUID, row_id: uuid.UUID,
                         provider_subscription: str) -> bool:
    try:  # no transaction open
        state = await provider.retrieve_subscription(provider_subscription)
    except SubscriptionNotFound:
        log.warning("subscription %s: the provider has no subscription %s", row_id, provider_subscription)
        return False
    except Exception as error:  # noqa: BLE001 (network or provider error: the next pass asks again)
        log.warning("subscription %s: provider read failed: %s", row_id, error)
        return False
    at = billing.provider_time(None)
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        row = await subscriptions.lock(session, organization_id, row_id)
        outcome = await billing.apply(session, row, state, at) if row is not None else "gone"
    return outcome.startswith("subscription_")
