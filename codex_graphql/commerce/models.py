from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow


@strawberry.enum(description="State of a purchase.")
class PurchaseStatus(enum.StrEnum):
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"


@strawberry.enum(description="How access was obtained.")
class PurchaseKind(enum.StrEnum):
    PAID = "PAID"
    FREE = "FREE"
    GRANT = "GRANT"


@strawberry.enum(description="State of a checkout started by a customer.")
class CheckoutStatus(enum.StrEnum):
    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


class CheckoutSession(IdMixin, TimestampMixin, Base):
    """A checkout started by a customer: what they were offered, at which price. Tenant table."""

    __tablename__ = "checkout_session"
    __table_args__ = (Index("ix_checkout_session_user", "user_id", "content_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20))
    provider_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[CheckoutStatus] = mapped_column(
        Enum(CheckoutStatus, name="checkout_status", native_enum=False, length=16), default=CheckoutStatus.OPEN
    )
    success_url: Mapped[str] = mapped_column(Text)
    cancel_url: Mapped[str] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)


class Purchase(IdMixin, TimestampMixin, Base):
    """Access bought, claimed or granted. Amounts come from the payment provider, never the client."""

    __tablename__ = "purchase"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("creator_share_cents >= 0 AND creator_share_cents <= amount_cents", name="share_within_amount"),
        Index("uq_purchase_provider_session", "provider_session_id", unique=True,
              postgresql_where=text("provider_session_id IS NOT NULL")),
        Index("ix_purchase_payment_intent", "payment_intent_id"),
        Index("ix_purchase_user_created", "user_id", "created_at", "id"),
        Index("ix_purchase_org_created", "organization_id", "created_at", "id"),
        Index("ix_purchase_content", "content_id", "status"),
        Index("ix_purchase_creator", "organization_id", "creator_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="RESTRICT"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    # What was bought, as it was named then (receipts and history outlive edits and unpublishing).
    content_title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PurchaseKind] = mapped_column(Enum(PurchaseKind, name="purchase_kind", native_enum=False, length=16))
    status: Mapped[PurchaseStatus] = mapped_column(
        Enum(PurchaseStatus, name="purchase_status", native_enum=False, length=16)
    )
    amount_cents: Mapped[int] = mapped_column(Integer)
    tax_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    creator_share_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    charge_id: Mapped[str | None] = mapped_column(String(255))
    receipt_url: Mapped[str | None] = mapped_column(Text)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    refunded_at: Mapped[datetime | None]
    refund_reason: Mapped[str | None] = mapped_column(Text)
    refund_requested_at: Mapped[datetime | None]
    disputed_at: Mapped[datetime | None]
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class StripeEvent(TimestampMixin, Base):
    """Inbox of verified provider webhooks, stored once by event id before they are handled.
    Platform table (no RLS): events arrive before we know their organization."""

    __tablename__ = "stripe_event"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    # Copied out of the payload so refunds and disputes find their purchase by index.
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(100))


class IdempotencyRecord(Base):
    """The first result of a mutation sent with an idempotency key, replayed for retries."""

    __tablename__ = "idempotency_record"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
