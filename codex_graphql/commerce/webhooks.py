"""Payment webhooks: verify, store once in the inbox (commit), then handle.

Handling is idempotent and serialized per event by a row lock on the inbox row; the inbox row and
a retry job commit together, so an event whose inline handling fails is handled again by a worker.
Purchases are unique per provider checkout session, so concurrent deliveries create exactly one.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.commerce import repository, service
from codex_graphql.commerce.models import CheckoutStatus, Purchase, PurchaseKind, PurchaseStatus
from codex_graphql.content import repository as contents
from codex_graphql.content.models import EntitlementSource
from codex_graphql.db import Database, TenantScope, rescope, utcnow
from codex_graphql.payments import PaymentProvider

log = logging.getLogger(__name__)

HANDLE_ACTOR = "handle_payment_event"
COMPLETED_TYPES = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


async def receive(db: Database, provider: PaymentProvider, payload: bytes, signature: str | None) -> str:
    """Verify (raises WebhookError) and store; returns the event id. The caller answers 2xx after this."""
    event = provider.verify_webhook(payload, signature)
    async with db.transaction() as session:
        if await repository.store_event(session, event["id"], event["type"], event):
            events.enqueue(session, HANDLE_ACTOR, event_id=event["id"])
    return event["id"]


async def handle(db: Database, event_id: str) -> str:
    """Handle one stored event; safe to run any number of times, concurrently."""
    async with db.transaction() as session:
        stored = await repository.lock_event(session, event_id)
        if stored is None:
            return "unknown"
        if stored.processed_at is not None:
            return stored.outcome or "done"
        outcome = await _dispatch(session, stored.type, stored.payload["data"]["object"])
        stored.processed_at = utcnow()
        stored.outcome = outcome
        return outcome


async def _dispatch(session: AsyncSession, event_type: str, obj: dict[str, Any]) -> str:
    if event_type in COMPLETED_TYPES:
        return await _checkout_completed(session, obj)
    if event_type == "checkout.session.async_payment_failed":
        return await _checkout_failed(session, obj)
    if event_type == "charge.refunded":
        return await _charge_refunded(session, obj)
    if event_type == "charge.dispute.created":
        return await _dispute_created(session, obj)
    return "ignored"


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
    await rescope(session, TenantScope(organization_id=organization_id))
    checkout = await repository.checkout_by_provider_id(session, organization_id, str(obj.get("id")))
    if checkout is None or str(checkout.content_id) != metadata.get("content_id") \
            or str(checkout.user_id) != metadata.get("user_id"):
        log.warning("checkout event does not match a checkout we started", extra={"session": obj.get("id")})
        return "unmatched"
    content = await contents.including_deleted(session, organization_id, checkout.content_id)
    amount = int(obj.get("amount_total") or 0)
    tax = int((obj.get("total_details") or {}).get("amount_tax") or 0)
    payment_intent = obj.get("payment_intent")
    refunded_first = await repository.refund_event_for_payment(session, payment_intent) if payment_intent else None
    purchase_id = await repository.insert_purchase(session, {
        "id": uuid.uuid4(), "organization_id": organization_id, "user_id": checkout.user_id,
        "content_id": checkout.content_id, "creator_id": content.creator_id, "content_title": content.title,
        "kind": PurchaseKind.PAID,
        "status": PurchaseStatus.REFUNDED if refunded_first else PurchaseStatus.COMPLETED,
        "amount_cents": amount, "tax_cents": tax, "currency": str(obj.get("currency") or checkout.currency).upper(),
        "creator_share_cents": min(amount, await service.creator_share(session, organization_id, amount - tax)),
        "provider": checkout.provider, "provider_session_id": checkout.provider_session_id,
        "payment_intent_id": payment_intent, "customer_email": (obj.get("customer_details") or {}).get("email"),
        "refunded_at": utcnow() if refunded_first else None,
        "refund_reason": "refunded before completion was received" if refunded_first else None,
    })
    checkout.status = CheckoutStatus.COMPLETED
    if purchase_id is None:
        return "duplicate"
    purchase = await repository.purchase_for_update(session, organization_id, purchase_id)
    assert purchase is not None
    if refunded_first:
        return "completed_after_refund"
    await repository.grant_entitlement(session, organization_id, purchase.user_id, purchase.content_id,
                                       EntitlementSource.PURCHASE, purchase.id)
    service.announce(session, purchase, service.COMPLETED_EVENT, "confirmation")
    return "purchase_created"


async def _checkout_failed(session: AsyncSession, obj: dict[str, Any]) -> str:
    organization_id = _uuid((obj.get("metadata") or {}).get("organization_id"))
    if organization_id is None:
        return "not_ours"
    await rescope(session, TenantScope(organization_id=organization_id))
    checkout = await repository.checkout_by_provider_id(session, organization_id, str(obj.get("id")))
    if checkout is None:
        return "unmatched"
    if checkout.status is CheckoutStatus.OPEN:
        checkout.status = CheckoutStatus.FAILED
        checkout.failure_reason = "The payment failed."
    return "checkout_failed"


async def _purchase_for_payment(session: AsyncSession, payment_intent: str | None) -> Purchase | None:
    if not payment_intent:
        return None
    paid = await repository.checkout_event_for_payment(session, payment_intent)
    organization_id = _uuid(((paid.payload["data"]["object"].get("metadata") or {}) if paid else {}).get("organization_id"))
    if organization_id is None:
        return None
    await rescope(session, TenantScope(organization_id=organization_id))
    return await repository.purchase_by_payment_intent(session, organization_id, payment_intent)


async def _charge_refunded(session: AsyncSession, obj: dict[str, Any]) -> str:
    if not obj.get("refunded"):
        return "partial_refund_recorded"
    purchase = await _purchase_for_payment(session, obj.get("payment_intent"))
    if purchase is None:
        return "refund_before_purchase"  # the completion handler sees this event and ends REFUNDED
    _remember_charge(purchase, obj)
    if purchase.status is PurchaseStatus.REFUNDED:
        return "already_refunded"
    await service.mark_refunded(session, purchase, purchase.refund_reason or "refunded at the payment provider")
    service.announce(session, purchase, service.REFUNDED_EVENT, "refund")
    return "purchase_refunded"


def _remember_charge(purchase: Purchase, charge: dict[str, Any]) -> None:
    if isinstance(charge.get("id"), str) and purchase.charge_id is None:
        purchase.charge_id = charge["id"]
    if isinstance(charge.get("receipt_url"), str) and purchase.receipt_url is None:
        purchase.receipt_url = charge["receipt_url"]


async def _dispute_created(session: AsyncSession, obj: dict[str, Any]) -> str:
    purchase = await _purchase_for_payment(session, obj.get("payment_intent"))
    if purchase is None:
        return "dispute_unmatched"
    if purchase.disputed_at is None:
        purchase.disputed_at = utcnow()
        service.announce(session, purchase, service.DISPUTED_EVENT, None)
    return "purchase_flagged"
