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
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="State of a purchase: COMPLETED (nothing refunded), PARTIALLY_REFUNDED (part of the "
                 "amount refunded; the buyer keeps access) or REFUNDED (fully refunded, revoked or lost in a dispute; "
                 "access ended).")
class PurchaseStatus(enum.StrEnum):
    COMPLETED = "COMPLETED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


describe_values(PurchaseStatus, {
    "COMPLETED": "Paid, claimed or granted, with nothing refunded; the buyer has access.",
    "PARTIALLY_REFUNDED": "Part of the amount was refunded (`refundedAmountCents` is the total so far); the"
                          " buyer keeps access.",
    "REFUNDED": "The whole amount was refunded, the grant revoked or a dispute lost; access has ended.",
})


@strawberry.enum(description="State of a dispute (chargeback) the buyer opened with their bank: OPEN (not decided; "
                 "access continues meanwhile), WON (decided for the seller; nothing changes) or LOST (decided for "
                 "the buyer; counts as a full refund of the disputed amount and access ends).")
class DisputeStatus(enum.StrEnum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


describe_values(DisputeStatus, {
    "OPEN": "The buyer's bank opened a dispute and it is not decided yet; access continues meanwhile.",
    "WON": "Decided for the seller: the money stays and nothing changes for the buyer.",
    "LOST": "Decided for the buyer: counts as a full refund of the disputed amount and the buyer's access "
            "ends.",
})


class RefundStatus(enum.StrEnum):
    PENDING = "PENDING"  # reserved, the provider not answered (yet)
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RefundSource(enum.StrEnum):
    API = "API"  # refundPurchase
    STRIPE = "STRIPE"  # made in the provider's dashboard, learnt from charge.refunded
    DISPUTE = "DISPUTE"  # a dispute lost


@strawberry.enum(description="How access was obtained.")
class PurchaseKind(enum.StrEnum):
    PAID = "PAID"
    FREE = "FREE"
    GRANT = "GRANT"


describe_values(PurchaseKind, {
    "PAID": "Bought through checkout; `amountCents` is what was charged, in minor units.",
    "FREE": "Claimed with `claimFreeContent` for an item priced 0; amount 0.",
    "GRANT": "Given by staff with `grantContentAccess` (no payment); amount 0. Revoked with "
             "`revokeContentAccess`.",
})


@strawberry.enum(description="State of a checkout started by a customer.")
class CheckoutStatus(enum.StrEnum):
    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


describe_values(CheckoutStatus, {
    "OPEN": "Started by `startCheckout`; the customer has not finished paying on `checkoutUrl` yet.",
    "COMPLETED": "Paid: the payment provider confirmed it and the purchase was created.",
    "FAILED": "The payment failed; `failureReason` says why. Start a new checkout to try again.",
    "EXPIRED": "The checkout lapsed without payment (the provider's `checkout.session.expired`) or was closed "
               "because the booking it paid for was let go; it can no longer be paid.",
})


class CheckoutSession(IdMixin, TimestampMixin, Base):
    """A checkout started by a customer: what they were offered, at which price. Tenant table."""

    __tablename__ = "checkout_session"
    __table_args__ = (Index("ix_checkout_session_user", "user_id", "content_id"),
                      Index("ix_checkout_session_booking", "booking_id", postgresql_where=text("booking_id IS NOT NULL")))

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
    # The booking this checkout pays for (a paid booking of an offering, offerings/paid.py; migration 0047).
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("booking.id", ondelete="SET NULL"))


class Purchase(IdMixin, TimestampMixin, Base):
    """Access bought, claimed or granted. Amounts come from the payment provider, never the client."""

    __tablename__ = "purchase"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("creator_share_cents >= 0 AND creator_share_cents <= amount_cents", name="share_within_amount"),
        CheckConstraint("refunded_amount_cents >= 0 AND refunded_amount_cents <= amount_cents", name="refund_within_amount"),
        CheckConstraint("creator_refunded_cents >= 0 AND creator_refunded_cents <= creator_share_cents",
                        name="creator_refund_within_share"),
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
        Enum(PurchaseStatus, name="purchase_status", native_enum=False, length=20)
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
    # Refunded so far, tax included (as the provider counts it); the part of it net of tax (what revenue
    # figures subtract); the creator's part (what creator earnings subtract). See ``refunds.split``.
    refunded_amount_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    refunded_net_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    creator_refunded_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    dispute_id: Mapped[str | None] = mapped_column(String(255))
    dispute_status: Mapped[DisputeStatus | None] = mapped_column(
        Enum(DisputeStatus, name="dispute_status", native_enum=False, length=16))
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class PurchaseRefund(IdMixin, TimestampMixin, Base):
    """One refund of a purchase: reserved PENDING before the provider is called, SUCCEEDED once it
    confirmed. Tenant table. ``idempotency_key`` is what the provider gets, deterministic per request."""

    __tablename__ = "purchase_refund"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_purchase_refund_purchase", "purchase_id", "status"),
        Index("uq_purchase_refund_key", "organization_id", "idempotency_key", unique=True),
        Index("uq_purchase_refund_provider_id", "provider_refund_id", unique=True,
              postgresql_where=text("provider_refund_id IS NOT NULL")),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase.id", ondelete="CASCADE"))
    amount_cents: Mapped[int] = mapped_column(Integer)
    net_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    creator_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RefundStatus] = mapped_column(Enum(RefundStatus, name="refund_status", native_enum=False, length=16))
    source: Mapped[RefundSource] = mapped_column(Enum(RefundSource, name="refund_source", native_enum=False, length=16))
    idempotency_key: Mapped[str] = mapped_column(String(400))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    succeeded_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class StripeEvent(TimestampMixin, Base):
    """Inbox of verified provider webhooks, stored once by event id before they are handled.
    An event arrives before we know its organization: the inbox is written and read under the platform
    scope, and the handler stamps ``organization_id`` once it knows it (null for events that name none
    of ours), so the organization's own transactions see its events and no other's."""

    __tablename__ = "stripe_event"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(100))
    # Copied out of the payload so refunds and disputes find their purchase by index.
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(100))


class IdempotencyRecord(Base):
    """The first result of a mutation sent with an idempotency key, replayed for retries. It belongs to
    its user and to the organization the request was scoped to (null without one): row-level security
    shows it to that user's and that organization's transactions only (and to the platform-scoped clean-up)."""

    __tablename__ = "idempotency_record"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    operation: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column(index=True)


@strawberry.enum(description="State of access granted to an email address that had no verified account yet.")
class PendingGrantStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Waiting for the address's account to verify its email.")
    CLAIMED = strawberry.enum_value("CLAIMED", description="The account verified its email and received the access.")
    REVOKED = strawberry.enum_value("REVOKED", description="Staff withdrew it before it was claimed.")


class PendingGrant(IdMixin, TimestampMixin, Base):
    """Access granted to an email address; becomes a GRANT purchase when the account with that address
    verifies it (``commerce.grants.claim_for``). Tenant table; the addressee may read its rows."""

    __tablename__ = "pending_grant"
    __table_args__ = (
        Index("uq_pending_grant_open", "content_id", "email", unique=True,
              postgresql_where=text("claimed_at IS NULL AND revoked_at IS NULL")),
        Index("ix_pending_grant_open_email", "email", postgresql_where=text("claimed_at IS NULL AND revoked_at IS NULL")),
        Index("ix_pending_grant_org_created", "organization_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # normalized like account emails (lower-cased)
    note: Mapped[str | None] = mapped_column(Text)
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    claimed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("purchase.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    @property
    def status(self) -> PendingGrantStatus:
        if self.revoked_at is not None:
            return PendingGrantStatus.REVOKED
        return PendingGrantStatus.CLAIMED if self.claimed_at is not None else PendingGrantStatus.PENDING
