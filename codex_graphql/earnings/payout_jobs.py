"""The periodic payout job (workers, the API process in embedded mode, ``codex-graphql run-payouts``).

For each organization, in the period its ``payoutSchedule`` is in (weeks from Monday, months from the 1st, UTC):

1. one short transaction of the organization (with the platform scope, which reads the creators' connected
   accounts) under an advisory lock per organization, so concurrent runs take turns: the PENDING payouts left
   by a run that crashed (resumed with the same attempt, hence the same idempotency key); this period's FAILED
   payouts, back to PENDING with the next attempt (a new key: Stripe keeps a refusal under its key for 24 h)
   where the account can receive transfers again; and a new PENDING payout of the whole balance for each
   creator and currency whose payable balance (less the earnings younger than ``payoutHoldDays``) reaches
   ``payoutMinimumCents``, whose account's ``transfers`` capability
   is active and who has no payout in this period (one per organization, creator, currency and period: a
   unique key). The payout trigger takes a PENDING amount out of the balance at once. Commit.
2. per payout, with no transaction open: ``create_transfer`` keyed ``payout:<id>:<attempt>``, grouped by the
   payout's id. A payout taken up from an earlier run is first looked up by its group: a transfer made by a run
   whose answer was lost is recorded, never made twice, however long ago (Stripe forgets keys after 24 hours).
3. per payout, a short transaction: PAID (transfer id, time) or FAILED (the provider's code and message; the
   amount is back in the balance). An unknown outcome (network) leaves it PENDING for the next run.

Creators without an account able to receive transfers are skipped (logged); their balance waits. A refund after a
payout leaves the balance negative: no payout until earnings bring it back over the minimum, which nets it.
Running twice, one after the other or at once, pays once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.earnings import payout_repository as repository
from codex_graphql.earnings.payouts import period_start
from codex_graphql.org_settings import models as settings_models
from codex_graphql.payments import PaymentProvider, TransferDeclined

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0
MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class Transfer:
    """A reserved payout as the provider call needs it."""

    payout_id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    attempt: int
    account_id: str
    amount_cents: int
    currency: str
    period_start: date
    resumed: bool = False  # reserved by an earlier run, whose transfer may exist though its answer was lost


@dataclass(slots=True)
class PayoutRun:
    """What one run did."""

    organizations: int = 0
    reserved: int = 0  # payouts reserved or taken up by this run (new, retried, resumed)
    paid: int = 0  # recorded PAID by this run
    failed: int = 0  # recorded FAILED by this run
    unknown: int = 0  # the provider's answer did not arrive: still PENDING
    skipped: int = 0  # creators owed at least the minimum whose account cannot receive transfers


async def run_payouts(db: Database, provider: PaymentProvider, *, now: datetime | None = None,
                      organization_slug: str | None = None) -> PayoutRun:
    """Pay every organization's creators what their period's payout is due (see the module's docstring)."""
    now = now or utcnow()
    run = PayoutRun()
    async with db.transaction(TenantScope.platform_wide()) as session:
        organizations = await repository.organizations_to_pay(session, organization_slug)
    for organization_id, stored in organizations:
        run.organizations += 1
        transfers = await _reserve(db, provider.name, organization_id, stored, now, run)
        for transfer in transfers:
            await _transfer(db, provider, transfer, run)
    if run.reserved or run.skipped:
        log.info("payout run", extra={"reserved": run.reserved, "paid": run.paid, "failed": run.failed,
                                      "unknown": run.unknown, "skipped": run.skipped})
    return run


async def _reserve(db: Database, provider_name: str, organization_id: uuid.UUID, stored: dict | None,
                   now: datetime, run: PayoutRun) -> list[Transfer]:
    document = settings_models.read("", "UTC", stored)
    period = period_start(document.payout_schedule, now)
    minimum = document.payout_minimum_cents
    # The hold counts from the clock, whatever period ``now`` names (a run for a past or future period
    # still never pays earnings younger than the hold).
    held_since = utcnow() - timedelta(days=document.payout_hold_days)
    async with db.transaction(TenantScope.platform_wide(organization_id)) as session:
        await repository.lock_payout_run(session, organization_id)
        resumed = await repository.pending_payouts(session, organization_id)
        resumed_ids = {p.id for p in resumed}
        payouts = [*resumed,
                   *await repository.retry_failed(session, organization_id, period, minimum, provider_name, held_since),
                   *await repository.reserve(session, organization_id, period, minimum, provider_name, held_since)]
        waiting = await repository.waiting_without_transfers(session, organization_id, period, minimum, provider_name,
                                                             held_since)
    for row in waiting:
        log.info("creator owed a payout has no account able to receive transfers; skipped",
                 extra={"organization_id": str(organization_id), "user_id": str(row.user_id),
                        "currency": row.currency, "balance_cents": row.balance, "has_account": row.has_account})
    run.skipped += len(waiting)
    run.reserved += len(payouts)
    return [Transfer(payout_id=p.id, organization_id=organization_id, user_id=p.user_id, attempt=p.attempt,
                     account_id=p.account_id or "", amount_cents=p.amount_cents, currency=p.currency,
                     period_start=p.period_start, resumed=p.id in resumed_ids) for p in payouts]


async def _transfer(db: Database, provider: PaymentProvider, transfer: Transfer, run: PayoutRun) -> None:
    try:
        # A resumed payout's transfer may exist with its answer lost: found by its group, it is recorded, not
        # made again (the key alone would not do once the provider has forgotten it, after 24 hours).
        found = await provider.find_transfer(str(transfer.payout_id)) if transfer.resumed else None
        result = found or await provider.create_transfer(
            destination=transfer.account_id, amount_cents=transfer.amount_cents, currency=transfer.currency,
            transfer_group=str(transfer.payout_id),
            metadata={"payout_id": str(transfer.payout_id), "organization_id": str(transfer.organization_id),
                      "user_id": str(transfer.user_id), "period_start": transfer.period_start.isoformat()},
            idempotency_key=f"payout:{transfer.payout_id}:{transfer.attempt}")
    except TransferDeclined as exc:
        async with db.transaction(TenantScope(organization_id=transfer.organization_id)) as session:
            recorded = await repository.record_outcome(
                session, transfer.organization_id, transfer.payout_id, transfer.attempt,
                failure_code=(exc.code or "declined")[:64], failure_reason=exc.message[:MAX_REASON])
        log.warning("payout transfer declined", extra={"payout_id": str(transfer.payout_id), "code": exc.code})
        run.failed += recorded
        return
    except Exception:
        log.exception("payout transfer outcome unknown; the next run resumes it with the same key",
                      extra={"payout_id": str(transfer.payout_id)})
        run.unknown += 1
        return
    async with db.transaction(TenantScope(organization_id=transfer.organization_id)) as session:
        recorded = await repository.record_outcome(session, transfer.organization_id, transfer.payout_id,
                                                   transfer.attempt, transfer_id=result.transfer_id, paid_at=utcnow())
    run.paid += recorded  # False: a concurrent run resumed this payout (same key, same transfer) and recorded it


__all__ = ["INTERVAL_SECONDS", "PayoutRun", "Transfer", "run_payouts"]
