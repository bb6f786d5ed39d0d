"""Subscription tiers, the categories they grant and their prices.

``subscription_tier`` is what an organization sells by the month or the year: the content it grants (every
item, or the items of some categories), offering access and monthly credits under a credit policy
(``credits.models.CreditPolicy``). Its status goes DRAFT <-> PUBLISHED -> ARCHIVED (archived is final).
``subscription_tier_category`` links a tier to categories of the same organization (composite foreign keys
on ``(…, organization_id)``: a link across organizations is impossible). ``subscription_tier_price`` keeps
every price a tier ever had: a price change inserts a new row and deactivates the old one, which stays for
the subscribers who pay it; at most one active row per tier and interval.

Each tier maps to a provider (Stripe) product and each price row to a provider price. Their ids are written
after the provider call, in a second short transaction (no network call inside an open transaction): a row
with a null provider id is work left by a crash or a provider failure, which the next change of the tier
completes (``service.pending_work``), with idempotency keys derived from the row ids so a retry reuses
the same provider objects. ``provider_archived_at`` records that a deactivated price (or an archived
tier's product) was archived at the provider too.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import strawberry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.credits.models import CreditPolicy
from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow


@strawberry.enum(description="Where a subscription tier is in its life.")
class SubscriptionTierStatus(enum.Enum):
    DRAFT = strawberry.enum_value("DRAFT", description="Being prepared: only staff with SUBSCRIPTIONS_MANAGE see it; "
                                  "nobody can subscribe.")
    PUBLISHED = strawberry.enum_value("PUBLISHED", description="On sale: everyone sees it on the organization's "
                                      "storefront and may subscribe.")
    ARCHIVED = strawberry.enum_value("ARCHIVED", description="Withdrawn for good: no new subscribers; existing "
                                     "subscribers keep it. It can no longer be changed.")


@strawberry.enum(description="How often a subscription price is billed.")
class BillingInterval(enum.Enum):
    MONTH = strawberry.enum_value("MONTH", description="Every month.")
    YEAR = strawberry.enum_value("YEAR", description="Every year.")


class SubscriptionTier(IdMixin, TimestampMixin, Base):
    """A tier of an organization's subscriptions. Tenant table; published tiers are public (migration 0023)."""

    __tablename__ = "subscription_tier"
    __table_args__ = (
        UniqueConstraint("id", "organization_id"),  # the target of the links' composite keys
        UniqueConstraint("organization_id", "creation_key"),
        CheckConstraint("trial_days BETWEEN 0 AND 730", name="trial_days_range"),
        CheckConstraint("monthly_credits BETWEEN 0 AND 1000000", name="monthly_credits_range"),
        CheckConstraint("credit_rollover_cap IS NULL OR credit_rollover_cap BETWEEN 0 AND 1000000",
                        name="credit_rollover_cap_range"),
        CheckConstraint("(status = 'ARCHIVED') = (archived_at IS NOT NULL)", name="archived_at_with_status"),
        Index("ix_subscription_tier_org_position", "organization_id", "position", "name", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[SubscriptionTierStatus] = mapped_column(
        Enum(SubscriptionTierStatus, name="subscription_tier_status", native_enum=False, length=16),
        default=SubscriptionTierStatus.DRAFT, server_default="DRAFT")
    trial_days: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    all_content: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    offering_access: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    monthly_credits: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    credit_policy: Mapped[CreditPolicy] = mapped_column(
        Enum(CreditPolicy, name="credit_policy", native_enum=False, length=16),
        default=CreditPolicy.EXPIRE_MONTHLY, server_default="EXPIRE_MONTHLY")
    credit_rollover_cap: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    # The caller's idempotency key of createSubscriptionTier: a retry returns this tier.
    creation_key: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    provider_archived_at: Mapped[datetime | None]  # the product archived at the provider (after archived_at)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class SubscriptionTierCategory(Base):
    """One category a tier grants (same organization). Tenant table; readable with its tier."""

    __tablename__ = "subscription_tier_category"
    __table_args__ = (
        ForeignKeyConstraint(["tier_id", "organization_id"],
                             ["subscription_tier.id", "subscription_tier.organization_id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["category_id", "organization_id"], ["category.id", "category.organization_id"],
                             ondelete="CASCADE"),
        Index("ix_subscription_tier_category_category", "category_id", "tier_id"),
        Index("ix_subscription_tier_category_organization_id", "organization_id"),
    )

    tier_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))


class SubscriptionTierPrice(IdMixin, TimestampMixin, Base):
    """One price a tier had or has for one interval. Never deleted: subscribers keep the price they pay.
    Tenant table; readable with its tier."""

    __tablename__ = "subscription_tier_price"
    __table_args__ = (
        ForeignKeyConstraint(["tier_id", "organization_id"],
                             ["subscription_tier.id", "subscription_tier.organization_id"], ondelete="CASCADE"),
        CheckConstraint("amount_cents BETWEEN 1 AND 10000000", name="amount_cents_range"),
        CheckConstraint("active = (deactivated_at IS NULL)", name="deactivated_at_when_inactive"),
        Index("ix_subscription_tier_price_tier", "tier_id", "created_at"),
        Index("ix_subscription_tier_price_organization_id", "organization_id"),
        Index("uq_subscription_tier_price_active_interval", "tier_id", "interval", unique=True,
              postgresql_where=text("active")),
        UniqueConstraint("stripe_price_id"),
    )

    tier_id: Mapped[uuid.UUID] = mapped_column()
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    interval: Mapped[BillingInterval] = mapped_column(
        Enum(BillingInterval, name="billing_interval", native_enum=False, length=8))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    stripe_price_id: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    deactivated_at: Mapped[datetime | None]
    provider_archived_at: Mapped[datetime | None]  # archived at the provider too (after deactivated_at)


@strawberry.enum(description="Where a customer's subscription is, as the payment provider (Stripe Billing) reports it.")
class SubscriptionStatus(enum.Enum):
    TRIALING = strawberry.enum_value("TRIALING", description="In the free trial: grants the tier; the first payment "
                                     "is taken when the trial ends.")
    ACTIVE = strawberry.enum_value("ACTIVE", description="Paid up: grants the tier.")
    PAST_DUE = strawberry.enum_value("PAST_DUE", description="A renewal payment failed and is being retried: grants "
                                     "the tier for the organization's grace period, then no longer.")
    CANCELED = strawberry.enum_value("CANCELED", description="Ended: grants nothing (final).")
    INCOMPLETE = strawberry.enum_value("INCOMPLETE", description="Not started yet (checkout not completed, or the "
                                       "first payment needs the customer): grants nothing.")


LIVE_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


class Subscription(IdMixin, TimestampMixin, Base):
    """A customer's subscription to a tier (migration 0024). Tenant table; the customer reads their own rows, the
    platform scope (periodic jobs' work lists) every row.
    ``access_until`` (null: no access) is what the access rule reads; ``state_*`` order the states applied."""

    __tablename__ = "subscription"
    __table_args__ = (
        ForeignKeyConstraint(["tier_id", "organization_id"],
                             ["subscription_tier.id", "subscription_tier.organization_id"], ondelete="CASCADE"),
        UniqueConstraint("organization_id", "user_id", "checkout_key"),
        UniqueConstraint("stripe_subscription_id"),
        Index("ix_subscription_user_access", "user_id", "organization_id", "access_until"),
        Index("ix_subscription_org_tier", "organization_id", "tier_id"),
        Index("ix_subscription_tier_id", "tier_id"),
        # The periodic jobs' work lists (migration 0027): reconciliation and dunning reminders.
        Index("ix_subscription_live_period_end", "current_period_end", postgresql_where=text(
            "status IN ('TRIALING', 'ACTIVE', 'PAST_DUE') AND stripe_subscription_id IS NOT NULL")),
        Index("ix_subscription_incomplete_updated", "updated_at", postgresql_where=text(
            "status = 'INCOMPLETE' AND stripe_subscription_id IS NOT NULL")),
        Index("ix_subscription_reminder_due", "access_until", postgresql_where=text(
            "status = 'PAST_DUE' AND dunning_reminder_sent_at IS NULL")),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    tier_id: Mapped[uuid.UUID] = mapped_column()
    interval: Mapped[BillingInterval] = mapped_column(
        Enum(BillingInterval, name="billing_interval", native_enum=False, length=8))
    status: Mapped[SubscriptionStatus] = mapped_column(
        Enum(SubscriptionStatus, name="subscription_status", native_enum=False, length=16),
        default=SubscriptionStatus.INCOMPLETE, server_default="INCOMPLETE")
    checkout_key: Mapped[str] = mapped_column(String(200))
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_id: Mapped[str | None] = mapped_column(String(255))
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    trial_end: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    past_due_since: Mapped[datetime | None]
    access_until: Mapped[datetime | None]
    state_ended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    state_period_start: Mapped[datetime | None]
    state_at: Mapped[datetime | None]
    # Milestones (migration 0027): set once by a database trigger, never by the application.
    started_at: Mapped[datetime | None]
    trial_started_at: Mapped[datetime | None]
    converted_at: Mapped[datetime | None]
    churned_at: Mapped[datetime | None]
    dunning_reminder_sent_at: Mapped[datetime | None]  # the reminder before grace ends, once per past-due episode
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class SubscriptionInvoice(IdMixin, TimestampMixin, Base):
    """A paid invoice of a subscription (``invoice.paid``, once per provider invoice): recurring revenue.
    Tenant table; the customer reads their own. Kept when the customer or the subscription is deleted."""

    __tablename__ = "subscription_invoice"
    __table_args__ = (
        CheckConstraint("amount_paid_cents >= 0 AND tax_cents >= 0 AND tax_cents <= amount_paid_cents",
                        name="amounts"),
        UniqueConstraint("stripe_invoice_id"),
        Index("ix_subscription_invoice_org_paid", "organization_id", "paid_at"),
        Index("ix_subscription_invoice_subscription", "subscription_id"),
        Index("ix_subscription_invoice_user", "user_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscription.id", ondelete="SET NULL"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    tier_id: Mapped[uuid.UUID | None]
    stripe_invoice_id: Mapped[str] = mapped_column(String(255))
    billing_reason: Mapped[str | None] = mapped_column(String(40))
    amount_paid_cents: Mapped[int] = mapped_column(BigInteger)
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime]


class SubscriptionTierSummary(Base):
    """Per organization and tier: subscriptions by live status now and the tier's MRR (minor units; annual
    prices as a twelfth). Written only by triggers on ``subscription`` (migration 0027)."""

    __tablename__ = "subscription_tier_summary"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    tier_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    trialing: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    active: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    past_due: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    mrr_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class SubscriberSummary(Base):
    """Per organization and customer: live subscriptions (what ``analytics_totals.subscribers`` counts).
    Written only by triggers on ``subscription`` (migration 0027)."""

    __tablename__ = "subscriber_summary"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    live: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
