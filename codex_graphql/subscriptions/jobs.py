"""The periodic reconciliation of subscription tiers with the payment provider, run by workers (and by the API
process in embedded mode).

A mutation commits a tier's rows before calling the provider and records the provider's ids after; a crash in
between, or a provider failure, leaves rows without provider ids (or a deactivated price not archived at the
provider). The next change of the tier completes that work; this job completes it for tiers nobody touches.
The work list (ids only) is read under the platform scope; each tier's work is read in its organization's
scope, done with no transaction open (idempotency keys from the row ids: the same provider objects whoever
runs it, however often) and recorded in a second short transaction that writes only ids still missing."""

from __future__ import annotations

import logging
from datetime import timedelta

from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.payments import PaymentProvider
from codex_graphql.subscriptions import repository, service

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 300.0
STALE_AFTER = timedelta(minutes=2)  # leave a tier a running mutation is still completing alone
BATCH = 100


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
