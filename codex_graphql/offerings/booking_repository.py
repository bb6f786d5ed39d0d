"""SQL of bookings and session seats. Writes run in the offering's organization scope (``acting_in``); a person
reads their own bookings in their user scope (RLS, migration 0043)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.offerings.models import Booking, BookingPayment, BookingStatus, OfferingSession
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page

LIVE = (BookingStatus.CONFIRMED, BookingStatus.WAITLISTED, BookingStatus.HELD, BookingStatus.PAYMENT_PENDING)
SEATED = (BookingStatus.CONFIRMED, BookingStatus.HELD, BookingStatus.PAYMENT_PENDING)
# A seat kept for a while: a waitlist hold, or a checkout being paid (both end at ``hold_expires_at``).
HOLDING = (BookingStatus.HELD, BookingStatus.PAYMENT_PENDING)


async def lock_person(session: AsyncSession, offering_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """One booking change per person and offering at a time (their twin requests queue)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"booking:{offering_id}:{user_id}"})


async def by_key(session: AsyncSession, user_id: uuid.UUID, idempotency_key: str) -> Booking | None:
    return await session.scalar(select(Booking).where(Booking.user_id == user_id,
                                                      Booking.idempotency_key == idempotency_key))


async def live_for(session: AsyncSession, organization_id: uuid.UUID, session_id: uuid.UUID,
                   user_id: uuid.UUID) -> Booking | None:
    statement = in_organization(select(Booking), Booking, organization_id).where(
        Booking.session_id == session_id, Booking.user_id == user_id, Booking.status.in_(LIVE))
    return await session.scalar(statement.with_for_update())


async def by_id(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    """The booking when RLS shows it (the person's own, or their organization's staff's)."""
    return await session.scalar(select(Booking).where(Booking.id == booking_id))


async def for_update(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    """The booking, locked, when RLS shows it (the person's own, or their organization's staff's)."""
    return await session.scalar(select(Booking).where(Booking.id == booking_id).with_for_update()
                                .execution_options(populate_existing=True))


async def lock_sessions(session: AsyncSession, organization_id: uuid.UUID,
                        session_ids: Sequence[uuid.UUID]) -> list[OfferingSession]:
    """The sessions, locked in id order (every writer locks in that order: no deadlock)."""
    statement = in_organization(select(OfferingSession), OfferingSession, organization_id).where(
        OfferingSession.id.in_(list(session_ids))).order_by(OfferingSession.id)
    return list(await session.scalars(statement.with_for_update().execution_options(populate_existing=True)))


async def cohort_session_ids(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> list[uuid.UUID]:
    """A cohort's sessions that are on, by start: a booking holds a seat in each."""
    statement = in_organization(select(OfferingSession.id), OfferingSession, organization_id).where(
        OfferingSession.offering_id == offering_id, OfferingSession.cancelled_at.is_(None)).order_by(
        OfferingSession.starts_at)
    return list(await session.scalars(statement))


async def move_seats(session: AsyncSession, organization_id: uuid.UUID, session_ids: Sequence[uuid.UUID],
                     delta: int) -> None:
    """Take (+1) or give back (-1) one seat in each session (locked by the caller; the check constraint keeps
    ``0 <= seats_taken <= capacity`` whatever happens)."""
    await session.execute(in_organization(update(OfferingSession), OfferingSession, organization_id).where(
        OfferingSession.id.in_(list(session_ids))).values(seats_taken=OfferingSession.seats_taken + delta))


async def add(session: AsyncSession, booking: Booking) -> Booking:
    session.add(booking)
    await session.flush()
    return booking


async def first_waiting(session: AsyncSession, organization_id: uuid.UUID, session_id: uuid.UUID) -> Booking | None:
    statement = in_organization(select(Booking), Booking, organization_id).where(
        Booking.session_id == session_id, Booking.status == BookingStatus.WAITLISTED).order_by(
        Booking.created_at, Booking.id).limit(1)
    return await session.scalar(statement.with_for_update())


async def waitlist_position(session: AsyncSession, booking: Booking) -> int:
    """1 for the next person waiting: counts every WAITLISTED booking of the session up to this one, which RLS
    hides from the person (``codex_waitlist_ahead``, SECURITY DEFINER, migration 0043: a count, no rows)."""
    statement = select(func.codex_waitlist_ahead(booking.organization_id, booking.session_id, booking.created_at,
                                                 booking.id))
    return int(await session.scalar(statement) or 0)


async def live_of_offering(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> list[Booking]:
    statement = in_organization(select(Booking), Booking, organization_id).where(
        Booking.offering_id == offering_id, Booking.status.in_(LIVE)).order_by(Booking.id)
    return list(await session.scalars(statement.with_for_update()))


async def holds_expired(session: AsyncSession, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization, booking) of HELD and PAYMENT_PENDING bookings past their hold (the platform scope: the
    expiry job)."""
    rows = await session.execute(select(Booking.organization_id, Booking.id).where(
        Booking.status.in_(HOLDING), Booking.hold_expires_at <= now).order_by(Booking.hold_expires_at)
        .limit(limit))
    return [(organization_id, booking_id) for organization_id, booking_id in rows]


async def own_page(session: AsyncSession, user_id: uuid.UUID, first: int, after: str | None) -> Page[Booking]:
    statement = select(Booking).where(Booking.user_id == user_id)
    return await keyset_page(session, statement, created_col=Booking.created_at, id_col=Booking.id, first=first,
                             after=after)


async def own_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(Booking).where(Booking.user_id == user_id)) or 0)


async def of_offering(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                      session_id: uuid.UUID | None) -> list[Booking]:
    """An offering's bookings (one session's when given), oldest first: the participants list."""
    statement = in_organization(select(Booking), Booking, organization_id).where(Booking.offering_id == offering_id)
    if session_id is not None:
        statement = statement.where(Booking.session_id == session_id)
    return list(await session.scalars(statement.order_by(Booking.created_at, Booking.id)))


async def for_update_in(session: AsyncSession, organization_id: uuid.UUID, booking_id: uuid.UUID) -> Booking | None:
    """The organization's booking, locked (a job or webhook in the organization's scope)."""
    statement = in_organization(select(Booking), Booking, organization_id).where(Booking.id == booking_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def by_purchase(session: AsyncSession, organization_id: uuid.UUID, purchase_id: uuid.UUID) -> Booking | None:
    """The booking a paid purchase is of (the purchase's refund or dispute, in the organization's scope)."""
    statement = in_organization(select(Booking), Booking, organization_id).where(Booking.purchase_id == purchase_id)
    return await session.scalar(statement)


async def lapsed_card_booking(session: AsyncSession, organization_id: uuid.UUID, session_id: uuid.UUID,
                              user_id: uuid.UUID, since: datetime) -> datetime | None:
    """When the person's latest card booking of the session lapsed unpaid (EXPIRED with no purchase), if at or after
    ``since``: the pause before they may hold a seat by card again (``paid.RETRY_PAUSE``)."""
    statement = in_organization(select(func.max(Booking.updated_at)), Booking, organization_id).where(
        Booking.session_id == session_id, Booking.user_id == user_id, Booking.status == BookingStatus.EXPIRED,
        Booking.pay_with == BookingPayment.PURCHASE, Booking.purchase_id.is_(None), Booking.updated_at >= since)
    return await session.scalar(statement)
