"""Refund reconciliation: finishes API refunds that a crash left half done.

``refunds.refund_purchase`` reserves (commits a PENDING row), calls the provider with the row's idempotency
key and the row's id in the refund's metadata, then records the answer in a second transaction. A process
that dies between the reservation and the record leaves a PENDING row without a provider refund id: the
amount stays reserved (no second refund can exceed the purchase), and this periodic task, for rows older
than ``STALE_AFTER`` (far longer than any provider call), asks the provider for a refund carrying the row's
id. Found: recorded exactly as the request would have (``refunds.record``, a no-op if the webhook counted it
first). Not found: the call never reached the provider, so the reservation is released (FAILED) and the
amount is refundable again. Every step is its own short transaction; no transaction is open while the
provider answers. Several workers may run it at once: ``record`` and the release lock the row and act only
on a row still PENDING.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.commerce import refunds, repository
from codex_graphql.commerce.models import RefundStatus
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.payments import PaymentProvider

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)
INTERVAL_SECONDS = 5 * 60
NOT_SENT = "Not sent to the payment provider (the request stopped first); nothing was refunded. Retry with a new key."
PAGE = 500


async def reconcile_refunds(db: Database, provider: PaymentProvider, *, stale_after: timedelta = STALE_AFTER,
                            batch: int = 100) -> dict[str, int]:
    """One pass over every organization; returns how many reservations were recorded and released."""
    counts = {"recorded": 0, "released": 0}
    cutoff = utcnow() - stale_after
    after: uuid.UUID | None = None
    while True:
        async with db.transaction() as session:  # organizations are readable in any scope
            organization_ids = await repository.organization_ids_after(session, after, PAGE)
        for organization_id in organization_ids:
            await _reconcile_organization(db, provider, organization_id, cutoff, batch, counts)
        if len(organization_ids) < PAGE:
            break
        after = organization_ids[-1]
    if counts["recorded"] or counts["released"]:
        log.info("refund reservations reconciled", extra=counts)
    return counts


async def _reconcile_organization(db: Database, provider: PaymentProvider, organization_id: uuid.UUID,
                                  cutoff: datetime, batch: int, counts: dict[str, int]) -> None:
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        stale = [refunds.Reservation(refund.id, purchase.id, organization_id, purchase.payment_intent_id or "",
                                     refund.amount_cents, refund.idempotency_key, refund.reason, refund.status)
                 for refund, purchase in await repository.stale_api_refunds(session, organization_id, cutoff, batch)]
    for reservation in stale:
        try:  # no transaction open while the provider answers
            found = await provider.find_refund(reservation.payment_intent_id, "purchase_refund_id",
                                               str(reservation.refund_id))
        except Exception:
            log.warning("could not ask the provider about a refund reservation",
                        extra={"purchase_refund_id": str(reservation.refund_id)})
            continue
        async with db.transaction(scope) as session:
            if found is not None:
                await refunds.record(session, reservation, found, None)
                counts["recorded"] += 1
            elif await _release(session, reservation):
                counts["released"] += 1


async def _release(session: AsyncSession, reservation: refunds.Reservation) -> bool:
    refund = await repository.refund_for_update(session, reservation.organization_id, reservation.refund_id)
    if refund is None or refund.status is not RefundStatus.PENDING or refund.provider_refund_id is not None:
        return False
    refund.status = RefundStatus.FAILED
    refund.failure_reason = NOT_SENT
    await session.flush()
    return True
