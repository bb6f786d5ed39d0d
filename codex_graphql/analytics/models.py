"""Analytics tables. Every one is a tenant table under forced row-level security (migration 0005).

Money columns are minor units **net of tax** (``amount_cents - tax_cents``), the same basis as
``Content.revenueCents`` in commerce. FREE and GRANT purchases count as purchases with 0 revenue.

The three summaries are written only by PL/pgSQL triggers on ``purchase`` (and the rebuild functions; the
subscription columns of ``purchase_daily_stats`` by triggers on ``subscription`` and ``subscription_invoice``),
``analytics_totals`` only by triggers on ``customer_summary``; never by the application, which can only read them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, TimestampMixin


class ContentView(TimestampMixin, Base):
    """A viewer was issued a playback URL for an item, at most one row per viewer, item and hour."""

    __tablename__ = "content_view"

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    # The hour (UTC, truncated) the URL was issued in: the deduplication bucket.
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)


class PurchaseDailyStats(Base):
    """Per organization and local day (the organization's timezone): purchases created that day and
    refunds made that day (a refund counts on the day it happened, not on the purchase's day)."""

    __tablename__ = "purchase_daily_stats"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    purchases: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    gross_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    refunds: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # Subscriptions (migration 0027): invoices paid that day and their revenue net of tax; subscriptions
    # started (first live status), churned (canceled after starting), trials started and converted that day.
    invoices: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    recurring_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    subscriptions_started: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    subscriptions_churned: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    trials_started: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    trials_converted: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class CustomerSummary(Base):
    """Per organization and buyer: every purchase (any kind or status) counts; total spent counts
    completed purchases only (refunds subtract), net of tax."""

    __tablename__ = "customer_summary"
    __table_args__ = (
        Index("ix_customer_summary_last", "organization_id", "last_purchase_at", "user_id"),
        Index("ix_customer_summary_spent", "organization_id", "total_spent_cents", "user_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True)
    first_purchase_at: Mapped[datetime]
    last_purchase_at: Mapped[datetime]
    purchase_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    total_spent_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class ContentSalesSummary(Base):
    """Per organization and item: purchases ever made (refunded ones included), revenue of the
    completed ones net of tax (so refunds subtract), and the number refunded."""

    __tablename__ = "content_sales_summary"
    __table_args__ = (Index("ix_content_sales_summary_revenue", "organization_id", "revenue_cents", "purchases"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True, index=True)
    purchases: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    revenue_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    refunds: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class AnalyticsTotals(Base):
    """Per organization: figures that would otherwise count summary rows on every read. ``customers`` is the
    number of ``customer_summary`` rows, kept by statement triggers on that table (migration 0019), so every
    way a row appears or goes (the purchase trigger, a rebuild, a cascade) moves it exactly once."""

    __tablename__ = "analytics_totals"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    customers: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # Customers with at least one live subscription, and the MRR (migration 0027: triggers on subscription).
    subscribers: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    mrr_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
