"""Payment webhooks: verify, then store once in the inbox and handle, in one transaction.

The inbox row commits with the effects of handling it, so a delivery either leaves the event handled or
leaves nothing (and, answered with an error, is delivered again). Concurrent deliveries of one event
serialize on the inbox row: the second one's insert waits for the first transaction and then finds
the event handled. When handling fails, the transaction rolls back and the event is stored with a
retry job instead, so a worker handles it later (``handle``, idempotent and serialized by a row lock on
the inbox row). Purchases are unique per provider checkout session, so concurrent deliveries create
exactly one.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.commerce import refunds, repository, service
from codex_graphql.commerce.models import (
    CheckoutStatus,
    Purchase,
    PurchaseKind,
    PurchaseStatus,
)
from codex_graphql.db import (
    Database,
    TenantScope,
    driver_connection,
    outbox_dirty,
    rescope,
    scope_of,
    state_of,
    utcnow,
)
from codex_graphql.earnings import ledger, payouts
from codex_graphql.offerings import bookings as offering_bookings
from codex_graphql.payments import PaymentProvider
from codex_graphql.payments.signing import MalformedEvent
from codex_graphql.subscriptions import billing

log = logging.getLogger(__name__)

HANDLE_ACTOR = "handle_payment_event"
COMPLETED_TYPES = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
SUBSCRIPTION_TYPES = {"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"}
INVOICE_TYPES = {"invoice.paid", "invoice.payment_failed"}


class Ingested(NamedTuple):
    event_id: str
    wrote_outbox: bool  # the relay has new rows to publish


async def ingest(db: Database, provider: PaymentProvider, payload: bytes, signature: str | None) -> Ingested:
    """Verify (raises WebhookError), store and handle. The caller answers 2xx after this.

    A correctly signed body that is not an event raises MalformedEvent after it is recorded (once per
    distinct body, see ``record_malformed``): the caller answers 400 and the provider stops retrying."""
    try:
        event = provider.verify_webhook(payload, signature)
    except MalformedEvent as exc:
        await record_malformed(db, exc)
        raise
    try:
        fresh = await _provider_state(provider, event["type"], event["data"]["object"])
        async with db.transaction(_scope_hint(event)) as session:
            conn = await driver_connection(session)  # every delivery comes this way: see repository's hot path
            if await repository.claim_event(conn, event["id"], event["type"], payload.decode(),
                                            _payment_intent((event.get("data") or {}).get("object") or {})):
                outcome = await _dispatch(session, event["type"], event["data"]["object"], event.get("created"),
                                          fresh)
                await repository.mark_event_handled(conn, event["id"], outcome, state_of(session).event_organization)
            wrote_outbox = outbox_dirty(session)
        return Ingested(event["id"], wrote_outbox)
    except Exception:
        log.exception("inline webhook handling failed; the queued job will retry", extra={"event_id": event["id"]})
    async with db.transaction(TenantScope.platform_wide()) as session:
        stored = await repository.store_event(session, event["id"], event["type"], event)
        if stored:
            events.enqueue(session, HANDLE_ACTOR, event_id=event["id"])
    return Ingested(event["id"], stored)


MALFORMED_PREFIX = "malformed_"
MAX_RECORDED_CHARS = 64 * 1024


def malformed_event_id(payload: bytes) -> str:
    """The inbox id of a malformed body: derived from its hash, so the same body is stored once."""
    return MALFORMED_PREFIX + hashlib.sha256(payload).hexdigest()


async def record_malformed(db: Database, error: MalformedEvent) -> bool:
    """Store a signed but malformed body in the inbox under the platform scope (no organization), as text:
    ``{"raw": ..., "reason": ..., "bytes": n}`` with outcome ``malformed``. True when it is new."""
    raw = error.payload.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    record = {"raw": raw[:MAX_RECORDED_CHARS], "reason": str(error), "bytes": len(error.payload),
              "truncated": len(raw) > MAX_RECORDED_CHARS}
    event_id = malformed_event_id(error.payload)
    async with db.transaction(TenantScope.platform_wide()) as session:
        stored = await repository.store_malformed_event(session, event_id, record)
    log.warning("signed webhook body is not an event; recorded for inspection",
                extra={"event_id": event_id, "reason": str(error), "first": stored})
    return stored


def _payment_intent(obj: dict[str, Any]) -> str | None:
    return obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) else None


def _scope_hint(event: dict[str, Any]) -> TenantScope:
    """The inbox is a platform-wide reader: every delivery runs under the platform scope (the event's
    organization is not known before handling). Checkout events name their organization: start in its
    tenant scope as well, which handling switches to first."""
    try:
        organization_id = _uuid(event["data"]["object"]["metadata"]["organization_id"])
    except (KeyError, TypeError):
        organization_id = None
    return TenantScope.platform_wide(organization_id)


async def _scope_to(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Act in the event's organization (keeping the platform scope, so the inbox stays readable)."""
    state_of(session).event_organization = organization_id  # stamped on the inbox row as it is marked handled
    scope = TenantScope.platform_wide(organization_id)
    if scope_of(session) != scope:
        await rescope(session, scope)


async def _provider_state(provider: PaymentProvider | None, event_type: str, obj: dict[str, Any]) -> Any:
    """What the handler reads from the provider first, with no transaction open: a connected account's current
    state for ``account.updated`` (so a replayed or late event changes nothing); None for other events."""
    if provider is None or event_type != payouts.ACCOUNT_UPDATED:
        return None
    return await payouts.current_state(provider, obj)


async def handle(db: Database, event_id: str, provider: PaymentProvider | None = None) -> str:
    """Handle one stored event; safe to run any number of times, concurrently. With ``provider`` (the worker's),
    events whose handling reads the provider read it first, outside the transaction."""
    fresh = None
    if provider is not None:
        async with db.transaction(TenantScope.platform_wide()) as session:
            peeked = await repository.lock_event(session, event_id)
            waiting = (peeked.type, peeked.payload["data"]["object"]) if peeked and peeked.processed_at is None else None
        if waiting is not None:
            fresh = await _provider_state(provider, *waiting)
    async with db.transaction(TenantScope.platform_wide()) as session:
        stored = await repository.lock_event(session, event_id)
        if stored is None:
            return "unknown"
        if stored.processed_at is not None:
            return stored.outcome or "done"
        outcome = await _dispatch(session, stored.type, stored.payload["data"]["object"], stored.payload.get("created"),
                                  fresh)
        stored.processed_at = utcnow()
        stored.outcome = outcome
        stored.organization_id = state_of(session).event_organization
        return outcome


async def _dispatch(session: AsyncSession, event_type: str, obj: dict[str, Any], created: Any = None,
                    fresh: Any = None) -> str:
    if event_type == payouts.ACCOUNT_UPDATED:  # a creator's connected account (Connect), under the platform scope
        return await payouts.account_updated(session, obj, fresh)
    if event_type in SUBSCRIPTION_TYPES or event_type in INVOICE_TYPES or (
            event_type == "checkout.session.completed" and obj.get("mode") == "subscription"):
        return await _billing(session, event_type, obj, created)
    if event_type in COMPLETED_TYPES:
        return await _checkout_completed(session, obj)
    if event_type == "checkout.session.async_payment_failed":
        return await _checkout_failed(session, obj)
    if event_type == "checkout.session.expired" and obj.get("mode") == "payment":
        return await _checkout_failed(session, obj, expired=True)
    if event_type == "charge.refunded":
        return await _charge_refunded(session, obj)
    if event_type in ("charge.refund.updated", "refund.updated"):
        return await _refund_updated(session, obj)
    if event_type in ("charge.dispute.created", "charge.dispute.closed"):
        return await _dispute(session, obj, closed=event_type == "charge.dispute.closed")
    return "ignored"


async def _billing(session: AsyncSession, event_type: str, obj: dict[str, Any], created: Any) -> str:
    """Stripe Billing's events, handled by ``subscriptions.billing`` in the subscription's organization."""
    owner = billing.invoice_owner(obj) if event_type in INVOICE_TYPES else billing.owner_of(obj.get("metadata"))
    if owner is None:
        log.info("billing event of a subscription this server did not start; ignored", extra={"type": event_type})
        return "not_ours"
    await _scope_to(session, owner.organization_id)
    if event_type == "invoice.paid":
        return await billing.invoice_paid(session, obj)
    if event_type == "invoice.payment_failed":
        return await billing.invoice_payment_failed(session, obj)
    if event_type == "checkout.session.completed":
        return await billing.checkout_completed(session, obj)
    return await billing.subscription_changed(session, obj, created)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _checkout_completed(session: AsyncSession, obj: dict[str, Any]) -> str:
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return "awaiting_payment"  # async payment methods: completion comes with async_payment_succeeded
    metadata = obj.get("metadata") or {}
    organization_id = _uuid(metadata.get("organization_id"))
    if organization_id is None:
        return "not_ours"
    await _scope_to(session, organization_id)
    payment_intent = _payment_intent(obj)
    conn = await driver_connection(session)
    checkout = await repository.checkout_to_complete(conn, organization_id, str(obj.get("id")), payment_intent)
    if checkout is None or str(checkout["content_id"]) != metadata.get("content_id") \
            or str(checkout["user_id"]) != metadata.get("user_id"):
        log.warning("checkout event does not match a checkout we started", extra={"session": obj.get("id")})
        return "unmatched"
    refunded_first = checkout["refunded_first"]
    amount = int(obj.get("amount_total") or 0)
    tax = int((obj.get("total_details") or {}).get("amount_tax") or 0)
    # The sale's division (earnings/split.py) under the item's terms now; the purchase keeps the creators' total
    # and the ledger one row per party, written with it (none for a payment refunded before it completed).
    shares, parts = ledger.sale_division(checkout, amount - tax)
    values = {
        "id": uuid.uuid4(), "organization_id": organization_id, "user_id": checkout["user_id"],
        "content_id": checkout["content_id"], "creator_id": checkout["creator_id"], "content_title": checkout["title"],
        "kind": PurchaseKind.PAID.value,
        "status": (PurchaseStatus.REFUNDED if refunded_first else PurchaseStatus.COMPLETED).value,
        "amount_cents": amount, "tax_cents": tax,
        "currency": str(obj.get("currency") or checkout["currency"]).upper(),
        "creator_share_cents": ledger.creators_total(parts),
        "provider": checkout["provider"], "provider_session_id": checkout["provider_session_id"],
        "payment_intent_id": payment_intent, "customer_email": (obj.get("customer_details") or {}).get("email"),
        "refunded_at": utcnow() if refunded_first else None,
        "refund_reason": "refunded before completion was received" if refunded_first else None,
    }
    purchase_id = await repository.complete_checkout(
        conn, checkout["id"], values, grant=not refunded_first,
        earnings=ledger.sale_rows({} if refunded_first else parts, shares))
    if purchase_id is None:
        return "duplicate"
    if refunded_first:
        if checkout["booking_id"] is not None:
            await offering_bookings.checkout_ended(session, organization_id, checkout["booking_id"])
        return "completed_after_refund"
    service.announce(session, service.PurchaseRef(purchase_id, organization_id, checkout["user_id"], checkout["content_id"],
                                          PurchaseStatus.COMPLETED), service.COMPLETED_EVENT, "confirmation")
    if checkout["booking_id"] is not None:  # a paid booking (offerings/paid.py): confirmed in this transaction
        return await offering_bookings.paid_for(session, organization_id, checkout["booking_id"], purchase_id)
    return "purchase_created"


async def _checkout_failed(session: AsyncSession, obj: dict[str, Any], *, expired: bool = False) -> str:
    """An asynchronous payment failed, or the checkout lapsed unpaid (``checkout.session.expired``): the checkout
    FAILED or EXPIRED, and the seat of the booking it paid for given back."""
    organization_id = _uuid((obj.get("metadata") or {}).get("organization_id"))
    if organization_id is None:
        return "not_ours"
    await _scope_to(session, organization_id)
    checkout = await repository.checkout_by_provider_id(session, organization_id, str(obj.get("id")))
    if checkout is None:
        return "unmatched"
    if checkout.status is CheckoutStatus.OPEN:
        checkout.status = CheckoutStatus.EXPIRED if expired else CheckoutStatus.FAILED
        checkout.failure_reason = None if expired else "The payment failed."
    if checkout.booking_id is not None:
        await offering_bookings.checkout_ended(session, organization_id, checkout.booking_id)
    return "checkout_expired" if expired else "checkout_failed"


async def _purchase_for_payment(session: AsyncSession, payment_intent: str | None) -> Purchase | None:
    if not payment_intent:
        return None
    paid = await repository.checkout_event_for_payment(session, payment_intent)
    organization_id = _uuid(((paid.payload["data"]["object"].get("metadata") or {}) if paid else {}).get("organization_id"))
    if organization_id is None:
        return None
    await _scope_to(session, organization_id)
    return await repository.purchase_by_payment_intent(session, organization_id, payment_intent)


async def _charge_refunded(session: AsyncSession, obj: dict[str, Any]) -> str:
    purchase = await _purchase_for_payment(session, obj.get("payment_intent"))
    if purchase is None:
        # A full refund before the completion arrived: the completion handler sees this event and ends REFUNDED.
        return "refund_before_purchase" if obj.get("refunded") else "partial_refund_before_purchase"
    _remember_charge(purchase, obj)
    return await refunds.charge_refunded(session, purchase, obj)


def _remember_charge(purchase: Purchase, charge: dict[str, Any]) -> None:
    if isinstance(charge.get("id"), str) and purchase.charge_id is None:
        purchase.charge_id = charge["id"]
    if isinstance(charge.get("receipt_url"), str) and purchase.receipt_url is None:
        purchase.receipt_url = charge["receipt_url"]


async def _refund_updated(session: AsyncSession, obj: dict[str, Any]) -> str:
    purchase = await _purchase_for_payment(session, obj.get("payment_intent"))
    if purchase is None:
        return "refund_unmatched"
    return await refunds.refund_updated(session, purchase, obj)


async def _dispute(session: AsyncSession, obj: dict[str, Any], closed: bool) -> str:
    purchase = await _purchase_for_payment(session, obj.get("payment_intent"))
    if purchase is None:
        return "dispute_unmatched"
    if closed:
        return await refunds.dispute_closed(session, purchase, obj)
    return await refunds.dispute_created(session, purchase, obj)
