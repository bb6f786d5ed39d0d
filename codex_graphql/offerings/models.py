"""Offerings, their sessions, a service's availability and bookings (migration 0043).

An offering (EVENT, PROGRAM, COHORT or SERVICE) belongs to an organization; DRAFT and CANCELLED offerings are its
staff's, PUBLISHED ones are public, with their sessions. Events, programs and cohorts have dated sessions added by
staff; a service has weekly availability (``offering_availability``) and each booked slot becomes a session of
its own (capacity 1, unique per start). A cohort is booked as one: its bookings name the offering's first
session and hold a seat in every session (the seat counters move together).

Capacity is a counter on the session, ``seats_taken``, with a check constraint (``seats_taken <= capacity``):
a booking takes a seat with one conditional UPDATE, so concurrent bookings can never exceed it. Bookings are
the organization's and their customer's (RLS).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="What kind of offering it is.")
class OfferingType(enum.StrEnum):
    EVENT = "EVENT"
    PROGRAM = "PROGRAM"
    SERVICE = "SERVICE"
    COHORT = "COHORT"


describe_values(OfferingType, {
    "EVENT": "A one-off event (a live workshop, a concert): one or more dated sessions, each booked on its own.",
    "PROGRAM": "A program over several days: dated sessions, each booked on its own.",
    "SERVICE": "One-to-one sessions (coaching, consultations) booked in open slots of weekly availability.",
    "COHORT": "A course run as a series of dated sessions booked as one: a booking holds a seat in every session.",
})


@strawberry.enum(description="Whether an offering is public, and still on.")
class OfferingStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    CANCELLED = "CANCELLED"


describe_values(OfferingStatus, {
    "DRAFT": "Being prepared: only the organization's staff see it; nobody can book it.",
    "PUBLISHED": "Public and bookable.",
    "CANCELLED": "Cancelled by staff: every booking was cancelled (credits returned) and its people emailed.",
})


@strawberry.enum(description="Where a booking stands.")
class BookingStatus(enum.StrEnum):
    CONFIRMED = "CONFIRMED"
    WAITLISTED = "WAITLISTED"
    HELD = "HELD"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


describe_values(BookingStatus, {
    "CONFIRMED": "A seat is the person's.",
    "WAITLISTED": "The session was full: the person waits, first come first served (`waitlistPosition`).",
    "HELD": "A seat freed up and is held for the person until `holdExpiresAt`: booking again confirms it.",
    "PAYMENT_PENDING": "A seat is held while the person pays at the checkout (`checkoutUrl`) until `holdExpiresAt`; "
                       "the payment confirms it, an abandoned or failed checkout releases it (EXPIRED).",
    "CANCELLED": "Cancelled by the person or by staff (credits returned as the cancellation policy says).",
    "EXPIRED": "A held seat was not taken in time; it went to the next person waiting.",
})


@strawberry.enum(description="How a booking is paid.")
class BookingPayment(enum.StrEnum):
    PURCHASE = "PURCHASE"
    CREDITS = "CREDITS"
    SUBSCRIPTION = "SUBSCRIPTION"


describe_values(BookingPayment, {
    "PURCHASE": "Paid with money through the payment provider's checkout (the booking is PAYMENT_PENDING until it is "
                "paid). Free offerings (price 0) are booked this way without a checkout.",
    "CREDITS": "Paid with the organization's credits (`Offering.creditPrice`), taken in the booking's transaction.",
    "SUBSCRIPTION": "Included in the person's subscription: a live subscription of the organization to a tier with "
                    "`offeringAccess`. Nothing is charged and nothing is refunded.",
})


class Offering(IdMixin, TimestampMixin, Base):
    __tablename__ = "offering"
    __table_args__ = (
        UniqueConstraint("id", "organization_id"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("credit_price IS NULL OR credit_price > 0", name="credit_price_positive"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("cancellation_hours >= 0", name="cancellation_hours_not_negative"),
        Index("ix_offering_org_created", "organization_id", "created_at", "id"),
        UniqueConstraint("offer_content_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    type: Mapped[OfferingType] = mapped_column(Enum(OfferingType, name="offering_type", native_enum=False, length=16))
    status: Mapped[OfferingStatus] = mapped_column(
        Enum(OfferingStatus, name="offering_status", native_enum=False, length=16), default=OfferingStatus.DRAFT,
        server_default="DRAFT")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    credit_price: Mapped[int | None] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    time_zone: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(300))
    online: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # Bookings may be cancelled by their person up to this many hours before the session starts (credits back).
    cancellation_hours: Mapped[int] = mapped_column(Integer, default=24, server_default=text("24"))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    published_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
    # What a paid booking's purchase is of (offerings/paid.py): a content item of kind OFFERING, made when the
    # offering first gets a price (migration 0047).
    offer_content_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("content.id", ondelete="SET NULL"))


class OfferingCategory(Base):
    __tablename__ = "offering_category"

    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("category.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)


class OfferingSession(IdMixin, TimestampMixin, Base):
    __tablename__ = "offering_session"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"),
        UniqueConstraint("offering_id", "starts_at"),
        Index("ix_offering_session_org_starts", "organization_id", "starts_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    capacity: Mapped[int] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    cancelled_at: Mapped[datetime | None] = mapped_column()


class OfferingAvailability(Base):
    """A service's weekly hours: ``weekly`` is ``[{"day": 0-6 (Monday 0), "start": "HH:MM", "end": "HH:MM"}]``
    in the offering's time zone."""

    __tablename__ = "offering_availability"
    __table_args__ = (
        CheckConstraint("slot_minutes BETWEEN 5 AND 1440", name="slot_minutes_range"),
        CheckConstraint("buffer_minutes BETWEEN 0 AND 1440", name="buffer_minutes_range"),
        CheckConstraint("notice_minutes BETWEEN 0 AND 525600", name="notice_minutes_range"),
        CheckConstraint("horizon_days BETWEEN 1 AND 366", name="horizon_days_range"),
    )

    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    weekly: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    notice_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    horizon_days: Mapped[int] = mapped_column(Integer, default=60, server_default=text("60"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class Booking(IdMixin, TimestampMixin, Base):
    __tablename__ = "booking"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        # One live booking per person and session (cancelled and expired ones are history).
        Index("uq_booking_live", "session_id", "user_id", unique=True,
              postgresql_where=text("status IN ('CONFIRMED', 'WAITLISTED', 'HELD', 'PAYMENT_PENDING')")),
        Index("ix_booking_purchase", "purchase_id", postgresql_where=text("purchase_id IS NOT NULL")),
        Index("ix_booking_payment_pending", "hold_expires_at", postgresql_where=text("status = 'PAYMENT_PENDING'")),
        Index("ix_booking_waitlist", "session_id", "created_at", postgresql_where=text("status = 'WAITLISTED'")),
        Index("ix_booking_user_created", "user_id", "created_at", "id"),
        Index("ix_booking_org_offering", "organization_id", "offering_id", "status"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering_session.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    status: Mapped[BookingStatus] = mapped_column(
        Enum(BookingStatus, name="booking_status", native_enum=False, length=16))
    pay_with: Mapped[BookingPayment] = mapped_column(
        Enum(BookingPayment, name="booking_payment", native_enum=False, length=16))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    credits_spent: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    credit_transaction_id: Mapped[uuid.UUID | None] = mapped_column()
    hold_expires_at: Mapped[datetime | None] = mapped_column()
    checked_in_at: Mapped[datetime | None] = mapped_column()
    # The paid purchase (a PURCHASE booking of a priced offering, once its checkout completed).
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("purchase.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
