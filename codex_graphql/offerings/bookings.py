"""Bookings (docs/offerings.md, "Bookings"): book a seat, wait for one, cancel, promote the waitlist.

Capacity is exact under any concurrency: a booking locks its session rows (in id order; a cohort locks all of
its sessions), takes a seat in each only when every one has a seat left, and the ``seats_taken <= capacity``
check constraint is the last guard. A full session puts the person on its waitlist instead (paying nothing yet).
A cancellation gives its seats back and promotes the first person waiting: their booking becomes HELD, a seat
kept for them until ``hold_expires_at`` (``HOLD``, never past the session's start), and they are emailed;
booking again within the hold confirms it (and pays). The hold-expiry job ends holds nobody took and promotes
the next person.

Payment (``BookingPayment``): CREDITS spends ``Offering.creditPrice`` in the booking's transaction (the credits
ledger, keyed by the booking, so a replay never spends twice) and a cancellation before the offering's deadline
(``cancellation_hours`` before the session) or by staff gives them back; PURCHASE books a free offering at once
and a priced one through the provider's checkout (``paid.py``: PAYMENT_PENDING until paid, refunded by a job on
a cancellation the policy refunds); SUBSCRIPTION needs a live subscription of the organization to a tier with
offering access (checked in the booking's transaction; nothing to refund). An ``idempotencyKey`` makes a retried
booking return the first answer.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.authz import Permission, Viewer
from codex_graphql.conferencing import hooks as conferencing_hooks
from codex_graphql.credits import service as credits
from codex_graphql.db import acting_in, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings import availability_repository, availability_service, paid
from codex_graphql.offerings import booking_repository as repository
from codex_graphql.offerings import repository as offerings
from codex_graphql.offerings.models import (
    Booking,
    BookingPayment,
    BookingStatus,
    Offering,
    OfferingSession,
    OfferingStatus,
    OfferingType,
)

HOLD = timedelta(hours=12)
CONFIRMED_EVENT = "booking.confirmed"
CANCELLED_EVENT = "booking.cancelled"
WAITLISTED_EVENT = "booking.waitlisted"
HELD_EVENT = "booking.held"
MAIL_ACTOR = "booking_mail"


def _not_found(field: str = "offeringId") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No bookable offering has this id.", field)


async def _bookable(session: AsyncSession, offering_id: uuid.UUID | None) -> Offering:
    offering = await offerings.by_id(session, offering_id) if offering_id else None
    if offering is None or offering.status is OfferingStatus.DRAFT:
        raise _not_found()
    if offering.status is OfferingStatus.CANCELLED:
        raise DomainError(ErrorCode.INVALID_STATE, "This offering was cancelled.", "offeringId")
    return offering


def _check_payment(offering: Offering, pay_with: BookingPayment, card_return: bool) -> None:
    if pay_with is BookingPayment.CREDITS and offering.credit_price is None:
        raise DomainError(ErrorCode.INVALID_STATE, "This offering is not sold for credits.", "payWith")
    if paid.by_card(offering, pay_with) and not card_return:
        raise DomainError(ErrorCode.INVALID_INPUT, "Paying by card needs successUrl and cancelUrl.", "successUrl")
    if paid.by_card(offering, pay_with) and offering.offer_content_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "This offering cannot be paid by card right now.", "payWith")


async def _check_subscription(session: AsyncSession, offering: Offering, user_id: uuid.UUID,
                              pay_with: BookingPayment) -> None:
    """SUBSCRIPTION: a live subscription of the organization to a tier with offering access (in its scope)."""
    if pay_with is BookingPayment.SUBSCRIPTION and not await paid.includes_offerings(
            session, offering.organization_id, user_id):
        raise DomainError(ErrorCode.INVALID_STATE, "Your subscriptions here do not include offerings.", "payWith")


async def _target(session: AsyncSession, offering: Offering, session_id: uuid.UUID | None,
                  slot_start: datetime | None) -> OfferingSession:
    """The session booked: the one named (event, program), the cohort's first, or a service's slot (made into a
    session of its own the first time it is booked)."""
    now = utcnow()
    if offering.type is OfferingType.SERVICE:
        if slot_start is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "Choose a slot (slotStart) of the service.", "slotStart")
        return await _service_slot(session, offering, slot_start, now)
    if offering.type is OfferingType.COHORT:
        found = await offerings.sessions_of(session, [offering.id])
        upcoming = [s for s in found.get(offering.id, []) if s.cancelled_at is None]
        if not upcoming or upcoming[0].starts_at <= now:
            raise DomainError(ErrorCode.INVALID_STATE, "This cohort has started; it cannot be booked any more.",
                              "offeringId")
        return upcoming[0]
    found = await offerings.sessions_of(session, [offering.id])
    chosen = next((s for s in found.get(offering.id, []) if s.id == session_id), None) if session_id else None
    if chosen is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No session of this offering has this id.", "sessionId")
    if chosen.cancelled_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "This session was cancelled.", "sessionId")
    if chosen.starts_at <= now:
        raise DomainError(ErrorCode.INVALID_STATE, "This session has started or is over.", "sessionId")
    return chosen


async def _service_slot(session: AsyncSession, offering: Offering, slot_start: datetime, now: datetime) -> OfferingSession:
    rules = await availability_repository.get(session, offering.organization_id, offering.id)
    if rules is None:
        raise DomainError(ErrorCode.INVALID_STATE, "This service has no availability.", "offeringId")
    existing = await offerings.session_at(session, offering.id, slot_start)
    if existing is not None and existing.cancelled_at is None:
        if existing.starts_at <= now + timedelta(minutes=rules.notice_minutes):
            raise DomainError(ErrorCode.INVALID_INPUT, "This slot is too soon to book.", "slotStart")
        return existing  # booked before: its seat may be taken (then the booking joins its waitlist)
    slots = await availability_service.available_slots(session, offering, rules, slot_start,
                                                       slot_start + timedelta(minutes=1), now)
    if not slots or slots[0][0] != slot_start:
        raise DomainError(ErrorCode.INVALID_INPUT, "This time is not an open slot of the service.", "slotStart")
    async with acting_in(session, offering.organization_id):
        made = await offerings.add_slot_session(session, OfferingSession(
            organization_id=offering.organization_id, offering_id=offering.id, starts_at=slots[0][0],
            ends_at=slots[0][1], capacity=offering.capacity, seats_taken=0))
        conferencing_hooks.session_added(session, offering, made)  # its meeting, by a job (idempotent)
        return made


async def _seat_ids(session: AsyncSession, offering: Offering, target: OfferingSession) -> list[uuid.UUID]:
    if offering.type is OfferingType.COHORT:
        return await repository.cohort_session_ids(session, offering.organization_id, offering.id)
    return [target.id]


async def _pay(session: AsyncSession, offering: Offering, booking: Booking) -> None:
    if booking.pay_with is BookingPayment.CREDITS:
        assert offering.credit_price is not None
        spent = await credits.spend(session, offering.organization_id, booking.user_id, offering.credit_price,
                                    f"booking:{booking.id}", credits.Source("booking", str(booking.id)),
                                    f"Booking: {offering.title}"[:200])
        booking.credits_spent, booking.credit_transaction_id = offering.credit_price, spent.id


def announce(session: AsyncSession, booking: Booking, event_type: str) -> None:
    payload = {"bookingId": str(booking.id), "offeringId": str(booking.offering_id),
               "sessionId": str(booking.session_id), "userId": str(booking.user_id), "status": booking.status.value}
    events.emit(session, event_type, payload, booking.organization_id)
    events.enqueue(session, MAIL_ACTOR, booking.organization_id, booking_id=str(booking.id),
                   booking_organization_id=str(booking.organization_id), kind=event_type)


def _same_offering(replay: Booking, offering_id: uuid.UUID | None) -> Booking:
    """The booking an earlier request with the same key made; the key may not name another offering."""
    if replay.offering_id != offering_id:
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This key was used for another booking.",
                          "idempotencyKey")
    return replay


async def book(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None, *, session_id: uuid.UUID | None,
               slot_start: datetime | None, pay_with: BookingPayment, idempotency_key: str,
               card_return: bool = False) -> Booking:
    """A confirmed seat, a seat held while the person pays by card (PAYMENT_PENDING), a place on the waitlist
    when the session is full, or the confirmation of a held seat. ``card_return``: the caller has checked return
    URLs for a card payment."""
    assert viewer.user_id is not None
    key = credits.check_key(idempotency_key)
    replay = await repository.by_key(session, viewer.user_id, key)
    if replay is not None:
        return _same_offering(replay, offering_id)
    offering = await _bookable(session, offering_id)
    _check_payment(offering, pay_with, card_return)
    target = await _target(session, offering, session_id, slot_start)
    async with acting_in(session, offering.organization_id):
        await _check_subscription(session, offering, viewer.user_id, pay_with)
        await repository.lock_person(session, offering.id, viewer.user_id)
        replay = await repository.by_key(session, viewer.user_id, key)  # a twin request finished first
        if replay is not None:
            return _same_offering(replay, offering.id)
        existing = await repository.live_for(session, offering.organization_id, target.id, viewer.user_id)
        if existing is not None and existing.status is not BookingStatus.HELD:
            raise DomainError(ErrorCode.ALREADY_EXISTS, "You already booked this session (or wait for a seat).",
                              "sessionId" if session_id else "offeringId")
        if existing is not None:  # a held seat: booking confirms it, paying now
            return await _confirm_hold(session, offering, target, existing, pay_with)
        if paid.by_card(offering, pay_with):
            await paid.check_retry_pause(session, offering.organization_id, target.id, viewer.user_id, utcnow())
        seat_ids = await _seat_ids(session, offering, target)
        locked = await repository.lock_sessions(session, offering.organization_id, seat_ids)
        has_room = len(locked) == len(seat_ids) and all(s.seats_taken < s.capacity for s in locked)
        status = BookingStatus.CONFIRMED if has_room else BookingStatus.WAITLISTED
        if has_room and paid.by_card(offering, pay_with):
            status = BookingStatus.PAYMENT_PENDING
        booking = await repository.add(session, Booking(
            organization_id=offering.organization_id, offering_id=offering.id, session_id=target.id,
            user_id=viewer.user_id, status=status, pay_with=pay_with, idempotency_key=key,
            hold_expires_at=paid.hold_until(utcnow(), target.starts_at) if status is BookingStatus.PAYMENT_PENDING
            else None))
        if has_room:
            await repository.move_seats(session, offering.organization_id, seat_ids, +1)
            await _pay(session, offering, booking)
        await session.flush()
        if status is not BookingStatus.PAYMENT_PENDING:
            announce(session, booking, CONFIRMED_EVENT if has_room else WAITLISTED_EVENT)
    return booking


async def _confirm_hold(session: AsyncSession, offering: Offering, target: OfferingSession, booking: Booking,
                        pay_with: BookingPayment) -> Booking:
    now = utcnow()
    if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
        raise DomainError(ErrorCode.INVALID_STATE, "The seat held for you was released; join the waitlist again "
                          "once it is processed.", "offeringId")
    booking.pay_with = pay_with
    if paid.by_card(offering, pay_with):  # the seat stays held while the person pays
        booking.status = BookingStatus.PAYMENT_PENDING
        booking.hold_expires_at = max(booking.hold_expires_at or now, paid.hold_until(now, target.starts_at))
        await session.flush()
        return booking
    await _pay(session, offering, booking)
    booking.status, booking.hold_expires_at = BookingStatus.CONFIRMED, None
    await session.flush()
    announce(session, booking, CONFIRMED_EVENT)
    return booking


def _deadline(offering: Offering, starts_at: datetime) -> datetime:
    return starts_at - timedelta(hours=offering.cancellation_hours)


async def cancel(session: AsyncSession, viewer: Viewer, booking_id: uuid.UUID | None) -> Booking:
    """Cancel a booking: its person (credits back until the offering's deadline, none after) or staff with
    CONTENT_MANAGE (credits back always). Cancelling a cancelled booking changes nothing."""
    assert viewer.user_id is not None
    # Read in the viewer's own scope (their booking, or their organization's), then locked in the organization's.
    found = await repository.by_id(session, booking_id) if booking_id else None
    # Staff cancelling their own booking follow the policy like anyone (no refund past the deadline).
    staff = (found is not None and found.user_id != viewer.user_id
             and viewer.can(Permission.CONTENT_MANAGE, found.organization_id))
    if found is None or (found.user_id != viewer.user_id and not staff):
        raise DomainError(ErrorCode.NOT_FOUND, "No booking of yours has this id.", "bookingId")
    offering = await offerings.by_id(session, found.offering_id)
    assert offering is not None
    async with acting_in(session, found.organization_id):
        await repository.lock_person(session, found.offering_id, found.user_id)
        booking = await repository.for_update(session, found.id)
        assert booking is not None
        if booking.status in repository.LIVE:
            await _release(session, offering, booking, by=viewer.user_id, refund=staff or None)
    return booking


async def _lock_seats(session: AsyncSession, offering: Offering,
                      session_id: uuid.UUID) -> tuple[OfferingSession | None, list[OfferingSession]]:
    """The booked session and the sessions a booking of it holds a seat in (a cohort's every session), all
    locked in one statement in id order, as ``book`` locks them: locking the booked session first and the
    others after could deadlock with a booking that holds a lower id and waits for the booked one."""
    seat_ids = [session_id]
    if offering.type is OfferingType.COHORT:
        seat_ids = await repository.cohort_session_ids(session, offering.organization_id, offering.id)
    locked = await repository.lock_sessions(session, offering.organization_id, list({*seat_ids, session_id}))
    target = next((s for s in locked if s.id == session_id), None)
    return target, [row for row in locked if row.id in seat_ids]


async def _release(session: AsyncSession, offering: Offering, booking: Booking, *, by: uuid.UUID | None,
                   refund: bool | None) -> None:
    """``booking`` CANCELLED: seats given back and the waitlist promoted, credits returned and a paid purchase
    refunded when ``refund`` (None: as the offering's deadline says for the session's start). In the
    organization's scope."""
    await let_go(session, booking, BookingStatus.CANCELLED, by=by, refund=refund, offering=offering)


async def let_go(session: AsyncSession, booking: Booking, status: BookingStatus, *, by: uuid.UUID | None,
                 refund: bool | None = None, offering: Offering | None = None) -> None:
    """``booking`` (locked) ends as ``status`` (CANCELLED, or EXPIRED: a hold or a checkout lapsed): its seats
    go back, the first person waiting is promoted, and what it paid is returned as ``_release`` says."""
    if offering is None:
        offering = await offerings.by_id(session, booking.offering_id)
        assert offering is not None
    target, seats = await _lock_seats(session, offering, booking.session_id)
    seat_ids = [s.id for s in seats]
    if booking.status in repository.SEATED:
        await repository.move_seats(session, offering.organization_id, seat_ids, -1)
    due = refund if refund is not None else (target is not None and utcnow() <= _deadline(offering, target.starts_at))
    if booking.credit_transaction_id is not None and due:
        await credits.refund(session, offering.organization_id, booking.user_id, booking.credit_transaction_id,
                             credits.Source("booking", str(booking.id)), "Booking cancelled")
    if booking.purchase_id is not None and due:
        paid.refund_later(session, booking, "Booking cancelled")
    if booking.status is BookingStatus.PAYMENT_PENDING:
        paid.close_checkout(session, booking)
    was_seated = booking.status in repository.SEATED
    booking.status, booking.hold_expires_at = status, None
    if status is BookingStatus.CANCELLED:
        booking.cancelled_at, booking.cancelled_by = utcnow(), by
    await session.flush()
    if status is BookingStatus.CANCELLED:
        announce(session, booking, CANCELLED_EVENT)
    if was_seated and target is not None and offering.status is OfferingStatus.PUBLISHED:
        await promote(session, offering, target)


async def promote(session: AsyncSession, offering: Offering, target: OfferingSession) -> Booking | None:
    """Hold a freed seat for the first person waiting (the session's rows locked by the caller)."""
    now = utcnow()
    if target.starts_at <= now or target.cancelled_at is not None:
        return None
    waiting = await repository.first_waiting(session, offering.organization_id, target.id)
    if waiting is None:
        return None
    seat_ids = await _seat_ids(session, offering, target)
    locked = await repository.lock_sessions(session, offering.organization_id, seat_ids)
    if not all(s.seats_taken < s.capacity for s in locked):
        return None
    await repository.move_seats(session, offering.organization_id, seat_ids, +1)
    waiting.status, waiting.hold_expires_at = BookingStatus.HELD, min(now + HOLD, target.starts_at)
    await session.flush()
    announce(session, waiting, HELD_EVENT)
    return waiting


async def cancel_offering(session: AsyncSession, viewer: Viewer, offering: Offering) -> int:
    """Every live booking of a cancelled offering CANCELLED, credits returned in full; returns how many."""
    async with acting_in(session, offering.organization_id):
        live = await repository.live_of_offering(session, offering.organization_id, offering.id)
        for booking in live:
            await _release(session, offering, booking, by=viewer.user_id, refund=True)
    return len(live)


async def expire_hold(session: AsyncSession, organization_id: uuid.UUID, booking_id: uuid.UUID,
                      now: datetime | None = None) -> bool:
    """A HELD booking past its hold at ``now`` EXPIRED, its seats given back and the next person promoted (in
    the organization's scope). False when it was confirmed, cancelled or expired meanwhile."""
    booking = await repository.for_update(session, booking_id)
    if (booking is None or booking.status not in repository.HOLDING or booking.hold_expires_at is None
            or booking.hold_expires_at > (now or utcnow())):
        return False
    await let_go(session, booking, BookingStatus.EXPIRED, by=None)
    return True


# -- a card payment's outcome (the payment webhook's transaction, in the organization's scope: paid.py) ------

async def paid_for(session: AsyncSession, organization_id: uuid.UUID, booking_id: uuid.UUID,
                   purchase_id: uuid.UUID) -> str:
    """The checkout of ``booking_id`` was paid and its purchase created: the booking is CONFIRMED. A payment for
    a seat let go meanwhile (the hold lapsed) takes a seat again if one is free; otherwise, or when the person
    cancelled, the purchase is refunded in full by a job."""
    found = await repository.by_id(session, booking_id)
    if found is None:
        return "booking_missing"
    await repository.lock_person(session, found.offering_id, found.user_id)  # the order book and cancel lock in
    booking = await repository.for_update_in(session, organization_id, booking_id)
    assert booking is not None
    booking.purchase_id = purchase_id
    if booking.status is BookingStatus.PAYMENT_PENDING:
        booking.status, booking.hold_expires_at = BookingStatus.CONFIRMED, None
        await session.flush()
        announce(session, booking, CONFIRMED_EVENT)
        return "booking_confirmed"
    if booking.status is BookingStatus.EXPIRED and await _reseat(session, booking):
        return "booking_confirmed_late"
    await session.flush()
    paid.refund_later(session, booking, "The seat was no longer held when the payment arrived.")
    return "booking_refunded"


async def _reseat(session: AsyncSession, booking: Booking) -> bool:
    """An EXPIRED booking CONFIRMED again when its session (every session of a cohort) is still to come and
    has a seat, and nobody else holds a live booking of it for the person."""
    offering = await offerings.by_id(session, booking.offering_id)
    if offering is None or offering.status is not OfferingStatus.PUBLISHED:
        return False
    if await repository.live_for(session, offering.organization_id, booking.session_id, booking.user_id):
        return False
    target, seats = await _lock_seats(session, offering, booking.session_id)
    if target is None or target.cancelled_at is not None or target.starts_at <= utcnow():
        return False
    if not all(s.seats_taken < s.capacity for s in seats):  # read under the locks just taken
        return False
    await repository.move_seats(session, offering.organization_id, [s.id for s in seats], +1)
    booking.status = BookingStatus.CONFIRMED
    await session.flush()
    announce(session, booking, CONFIRMED_EVENT)
    return True


async def purchase_ended(session: AsyncSession, organization_id: uuid.UUID, purchase_id: uuid.UUID) -> None:
    """A booking's purchase was refunded in full or lost to a dispute (in the organization's scope, the purchase
    locked): a booking still holding its seat is CANCELLED, and nothing more is refunded."""
    booking = await repository.by_purchase(session, organization_id, purchase_id)
    if booking is None or booking.status not in repository.LIVE:
        return
    await repository.lock_person(session, booking.offering_id, booking.user_id)
    booking = await repository.for_update_in(session, organization_id, booking.id)
    if booking is not None and booking.status in repository.LIVE:  # its money is back already: refund nothing
        await let_go(session, booking, BookingStatus.CANCELLED, by=None, refund=False)


async def checkout_ended(session: AsyncSession, organization_id: uuid.UUID, booking_id: uuid.UUID) -> str:
    """The checkout lapsed or its payment failed: a PAYMENT_PENDING booking gives its seat back (EXPIRED)."""
    booking = await repository.for_update_in(session, organization_id, booking_id)
    if booking is None or booking.status is not BookingStatus.PAYMENT_PENDING:
        return "booking_unchanged"
    await let_go(session, booking, BookingStatus.EXPIRED, by=None)
    return "booking_expired"


async def check_in(session: AsyncSession, viewer: Viewer, booking_id: uuid.UUID | None) -> Booking:
    """Mark a confirmed participant present (staff with CONTENT_MANAGE of the offering's organization)."""
    booking = await repository.for_update(session, booking_id) if booking_id else None
    if booking is None or not viewer.can(Permission.CONTENT_MANAGE, booking.organization_id):
        raise DomainError(ErrorCode.NOT_FOUND, "No booking of your organization has this id.", "bookingId")
    if booking.status is not BookingStatus.CONFIRMED:
        raise DomainError(ErrorCode.INVALID_STATE, "Only a confirmed booking can be checked in.", "bookingId")
    if booking.checked_in_at is None:
        booking.checked_in_at = utcnow()
        await session.flush()
    return booking
