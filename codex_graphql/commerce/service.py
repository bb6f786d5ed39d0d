"""Commerce rules: checkout, free claims, grants (refunds and disputes: ``refunds``).

Money is never taken from the client: prices come from the database when a checkout starts and
amounts from the payment provider when it completes (see ``webhooks``).
"""

from __future__ import annotations

import uuid
from typing import NamedTuple
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.accounts import repository as accounts
from codex_graphql.authz import Viewer
from codex_graphql.commerce import repository
from codex_graphql.commerce.models import CheckoutSession, Purchase, PurchaseKind, PurchaseStatus
from codex_graphql.content import repository as contents
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content, ContentKind, ContentStatus, EntitlementSource
from codex_graphql.db import acting_in, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payments import CheckoutCreated, CheckoutRequest, PaymentProvider
from codex_graphql.settings import Settings

PURCHASE_EMAIL_ACTOR = "send_purchase_email"
COMPLETED_EVENT = "purchase.completed"
REFUNDED_EVENT = "purchase.refunded"
DISPUTED_EVENT = "purchase.disputed"
MAX_NOTE = 1000


def _check_redirect(url: str, settings: Settings, field: str) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise DomainError(ErrorCode.INVALID_INPUT, "Use an absolute http(s) URL.", field) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DomainError(ErrorCode.INVALID_INPUT, "Use an absolute http(s) URL.", field)
    if parts.scheme == "http" and settings.is_production:
        raise DomainError(ErrorCode.INVALID_INPUT, "Use an https URL.", field)
    if f"{parts.scheme}://{parts.netloc}" not in settings.redirect_origins:
        raise DomainError(ErrorCode.INVALID_INPUT, "This URL's origin is not allowed for redirects.", field)
    return url.strip()


check_redirect = _check_redirect  # for the other checkouts (subscriptions.customer)


async def _purchasable(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None) -> Content:
    content = await contents.by_id(session, content_id) if content_id else None
    if content is None or content.status is not ContentStatus.PUBLISHED or content.kind is ContentKind.OFFERING:
        # an offering's seat is sold only with its booking (bookOffering)
        raise DomainError(ErrorCode.NOT_FOUND, "No published content has this id.", "contentId")
    entitled = bool(await contents.entitled_content_ids(session, viewer.user_id, [content.id])) if viewer.user_id else False
    if entitled or content_service.is_staff_reader(viewer, content):
        raise DomainError(ErrorCode.ALREADY_OWNED, "You already have access to this content.", "contentId")
    return content


class PlannedCheckout(NamedTuple):
    """A checkout checked and priced in the request's transaction, to be created at the provider with no
    transaction open (``create_at_provider``) and recorded in a second one (``record_checkout``)."""

    request: CheckoutRequest
    checkout_id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    content_id: uuid.UUID
    booking_id: uuid.UUID | None = None  # a paid booking's checkout (offerings/paid.py)


def checkout_id_for(user_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The checkout's id follows from the caller's key: a retry after a crash between the provider call and
    the record sends the provider the same parameters with the same key, and gets the same session back."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"codex:checkout:{user_id}:{idempotency_key.strip()}")


async def plan_checkout(session: AsyncSession, settings: Settings, viewer: Viewer, content_id: uuid.UUID | None,
                        success_url: str, cancel_url: str, idempotency_key: str) -> PlannedCheckout:
    assert viewer.user_id is not None
    success_url = _check_redirect(success_url, settings, "successUrl")
    cancel_url = _check_redirect(cancel_url, settings, "cancelUrl")
    content = await _purchasable(session, viewer, content_id)
    if content.price_cents == 0:
        raise DomainError(ErrorCode.INVALID_STATE, "This content is free: use claimFreeContent.", "contentId")
    user = await accounts.user_by_id(session, viewer.user_id)
    assert user is not None
    checkout_id = checkout_id_for(user.id, idempotency_key)
    metadata = {"organization_id": str(content.organization_id), "content_id": str(content.id),
                "user_id": str(user.id), "checkout_id": str(checkout_id)}
    request = CheckoutRequest(
        reference_id=str(checkout_id), title=content.title, amount_cents=content.price_cents,
        currency=content.currency, customer_email=user.email, success_url=success_url, cancel_url=cancel_url,
        metadata=metadata, idempotency_key=f"checkout:{user.id}:{idempotency_key.strip()}",
        automatic_tax=settings.stripe_tax_enabled,
    )
    return PlannedCheckout(request, checkout_id, content.organization_id, user.id, content.id)


async def create_at_provider(provider: PaymentProvider, planned: PlannedCheckout) -> CheckoutCreated:
    """The network call, made with no transaction open. A session created here whose record never commits
    (a crash) is harmless: its URL reached nobody, a retry with the same key gets it back and records it,
    and the provider expires it unpaid."""
    try:
        return await provider.create_checkout(planned.request)
    except Exception as exc:
        raise DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR, "The payment provider could not start the checkout; try again.") from exc


async def record_checkout(session: AsyncSession, provider: PaymentProvider, planned: PlannedCheckout,
                          created: CheckoutCreated) -> CheckoutSession:
    async with acting_in(session, planned.organization_id):
        existing = await repository.checkout_by_id(session, planned.checkout_id)
        if existing is not None:  # recorded by an earlier attempt with this key
            return existing
        request = planned.request
        checkout = CheckoutSession(
            id=planned.checkout_id, organization_id=planned.organization_id, user_id=planned.user_id,
            content_id=planned.content_id, provider=provider.name, provider_session_id=created.session_id,
            checkout_url=created.url, amount_cents=request.amount_cents, currency=request.currency,
            success_url=request.success_url, cancel_url=request.cancel_url, booking_id=planned.booking_id,
        )
        session.add(checkout)
        await session.flush()
    return checkout


async def start_checkout(session: AsyncSession, provider: PaymentProvider, settings: Settings, viewer: Viewer,
                         content_id: uuid.UUID | None, success_url: str, cancel_url: str,
                         idempotency_key: str) -> CheckoutSession:
    """The three steps in one transaction, for scripts and tests that own no request (the API commits
    between them: ``commerce/mutations.py``)."""
    planned = await plan_checkout(session, settings, viewer, content_id, success_url, cancel_url, idempotency_key)
    return await record_checkout(session, provider, planned, await create_at_provider(provider, planned))


class PurchaseRef(NamedTuple):
    """What announcing a purchase needs, for code that wrote the row without loading it."""

    id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    content_id: uuid.UUID
    status: PurchaseStatus


def announce(session: AsyncSession, purchase: Purchase | PurchaseRef, event_type: str, email_kind: str | None) -> None:
    events.emit(session, event_type, {"purchaseId": str(purchase.id), "contentId": str(purchase.content_id),
                                      "userId": str(purchase.user_id), "status": purchase.status.value},
                purchase.organization_id)
    if email_kind:
        events.enqueue(session, PURCHASE_EMAIL_ACTOR, purchase.organization_id, kind=email_kind,
                       purchase_id=str(purchase.id), purchase_organization_id=str(purchase.organization_id))


async def claim_free(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None) -> Purchase:
    """Instant access to free content; claiming again returns the same purchase."""
    assert viewer.user_id is not None
    content = await contents.by_id(session, content_id) if content_id else None
    if content is None or content.status is not ContentStatus.PUBLISHED or content.kind is ContentKind.OFFERING:
        # an offering's seat is sold only with its booking (bookOffering)
        raise DomainError(ErrorCode.NOT_FOUND, "No published content has this id.", "contentId")
    if content.price_cents != 0:
        raise DomainError(ErrorCode.INVALID_STATE, "This content is not free: use startCheckout.", "contentId")
    async with acting_in(session, content.organization_id):
        await repository.lock_access(session, viewer.user_id, content.id)
        existing = await repository.active_purchase(session, content.organization_id, viewer.user_id, content.id)
        if existing is not None:
            return existing
        purchase = Purchase(
            organization_id=content.organization_id, user_id=viewer.user_id, content_id=content.id,
            creator_id=content.creator_id, content_title=content.title, kind=PurchaseKind.FREE, status=PurchaseStatus.COMPLETED,
            amount_cents=0, currency=content.currency,
        )
        session.add(purchase)
        await session.flush()
        await repository.grant_entitlement(session, content.organization_id, viewer.user_id, content.id,
                                           EntitlementSource.FREE, purchase.id)
        announce(session, purchase, COMPLETED_EVENT, None)
    return purchase


async def grant(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None, user_id: uuid.UUID | None,
                note: str, user_field: str = "userId") -> Purchase:
    """Access for a known account at once (``grants.grant_by_email`` calls this for verified addresses)."""
    organization_id = viewer.active_organization_id
    assert organization_id is not None
    content = await contents.for_update(session, organization_id, content_id) if content_id else None
    if content is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No content has this id in your organization.", "contentId")
    user = await accounts.user_by_id(session, user_id) if user_id else None
    if user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No user has this id.", "userId")
    if len(note) > MAX_NOTE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Notes are at most {MAX_NOTE} characters.", "note")
    if await contents.entitled_content_ids(session, user.id, [content.id]):
        raise DomainError(ErrorCode.ALREADY_OWNED, "This person already has access.", user_field)
    purchase = Purchase(
        organization_id=organization_id, user_id=user.id, content_id=content.id, creator_id=content.creator_id,
        content_title=content.title, kind=PurchaseKind.GRANT, status=PurchaseStatus.COMPLETED, amount_cents=0, currency=content.currency,
        granted_by_id=viewer.user_id, note=note.strip() or None,
    )
    session.add(purchase)
    await session.flush()
    await repository.grant_entitlement(session, organization_id, user.id, content.id, EntitlementSource.GRANT, purchase.id)
    announce(session, purchase, COMPLETED_EVENT, None)
    await audit.record(session, audit.AuditAction.ACCESS_GRANTED, organization_id=organization_id, target_type="Purchase",
                       target_id=purchase.id, after={"status": purchase.status.value, "userId": str(user.id),
                                                     "contentId": str(content.id), "note": purchase.note})
    return purchase


async def revoke_grant(session: AsyncSession, viewer: Viewer, purchase_id: uuid.UUID | None) -> Purchase:
    purchase = await _staff_purchase(session, viewer, purchase_id)
    if purchase.kind is not PurchaseKind.GRANT:
        raise DomainError(ErrorCode.INVALID_STATE, "Only granted access can be revoked; refund paid purchases.", "purchaseId")
    if purchase.status is PurchaseStatus.REFUNDED:
        raise DomainError(ErrorCode.INVALID_STATE, "This access was already revoked.", "purchaseId")
    before = purchase.status.value
    await mark_refunded(session, purchase, "revoked by staff")
    announce(session, purchase, REFUNDED_EVENT, None)
    await audit.record(session, audit.AuditAction.ACCESS_REVOKED, organization_id=purchase.organization_id,
                       target_type="Purchase", target_id=purchase.id, before={"status": before},
                       after={"status": purchase.status.value})
    return purchase


async def _staff_purchase(session: AsyncSession, viewer: Viewer, purchase_id: uuid.UUID | None) -> Purchase:
    organization_id = viewer.active_organization_id
    purchase = (await repository.purchase_for_update(session, organization_id, purchase_id)
                if purchase_id and organization_id else None)
    if purchase is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No purchase has this id in your organization.", "purchaseId")
    return purchase


ENTITLEMENT_SOURCES = {PurchaseKind.PAID: EntitlementSource.PURCHASE, PurchaseKind.FREE: EntitlementSource.FREE,
                       PurchaseKind.GRANT: EntitlementSource.GRANT}


async def mark_refunded(session: AsyncSession, purchase: Purchase, reason: str | None) -> None:
    """End this purchase's access. When another completed purchase of the same item remains (a second
    checkout paid before the first completed, a grant next to a payment), access moves to it."""
    now = utcnow()
    purchase.status = PurchaseStatus.REFUNDED
    purchase.refunded_at = now
    purchase.refund_reason = reason
    await session.flush()
    await repository.revoke_entitlement(session, purchase.organization_id, purchase.id, now)
    remaining = await repository.active_purchase(session, purchase.organization_id, purchase.user_id, purchase.content_id)
    if remaining is not None:
        await repository.grant_entitlement(session, purchase.organization_id, purchase.user_id, purchase.content_id,
                                           ENTITLEMENT_SOURCES[remaining.kind], remaining.id)
    # A paid booking's seat goes with its purchase (a dashboard refund, a lost dispute): the booking is cancelled,
    # refunding nothing more. Imported here: offerings' booking payments import this module.
    from codex_graphql.offerings import bookings as offering_bookings

    await offering_bookings.purchase_ended(session, purchase.organization_id, purchase.id)
