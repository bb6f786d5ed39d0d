"""SQL of calendar feeds: a person's feed version (their user scope only, migration 0046) and the sessions of
their bookings (read in their user scope: RLS shows them their own bookings, and offerings that are not drafts
with their sessions)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.db import utcnow
from codex_graphql.offerings.models import Booking, BookingStatus, Offering, OfferingSession, OfferingType
from codex_graphql.offerings.reminder_models import CalendarFeed

FEED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.HELD)


async def feed_version(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The person's feed version: 1 until they first rotate it."""
    found = await session.scalar(select(CalendarFeed.version).where(CalendarFeed.user_id == user_id))
    return int(found or 1)


async def rotate(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The next version (every URL signed with an earlier one stops working); returns it."""
    statement = insert(CalendarFeed).values(user_id=user_id, version=2, rotated_at=utcnow())
    statement = statement.on_conflict_do_update(
        index_elements=[CalendarFeed.user_id],
        set_={"version": CalendarFeed.version + 1, "rotated_at": statement.excluded.rotated_at},
    ).returning(CalendarFeed.version)
    return int((await session.execute(statement)).scalar_one())


async def booked_sessions(session: AsyncSession, user_id: uuid.UUID, ending_after: datetime,
                          limit: int) -> list[tuple[Offering, OfferingSession]]:
    """The sessions the person holds a seat in or has one held for (CONFIRMED, HELD; a cohort's booking: every
    session of the cohort), cancelled sessions included, ending after ``ending_after``, by start."""
    rows = await session.execute(
        select(Offering, OfferingSession)
        .select_from(Booking)
        .join(Offering, Offering.id == Booking.offering_id)
        .join(OfferingSession, and_(OfferingSession.offering_id == Booking.offering_id,
                                    or_(OfferingSession.id == Booking.session_id,
                                        Offering.type == OfferingType.COHORT)))
        .where(Booking.user_id == user_id, Booking.status.in_(FEED_STATUSES), OfferingSession.ends_at > ending_after)
        .order_by(OfferingSession.starts_at, OfferingSession.id)
        .limit(limit))
    return [(offering, target) for offering, target in rows]
