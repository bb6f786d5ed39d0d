"""Reminder and calendar rows of bookings (migration 0046).

``BookingReminder``: one row per reminder sent, keyed by (booking, session, lead time): the reminder job claims a
reminder by inserting its row in the transaction that requests its mail, so it is mailed once whatever runs twice.
``CalendarFeed``: a person's calendar feed version; rotating it ends every feed URL signed before.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, utcnow
from codex_graphql.offerings.models import OfferingSession


class BookingReminder(Base):
    __tablename__ = "booking_reminder"
    __table_args__ = (CheckConstraint("lead_minutes > 0", name="lead_positive"),)

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering_session.id", ondelete="CASCADE"),
                                                  primary_key=True, index=True)
    lead_minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class CalendarFeed(Base):
    __tablename__ = "calendar_feed"
    __table_args__ = (CheckConstraint("version > 0", name="version_positive"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    rotated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


# The reminder job's window query across organizations (sessions starting soon); declared here, with the
# migration that creates it, so ``alembic check`` sees it on ``offering_session``.
Index("ix_offering_session_starts_live", OfferingSession.starts_at, postgresql_where=text("cancelled_at IS NULL"))
