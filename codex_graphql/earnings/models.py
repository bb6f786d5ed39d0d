"""Creators' earnings (migration 0036): co-creators of an item, the append-only earnings ledger and its per
creator summary.

``content_contributor`` names an item's co-creators and their percent of the creators' share (together at
most 100, checked at commit); the item's creator keeps the rest of that share. ``earning_entry`` is the
ledger: one row per party (platform, organization, each creator) of every sale and every refund or lost
dispute piece, in integer cents (negative for what a refund takes back), divided by ``earnings.split``;
rows are never updated or deleted (the table's privileges allow INSERT and SELECT only). A sale's rows keep
the party's weight, from which its refunds are divided. ``creator_earning_summary`` holds each creator's
totals per organization and currency, kept by a trigger on the ledger, so reading them costs one row.
Tenant tables; a creator also reads their own rows in every organization.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import strawberry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, utcnow
from codex_graphql.earnings.split import PartyKind


@strawberry.enum(description="What an earning entry records.")
class EarningKind(enum.Enum):
    SALE = strawberry.enum_value("SALE", description="A party's part of a completed sale (net of tax).")
    REFUND = strawberry.enum_value("REFUND", description="What a refund (full or partial) took back from a party.")
    DISPUTE = strawberry.enum_value("DISPUTE", description="What a lost dispute (chargeback) took back from a party.")
    SUBSCRIPTION = strawberry.enum_value(
        "SUBSCRIPTION", description="A party's part of a period's subscription revenue: the platform fee, a creator's "
        "part of the organization's creator pool (divided by plays) or the organization's rest.")


class ContentContributor(Base):
    __tablename__ = "content_contributor"
    __table_args__ = (
        CheckConstraint("share_percent BETWEEN 1 AND 100", name="share_percent_range"),
        Index("ix_content_contributor_user", "user_id"),
        Index("ix_content_contributor_organization_id", "organization_id"),
    )

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    share_percent: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class EarningEntry(IdMixin, Base):
    __tablename__ = "earning_entry"
    __table_args__ = (
        CheckConstraint("(party = 'CREATOR') = (user_id IS NOT NULL)", name="creator_has_user"),
        CheckConstraint("(kind = 'SALE') = (amount_cents >= 0 AND weight IS NOT NULL)", name="sale_shape"),
        # One row per party of a sale and of a refund piece: recording twice is refused (idempotent writers).
        Index("uq_earning_entry_sale", "purchase_id", "party", "user_id", unique=True,
              postgresql_nulls_not_distinct=True, postgresql_where=text("kind = 'SALE'")),
        Index("uq_earning_entry_refund", "refund_id", "party", "user_id", unique=True,
              postgresql_nulls_not_distinct=True, postgresql_where=text("refund_id IS NOT NULL")),
        Index("ix_earning_entry_org_created", "organization_id", "created_at", "id"),
        Index("ix_earning_entry_user_created", "user_id", "created_at", "id", postgresql_where=text("user_id IS NOT NULL")),
        CheckConstraint("(kind = 'SUBSCRIPTION') = (period_start IS NOT NULL)", name="subscription_period"),
        # One row per party, item and currency of a closed subscription pool period (migration 0038).
        Index("uq_earning_entry_subscription", "organization_id", "period_start", "currency", "party", "user_id",
              "content_id", unique=True, postgresql_nulls_not_distinct=True,
              postgresql_where=text("kind = 'SUBSCRIPTION'")),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("purchase.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("purchase_refund.id"))
    content_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("content.id", ondelete="SET NULL"))
    kind: Mapped[EarningKind] = mapped_column(Enum(EarningKind, name="earning_kind", native_enum=False, length=16))
    party: Mapped[PartyKind] = mapped_column(Enum(PartyKind, name="earning_party", native_enum=False, length=16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    weight: Mapped[int | None] = mapped_column(Integer)  # SALE rows: the party's share in millionths
    # The whole this row is a part of: a sale's net, a refund piece's net, a pool period's revenue.
    basis_cents: Mapped[int | None] = mapped_column(BigInteger)
    period_start: Mapped[date | None] = mapped_column(Date)  # SUBSCRIPTION rows: the pool period
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


def balance(earned: int, refunded: int, pool: int, pending_payout: int, paid_out: int) -> int:
    """What an organization owes a creator in a currency: earned (sales and pool parts) less refunds, pending and
    paid-out payouts; negative when a refund followed a payout. The payout job's SQL form is
    ``payout_repository._PAYABLE`` (which also holds back recent earnings)."""
    return earned - refunded + pool - pending_payout - paid_out


class CreatorEarningSummary(Base):
    __tablename__ = "creator_earning_summary"
    __table_args__ = (Index("ix_creator_earning_summary_user", "user_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"),
                                                       primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sales: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    earned_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    pool_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # The gross (net of tax) of the sales the creator had a part of, and what refunds returned of it (0038).
    gross_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    refunded_gross_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    pending_payout_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    paid_out_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))

    @property
    def balance_cents(self) -> int:
        return balance(self.earned_cents, self.refunded_cents, self.pool_cents, self.pending_payout_cents,
                       self.paid_out_cents)


class CreatorItemDaily(Base):
    """Per creator, item, UTC day and currency (migration 0038, kept by the ledger's trigger): the item's sales
    and their gross net of tax, and the creator's part of them, of refunds and of the subscription pool."""

    __tablename__ = "creator_item_daily"
    __table_args__ = (Index("ix_creator_item_daily_user_day", "user_id", "day"),
                      Index("ix_creator_item_daily_org_day", "organization_id", "day"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"),
                                                       primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sales: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    gross_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    earned_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    pool_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class ContentPlayDaily(Base):
    """Per item and UTC day (migration 0038, kept by triggers on ``content_view`` and ``playback_position``):
    plays (one per viewer and hour) and completions (a position crossing 90 % of the duration)."""

    __tablename__ = "content_play_daily"
    __table_args__ = (Index("ix_content_play_daily_content_day", "content_id", "day"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"),
                                                       primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    plays: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    completions: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class CreatorPoolPeriod(Base):
    """A subscription pool period a job closed (one per organization, period and currency): the period's
    subscription revenue net of tax, the platform's fee of it, the creators' pool and the plays it was divided by."""

    __tablename__ = "creator_pool_period"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"),
                                                       primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    revenue_cents: Mapped[int] = mapped_column(BigInteger)
    platform_cents: Mapped[int] = mapped_column(BigInteger)
    pool_cents: Mapped[int] = mapped_column(BigInteger)
    plays: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class PlatformSettings(Base):
    """The one row of platform-wide settings (``id`` is always true): read by everyone, changed by platform
    owners under the platform scope."""

    __tablename__ = "platform_settings"
    __table_args__ = (
        CheckConstraint("id", name="single_row"),
        CheckConstraint("platform_fee_percent BETWEEN 0 AND 100", name="fee_range"),
    )

    id: Mapped[bool] = mapped_column(primary_key=True, default=True, server_default=text("true"))
    platform_fee_percent: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
