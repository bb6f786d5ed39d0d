"""Paid bookings (docs/offerings.md, "Paying by card"): a priced offering is sold through the purchase path.

The offering's offer item (``Offering.offer_content_id``, a content item of kind OFFERING made when the offering
first gets a price, kept in step with its title and price, never listed and never PUBLISHED so ``startCheckout``
cannot sell it on its own) is what the purchase is of: receipts, refunds, disputes, the earnings ledger and the
revenue figures then work as for any item.

A booking paid by card takes its seat at once as PAYMENT_PENDING, held until ``hold_expires_at``
(``PAYMENT_HOLD``), and commits; the checkout is then created at the provider with no transaction open (its id
and idempotency key follow from the booking's, so a retry gets the same one) and recorded with the booking's id.
- ``checkout.session.completed`` (the purchase is created by commerce/webhooks.py in the inbox's transaction)
  confirms the booking here, in the same transaction: exactly once, whatever the delivery order.
- A payment that arrives after the seat was let go (the hold lapsed or the person cancelled) takes a seat again
  when one is free and the session is still to come; otherwise the purchase is refunded in full by a job.
- ``checkout.session.expired`` or a failed payment, the hold-expiry job or a cancellation release the seat; the
  last two also expire the provider's checkout (a job, after commit) so it can no longer be paid.
- A cancellation refunds the purchase in full when the cancellation policy says so (a job: the refund path of
  commerce/refunds.py with a key derived from the booking, so a job run twice refunds once).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.accounts import repository as accounts
from codex_graphql.authz import Viewer
from codex_graphql.commerce import refunds
from codex_graphql.commerce import repository as commerce
from codex_graphql.commerce.models import CheckoutStatus
from codex_graphql.commerce.service import PlannedCheckout
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings import booking_repository as repository
from codex_graphql.offerings import repository as offerings
from codex_graphql.offerings.models import Booking, BookingPayment, BookingStatus, Offering
from codex_graphql.payments import CheckoutRequest, PaymentProvider
from codex_graphql.settings import Settings
from codex_graphql.subscriptions import repository as subscriptions

PAYMENT_HOLD = timedelta(minutes=30)
# After a seat held for a card payment lapsed unpaid, the same person waits this long before holding one of that
# session again: one account cannot keep a seat (a service's only slot) blocked by booking and abandoning.
RETRY_PAUSE = timedelta(minutes=10)
REFUND_ACTOR = "booking_refund"
EXPIRE_CHECKOUT_ACTOR = "booking_checkout_expire"
OFFER_MIME = "application/vnd.codex.offering"


def by_card(offering: Offering, pay_with: BookingPayment) -> bool:
    return pay_with is BookingPayment.PURCHASE and offering.price_cents > 0


async def check_retry_pause(session: AsyncSession, organization_id: uuid.UUID, session_id: uuid.UUID,
                            user_id: uuid.UUID, now: datetime) -> None:
    lapsed = await repository.lapsed_card_booking(session, organization_id, session_id, user_id, now - RETRY_PAUSE)
    if lapsed is not None:
        minutes = max(1, int((lapsed + RETRY_PAUSE - now).total_seconds() // 60) + 1)
        raise DomainError(ErrorCode.INVALID_STATE, f"Your last seat held for this session lapsed unpaid; book it by "
                          f"card again in {minutes} minutes.", "sessionId")


def hold_until(now: datetime, starts_at: datetime) -> datetime:
    return min(now + PAYMENT_HOLD, starts_at)


async def sync_offer(session: AsyncSession, offering: Offering) -> None:
    """Keep the offering's offer item in step: made when the offering first has a price, then its title,
    description, price and currency follow the offering's (a purchase keeps the title and amount it was made
    with). It stays READY: never listed, never sold by ``startCheckout``."""
    offer = await offerings.offer_for_update(session, offering)
    if offer is None:
        if offering.price_cents == 0:
            return
        offer = Content(
            id=uuid.uuid4(), organization_id=offering.organization_id, creator_id=offering.created_by,
            kind=ContentKind.OFFERING, status=ContentStatus.READY, title=offering.title,
            description=offering.description, price_cents=offering.price_cents, currency=offering.currency, tags=[],
            storage_key="", mime_type=OFFER_MIME, original_filename="", size_bytes=0, listed=False,
            allow_downloads=False, reviews_enabled=False)
        await offerings.add_offer(session, offer)
        offering.offer_content_id = offer.id
    offer.title, offer.description = offering.title, offering.description
    offer.price_cents, offer.currency = offering.price_cents, offering.currency
    await session.flush()


def checkout_id_for(booking_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"codex:booking-checkout:{booking_id}")


async def plan_checkout(session: AsyncSession, settings: Settings, booking: Booking, success_url: str,
                        cancel_url: str) -> PlannedCheckout | None:
    """The checkout a PAYMENT_PENDING booking needs, or None when it has one already (recorded by the first
    attempt) or no longer waits for a payment."""
    if booking.status is not BookingStatus.PAYMENT_PENDING:
        return None
    if await commerce.checkout_for_booking(session, booking.organization_id, booking.id) is not None:
        return None
    offering = await offerings.by_id(session, booking.offering_id)
    user = await accounts.user_by_id(session, booking.user_id)
    assert offering is not None and user is not None
    if offering.offer_content_id is None:  # made with the offering's price; a crash cannot leave it out
        raise DomainError(ErrorCode.INVALID_STATE, "This offering cannot be paid by card right now.", "payWith")
    checkout_id = checkout_id_for(booking.id)
    metadata = {"organization_id": str(offering.organization_id), "content_id": str(offering.offer_content_id),
                "user_id": str(user.id), "checkout_id": str(checkout_id), "booking_id": str(booking.id)}
    request = CheckoutRequest(
        reference_id=str(checkout_id), title=offering.title, amount_cents=offering.price_cents,
        currency=offering.currency, customer_email=user.email, success_url=success_url, cancel_url=cancel_url,
        metadata=metadata, idempotency_key=f"booking-checkout:{booking.id}", automatic_tax=settings.stripe_tax_enabled)
    return PlannedCheckout(request, checkout_id, offering.organization_id, user.id, offering.offer_content_id,
                           booking.id)


async def checkout_url(session: AsyncSession, booking: Booking) -> str | None:
    """Where the person pays for a PAYMENT_PENDING booking."""
    if booking.status is not BookingStatus.PAYMENT_PENDING:
        return None
    checkout = await commerce.checkout_for_booking(session, booking.organization_id, booking.id)
    return checkout.checkout_url if checkout is not None and checkout.status is CheckoutStatus.OPEN else None


def close_checkout(session: AsyncSession, booking: Booking) -> None:
    """A PAYMENT_PENDING booking let go: its checkout is expired at the provider after commit."""
    events.enqueue(session, EXPIRE_CHECKOUT_ACTOR, booking.organization_id, booking_id=str(booking.id),
                   booking_organization_id=str(booking.organization_id))


def refund_later(session: AsyncSession, booking: Booking, reason: str) -> None:
    events.enqueue(session, REFUND_ACTOR, booking.organization_id, booking_id=str(booking.id),
                   booking_organization_id=str(booking.organization_id), reason=reason)


async def includes_offerings(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return await subscriptions.includes_offerings(session, organization_id, user_id, utcnow())


# -- jobs ------------------------------------------------------------------------------------------------------

async def refund(db: Database, provider: PaymentProvider, organization_id: uuid.UUID, booking_id: uuid.UUID,
                 reason: str) -> str:
    """Refund a booking's purchase in full (the cancellation policy or a late payment said so). The refund's key
    follows from the booking: a second run finds the first one's refund and never refunds twice."""
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        booking = await repository.for_update_in(session, organization_id, booking_id)
        purchase_id = booking.purchase_id if booking is not None else None
    if purchase_id is None:
        return "no_purchase"
    try:
        await refunds.refund_purchase(db, provider, Viewer(active_organization_id=organization_id),
                                      audit.AuditContext(actor_service="offerings"), purchase_id, None,
                                      reason[:1000], f"booking:{booking_id}", scope=scope)
    except DomainError as exc:
        if exc.code is ErrorCode.INVALID_STATE:  # refunded already (by staff, or by an earlier run)
            return "refunded_already"
        raise
    return "refunded"


async def expire_checkout(db: Database, provider: PaymentProvider, organization_id: uuid.UUID,
                          booking_id: uuid.UUID) -> str:
    """Expire the provider's checkout of a booking that no longer waits for its payment (the network call with
    no transaction open); a checkout paid meanwhile is left to its completion (which refunds or re-seats)."""
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        booking = await repository.for_update_in(session, organization_id, booking_id)
        if booking is None or booking.status is BookingStatus.PAYMENT_PENDING:
            return "still_pending"
        checkout = await commerce.checkout_for_booking(session, organization_id, booking_id)
        if checkout is None or checkout.status is not CheckoutStatus.OPEN:
            return "not_open"
        provider_session_id = checkout.provider_session_id
    expired = await provider.expire_checkout(provider_session_id)
    async with db.transaction(scope) as session:
        checkout = await commerce.checkout_by_provider_id(session, organization_id, provider_session_id)
        if expired and checkout is not None and checkout.status is CheckoutStatus.OPEN:
            checkout.status = CheckoutStatus.EXPIRED
    return "expired" if expired else "not_open"
