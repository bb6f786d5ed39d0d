"""Refunds, partial or full, and disputes.

A refund made through the API takes three steps, none of which holds a transaction open across the
network call: ``reserve`` (one short transaction: lock the purchase, check the amount against what
remains minus what other refunds have reserved, insert a PENDING ``purchase_refund`` row keyed by a
deterministic idempotency key), the provider's refund called with that key, then ``record`` (a second
short transaction: the row SUCCEEDED and the purchase's refunded amounts, status, access, events and
audit entry). Two concurrent refunds of one purchase serialize on the purchase row in ``reserve``, so
together they never exceed it. A retry with the same key finds the row: replays the result, or calls
the provider again with the same key (the provider answers with the same refund).

Refunds and disputes the provider reports (``charge.refunded`` with the charge's refunds list,
``charge.dispute.created``/``closed``) go through ``apply`` as well; a refund already counted is
recognized by its provider refund id (or, for one we made, by our row id in the refund's metadata).
Only a full refund ends access (the entitlement is revoked) and sends the REFUNDED event and email; a
partial refund sends a partial-refund email showing what the buyer paid net of refunds.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, NamedTuple

import orjson
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.authz import Viewer
from codex_graphql.commerce import repository, service
from codex_graphql.commerce.models import (
    DisputeStatus,
    Purchase,
    PurchaseKind,
    PurchaseRefund,
    PurchaseStatus,
    RefundSource,
    RefundStatus,
)
from codex_graphql.db import Database, TenantScope, driver_connection, outbox_dirty, utcnow
from codex_graphql.earnings import ledger
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payments import PaymentProvider, RefundDeclined, RefundResult

STRIPE = "stripe"  # the audit log's actor for what the payment provider reported
PARTIALLY_REFUNDED_EVENT = "purchase.partially_refunded"
MAX_KEY = 255


def split(purchase: Purchase, amount: int) -> tuple[int, int]:
    """(net of tax, creator's part) of refunding ``amount`` more of ``purchase``. Cumulative shares rounded
    down, so the pieces of a purchase refunded in full add up exactly to its net and its creator share."""
    total = purchase.refunded_amount_cents + amount
    if total >= purchase.amount_cents:
        return (purchase.amount_cents - purchase.tax_cents - purchase.refunded_net_cents,
                purchase.creator_share_cents - purchase.creator_refunded_cents)
    net = total * (purchase.amount_cents - purchase.tax_cents) // purchase.amount_cents
    creator = total * purchase.creator_share_cents // purchase.amount_cents
    return net - purchase.refunded_net_cents, creator - purchase.creator_refunded_cents


def _state(purchase: Purchase) -> dict[str, Any]:
    return {"status": purchase.status.value, "refundedAmountCents": purchase.refunded_amount_cents,
            "refundReason": purchase.refund_reason}


async def apply(session: AsyncSession, purchase: Purchase, refund: PurchaseRefund, *, end_access: bool = False,
                actor_user_id: uuid.UUID | None = None, actor_service: str | None = None) -> None:
    """Count a confirmed refund: the row SUCCEEDED, the purchase's refunded amounts and status; at a full
    refund (or ``end_access``) access ends. Events, email and the audit entry go with it. The caller
    holds the purchase's row lock."""
    before = _state(purchase)
    net, creator = split(purchase, refund.amount_cents)
    await session.flush()  # the refund row exists before the ledger's entries name it
    pieces = await ledger.record_refund(
        await driver_connection(session), organization_id=purchase.organization_id, purchase_id=purchase.id,
        refund_id=refund.id, content_id=purchase.content_id, currency=purchase.currency,
        refunded_net_before=purchase.refunded_net_cents, refunded_net_after=purchase.refunded_net_cents + net,
        dispute=refund.source is RefundSource.DISPUTE)
    if pieces is not None:  # a sale the ledger holds: the creators give back what the ledger says
        creator = ledger.creators_total(pieces)
    refund.status = RefundStatus.SUCCEEDED
    refund.net_cents, refund.creator_cents = net, creator
    refund.succeeded_at = func.now()  # the day the summary trigger counts the piece on (its now())
    purchase.refunded_amount_cents += refund.amount_cents
    purchase.refunded_net_cents += net
    purchase.creator_refunded_cents += creator
    if refund.reason:
        purchase.refund_reason = refund.reason
    if end_access or purchase.refunded_amount_cents >= purchase.amount_cents:
        await service.mark_refunded(session, purchase, purchase.refund_reason)
        service.announce(session, purchase, service.REFUNDED_EVENT, "refund")
    else:
        purchase.status = PurchaseStatus.PARTIALLY_REFUNDED
        await session.flush()
        service.announce(session, purchase, PARTIALLY_REFUNDED_EVENT, "partial_refund")
    await audit.record(session, audit.AuditAction.PURCHASE_REFUNDED, organization_id=purchase.organization_id,
                       target_type="Purchase", target_id=purchase.id, before=before,
                       after={**_state(purchase), "amountCents": refund.amount_cents, "netCents": net,
                              "creatorCents": creator, "currency": refund.currency, "source": refund.source.value,
                              "providerRefundId": refund.provider_refund_id},
                       actor_user_id=actor_user_id, actor_service=actor_service)


# -- through the API ------------------------------------------------------------------------------------

class Reservation(NamedTuple):
    refund_id: uuid.UUID
    purchase_id: uuid.UUID
    organization_id: uuid.UUID
    payment_intent_id: str
    amount_cents: int
    key: str
    reason: str | None
    status: RefundStatus


def _request_hash(amount_cents: int | None, reason: str) -> str:
    return hashlib.sha256(orjson.dumps({"amountCents": amount_cents, "reason": reason})).hexdigest()


async def reserve(session: AsyncSession, viewer: Viewer, purchase_id: uuid.UUID | None, amount_cents: int | None,
                  reason: str, idempotency_key: str) -> Reservation:
    """Check the request and reserve its amount (a PENDING row), or find the row of an earlier attempt
    with the same key. Raises DomainError, changing nothing, for bad input."""
    key = idempotency_key.strip()
    if not 1 <= len(key) <= MAX_KEY:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Idempotency keys have 1 to {MAX_KEY} characters.", "idempotencyKey")
    if amount_cents is not None and amount_cents <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "Refund a positive amount (minor units).", "amountCents")
    if len(reason) > service.MAX_NOTE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Reasons are at most {service.MAX_NOTE} characters.", "reason")
    organization_id = viewer.active_organization_id
    purchase = (await repository.purchase_for_update(session, organization_id, purchase_id)
                if purchase_id and organization_id else None)
    if purchase is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No purchase has this id in your organization.", "purchaseId")
    provider_key = f"refund:{purchase.id}:{key}"
    fingerprint = _request_hash(amount_cents, reason)
    existing = await repository.refund_by_key(session, purchase.organization_id, provider_key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                              "This idempotency key was used with a different input.", "idempotencyKey")
        return _reservation(purchase, existing)
    if purchase.kind is not PurchaseKind.PAID or not purchase.payment_intent_id:
        raise DomainError(ErrorCode.INVALID_STATE, "Only paid purchases can be refunded; revoke granted access instead.",
                          "purchaseId")
    if purchase.status is PurchaseStatus.REFUNDED:
        raise DomainError(ErrorCode.INVALID_STATE, "This purchase was already refunded.", "purchaseId")
    pending = await repository.pending_refund_total(session, purchase.organization_id, purchase.id)
    remaining = purchase.amount_cents - purchase.refunded_amount_cents - pending
    if remaining <= 0:
        raise DomainError(ErrorCode.INVALID_STATE, "What remains of this purchase is being refunded already.",
                          "purchaseId")
    amount = remaining if amount_cents is None else amount_cents
    if amount > remaining:
        raise DomainError(ErrorCode.REFUND_EXCEEDS_REMAINING,
                          f"At most {remaining} (minor units of {purchase.currency}) remains to be refunded.",
                          "amountCents")
    refund = PurchaseRefund(
        organization_id=purchase.organization_id, purchase_id=purchase.id, amount_cents=amount,
        currency=purchase.currency, status=RefundStatus.PENDING, source=RefundSource.API, idempotency_key=provider_key,
        request_hash=fingerprint, reason=reason.strip() or None, requested_by_id=viewer.user_id,
    )
    session.add(refund)
    purchase.refund_requested_at = utcnow()
    await session.flush()
    return _reservation(purchase, refund)


def _reservation(purchase: Purchase, refund: PurchaseRefund) -> Reservation:
    return Reservation(refund.id, purchase.id, purchase.organization_id, purchase.payment_intent_id or "",
                       refund.amount_cents, refund.idempotency_key, refund.reason, refund.status)


async def record(session: AsyncSession, reservation: Reservation, result: RefundResult | None,
                 declined: str | None) -> RefundStatus:
    """The provider's answer, in the second transaction. A refund the webhook counted first stays as it is."""
    purchase = await repository.purchase_for_update(session, reservation.organization_id, reservation.purchase_id)
    refund = await repository.refund_for_update(session, reservation.organization_id, reservation.refund_id)
    assert purchase is not None and refund is not None
    if refund.status is not RefundStatus.PENDING:
        return refund.status
    if declined is not None or result is None or result.status in ("failed", "canceled"):
        refund.status = RefundStatus.FAILED
        refund.failure_reason = declined or f"The refund {result.status if result else 'failed'}."
        await session.flush()
        return refund.status
    refund.provider_refund_id = result.refund_id
    if result.status == "succeeded":
        await apply(session, purchase, refund, actor_user_id=refund.requested_by_id)
    else:
        await session.flush()  # pending at the provider: charge.refund.updated (or charge.refunded) completes it
    return refund.status


async def refund_purchase(db: Database, provider: PaymentProvider, viewer: Viewer, context: audit.AuditContext,
                          purchase_id: uuid.UUID | None, amount_cents: int | None, reason: str,
                          idempotency_key: str, scope: TenantScope | None = None) -> tuple[uuid.UUID, bool]:
    """The whole API refund: reserve, call the provider, record. Returns (purchase id, outbox written).
    ``scope``: a job's (the organization's) instead of the viewer's."""
    scope = scope or viewer.scope
    async with db.transaction(scope) as session:
        audit.attach(session, context)
        reservation = await reserve(session, viewer, purchase_id, amount_cents, reason, idempotency_key)
    if reservation.status is RefundStatus.SUCCEEDED:
        return reservation.purchase_id, False
    if reservation.status is RefundStatus.FAILED:
        raise DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR, "The payment provider refused this refund.", "purchaseId")
    result: RefundResult | None = None
    declined: str | None = None
    try:
        result = await provider.refund(reservation.payment_intent_id, reservation.key, reservation.reason,
                                       reservation.amount_cents, {"purchase_refund_id": str(reservation.refund_id),
                                                                  "purchase_id": str(reservation.purchase_id)})
    except RefundDeclined as exc:
        declined = str(exc) or "declined"
    except Exception as exc:
        # The refund may or may not exist at the provider: the amount stays reserved, and a retry with the
        # same key asks the provider again (which answers with the refund if it was made).
        raise DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR,
                          "The payment provider did not answer; retry with the same idempotency key.") from exc
    async with db.transaction(scope) as session:
        audit.attach(session, context)
        status = await record(session, reservation, result, declined)
        wrote = outbox_dirty(session)
    if status is RefundStatus.FAILED:
        raise DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR,
                          f"The payment provider refused the refund: {declined or 'failed'}.", "purchaseId")
    return reservation.purchase_id, wrote


# -- reported by the provider ---------------------------------------------------------------------------

async def charge_refunded(session: AsyncSession, purchase: Purchase, charge: dict[str, Any]) -> str:
    """``charge.refunded``: count each succeeded refund of the charge not counted yet. Refunds we made are
    found by their provider id or by our row id in their metadata; others were made in the dashboard."""
    counted = 0
    listed = [r for r in ((charge.get("refunds") or {}).get("data") or []) if isinstance(r, dict)]
    for item in sorted(listed, key=lambda r: (r.get("created") or 0, str(r.get("id")))):
        if item.get("status") != "succeeded" or not isinstance(item.get("id"), str):
            continue
        counted += await _provider_refund(session, purchase, item)
    if not listed:  # an API version whose charge carries no refunds list: the cumulative amount tells
        pending = await repository.pending_refund_total(session, purchase.organization_id, purchase.id)
        missing = int(charge.get("amount_refunded") or 0) - purchase.refunded_amount_cents - pending
        if missing > 0:
            counted += await _dashboard_refund(session, purchase, missing, None,
                                               f"stripe:{charge.get('id')}:{charge.get('amount_refunded')}")
    if counted == 0:
        return "already_refunded" if purchase.status is PurchaseStatus.REFUNDED else "already_recorded"
    return "purchase_refunded" if purchase.status is PurchaseStatus.REFUNDED else "partial_refund_recorded"


async def _provider_refund(session: AsyncSession, purchase: Purchase, item: dict[str, Any]) -> int:
    refund_id = item["id"]
    known = await repository.refund_by_provider_id(session, purchase.organization_id, refund_id)
    ours_id = known.id if known is not None else _uuid((item.get("metadata") or {}).get("purchase_refund_id"))
    ours = await repository.refund_for_update(session, purchase.organization_id, ours_id) if ours_id else None
    if known is not None and (ours is None or ours.purchase_id != purchase.id):
        return 0
    if ours is not None and ours.purchase_id == purchase.id:
        if ours.status is RefundStatus.SUCCEEDED:
            return 0
        ours.provider_refund_id = refund_id
        ours.status = RefundStatus.PENDING
        await apply(session, purchase, ours, actor_user_id=ours.requested_by_id)
        return 1
    return await _dashboard_refund(session, purchase, int(item.get("amount") or 0), refund_id, f"stripe:{refund_id}")


async def _dashboard_refund(session: AsyncSession, purchase: Purchase, amount: int, provider_refund_id: str | None,
                            key: str) -> int:
    amount = min(amount, purchase.amount_cents - purchase.refunded_amount_cents)
    if amount <= 0 or await repository.refund_by_key(session, purchase.organization_id, key) is not None:
        return 0
    refund = PurchaseRefund(organization_id=purchase.organization_id, purchase_id=purchase.id, amount_cents=amount,
                            currency=purchase.currency, status=RefundStatus.PENDING, source=RefundSource.STRIPE,
                            idempotency_key=key, provider_refund_id=provider_refund_id,
                            reason="refunded at the payment provider")
    session.add(refund)
    await apply(session, purchase, refund, actor_service=STRIPE)
    return 1


async def refund_updated(session: AsyncSession, purchase: Purchase, item: dict[str, Any]) -> str:
    """``charge.refund.updated`` / ``refund.updated``: a refund that was pending at the provider succeeded
    (counted once, as above) or failed (our reservation is released)."""
    if not isinstance(item.get("id"), str):
        return "ignored"
    if item.get("status") == "succeeded":
        return "refund_recorded" if await _provider_refund(session, purchase, item) else "already_recorded"
    if item.get("status") in ("failed", "canceled"):
        ours = await repository.refund_by_provider_id(session, purchase.organization_id, item["id"])
        ours_id = _uuid((item.get("metadata") or {}).get("purchase_refund_id"))
        if ours is None and ours_id is not None:
            ours = await repository.refund_for_update(session, purchase.organization_id, ours_id)
        if ours is not None and ours.purchase_id == purchase.id and ours.status is RefundStatus.PENDING:
            ours.status = RefundStatus.FAILED
            ours.failure_reason = f"The refund {item['status']} at the payment provider."
            await session.flush()
            return "refund_failed"
    return "ignored"


async def dispute_created(session: AsyncSession, purchase: Purchase, dispute: dict[str, Any]) -> str:
    dispute_id = str(dispute.get("id") or "")
    if purchase.dispute_id == dispute_id and purchase.dispute_status is not None:
        return "already_recorded"
    before = {"disputeStatus": purchase.dispute_status.value if purchase.dispute_status else None}
    purchase.disputed_at = purchase.disputed_at or utcnow()
    purchase.dispute_id = dispute_id
    purchase.dispute_status = DisputeStatus.OPEN
    await session.flush()
    service.announce(session, purchase, service.DISPUTED_EVENT, None)
    await audit.record(session, audit.AuditAction.PURCHASE_DISPUTED, organization_id=purchase.organization_id,
                       target_type="Purchase", target_id=purchase.id, before=before,
                       after={"disputeStatus": "OPEN", "disputeId": dispute_id, "amountCents": dispute.get("amount"),
                              "reason": dispute.get("reason")}, actor_service=STRIPE)
    return "purchase_flagged"


async def dispute_closed(session: AsyncSession, purchase: Purchase, dispute: dict[str, Any]) -> str:
    """Won (or closed with a warning): the dispute is cleared. Lost: a full refund of the disputed amount
    (what remains of it), and access ends."""
    dispute_id = str(dispute.get("id") or "")
    outcome = DisputeStatus.LOST if dispute.get("status") == "lost" else DisputeStatus.WON
    if purchase.dispute_id == dispute_id and purchase.dispute_status is outcome:
        return "already_recorded"
    before = {"disputeStatus": purchase.dispute_status.value if purchase.dispute_status else None,
              "status": purchase.status.value}
    purchase.dispute_id = dispute_id
    purchase.dispute_status = outcome
    if outcome is DisputeStatus.WON:
        purchase.disputed_at = None
        await session.flush()
    else:
        amount = min(int(dispute.get("amount") or 0), purchase.amount_cents - purchase.refunded_amount_cents)
        if amount > 0 and await repository.refund_by_key(session, purchase.organization_id, f"dispute:{dispute_id}") is None:
            refund = PurchaseRefund(organization_id=purchase.organization_id, purchase_id=purchase.id,
                                    amount_cents=amount, currency=purchase.currency, status=RefundStatus.PENDING,
                                    source=RefundSource.DISPUTE, idempotency_key=f"dispute:{dispute_id}",
                                    reason="dispute lost")
            session.add(refund)
            await apply(session, purchase, refund, end_access=True, actor_service=STRIPE)
        elif purchase.status is not PurchaseStatus.REFUNDED:
            await service.mark_refunded(session, purchase, "dispute lost")
            service.announce(session, purchase, service.REFUNDED_EVENT, "refund")
        await session.flush()
    await audit.record(session, audit.AuditAction.DISPUTE_CLOSED, organization_id=purchase.organization_id,
                       target_type="Purchase", target_id=purchase.id, before=before,
                       after={"disputeStatus": outcome.value, "status": purchase.status.value, "disputeId": dispute_id,
                              "providerStatus": dispute.get("status")}, actor_service=STRIPE)
    return "dispute_lost" if outcome is DisputeStatus.LOST else "dispute_won"


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
