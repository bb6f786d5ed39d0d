"""SQL of booking reminders (migration 0046). The organizations with reminders due are listed under the platform
scope; each organization's reminders are then claimed in its own scope by inserting their rows
(``booking_reminder``, keyed by booking, session and lead time) with ``ON CONFLICT DO NOTHING``.

A reminder of lead time L (minutes) is due for a CONFIRMED booking of a PUBLISHED offering and a session that is
on (the booked one; a cohort's booking: every session of the cohort) when the session starts within L minutes
and later than the next shorter lead time (so a late run never sends a 24-hour reminder an hour before), and,
except for the shortest lead time, when the booking was made before the reminder's window opened (a booking made
30 minutes before gets the 1-hour reminder only)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.offerings.models import (
    Booking,
    BookingStatus,
    Offering,
    OfferingSession,
    OfferingStatus,
    OfferingType,
)
from codex_graphql.offerings.reminder_models import BookingReminder

LEADS = (24 * 60, 60)  # minutes before a session, longest first


def _windows() -> list[tuple[int, int, bool]]:
    """(lead, the next shorter lead or 0, whether it is the shortest) per lead."""
    ordered = sorted(LEADS, reverse=True)
    return [(lead, ordered[i + 1] if i + 1 < len(ordered) else 0, i + 1 == len(ordered))
            for i, lead in enumerate(ordered)]


def _due(at: datetime, lead: int, shorter: int, last: bool) -> ColumnElement[bool]:
    conditions = [OfferingSession.starts_at <= at + timedelta(minutes=lead),
                  OfferingSession.starts_at > at + timedelta(minutes=shorter),
                  ~exists().where(BookingReminder.booking_id == Booking.id,
                                  BookingReminder.session_id == OfferingSession.id,
                                  BookingReminder.lead_minutes == lead)]
    if not last:
        conditions.append(Booking.created_at + timedelta(minutes=lead) <= OfferingSession.starts_at)
    return and_(*conditions)


def _candidates(columns: list[ColumnElement]) -> object:
    return (select(*columns).select_from(Booking)
            .join(Offering, Offering.id == Booking.offering_id)
            .join(OfferingSession, and_(OfferingSession.offering_id == Booking.offering_id,
                                        or_(OfferingSession.id == Booking.session_id,
                                            Offering.type == OfferingType.COHORT)))
            .where(Booking.status == BookingStatus.CONFIRMED, Offering.status == OfferingStatus.PUBLISHED,
                   OfferingSession.cancelled_at.is_(None)))


async def organizations_due(session: AsyncSession, at: datetime, limit: int) -> list[uuid.UUID]:
    """Organizations with a reminder due at ``at`` (the platform scope: the reminder job)."""
    statement = _candidates([Booking.organization_id]).where(  # type: ignore[attr-defined]
        or_(*(_due(at, lead, shorter, last) for lead, shorter, last in _windows()))).distinct().limit(limit)
    return list(await session.scalars(statement))


async def claim_due(session: AsyncSession, organization_id: uuid.UUID, at: datetime,
                    limit: int) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
    """Claim up to ``limit`` reminders due at ``at`` per lead time in the organization: their rows inserted,
    ``(booking, session, lead)`` of those this transaction claimed (a reminder claimed by a concurrent runner
    waits for its transaction and is skipped)."""
    claimed: list[tuple[uuid.UUID, uuid.UUID, int]] = []
    for lead, shorter, last in _windows():
        chosen = in_organization(_candidates([Booking.organization_id, Booking.id, OfferingSession.id,  # type: ignore[arg-type]
                                              literal(lead)]), Booking, organization_id)
        chosen = chosen.where(_due(at, lead, shorter, last)).order_by(
            OfferingSession.starts_at, Booking.id, OfferingSession.id).limit(limit)
        statement = insert(BookingReminder).from_select(
            ["organization_id", "booking_id", "session_id", "lead_minutes"], chosen).on_conflict_do_nothing().returning(
            BookingReminder.booking_id, BookingReminder.session_id, BookingReminder.lead_minutes)
        claimed += [(booking_id, session_id, minutes) for booking_id, session_id, minutes in
                    await session.execute(statement)]
    return claimed
