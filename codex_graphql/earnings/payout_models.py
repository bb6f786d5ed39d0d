"""Payout tables (migration 0038): a person's Stripe Connect account, payouts to creators and their monthly
statements.

``creator_payout_account`` is one connected (Express) account per person, used by every organization that pays
them; its owner reads and creates it, ``account.updated`` webhooks keep it under the platform scope.
``payout`` is one transfer per organization, creator, currency and payout period: PENDING while reserved (its
amount is no longer part of the creator's balance), PAID with the transfer's id, FAILED with the reason (the
amount returns to the balance). ``creator_statement`` is a creator's statement file for one month, written by a
job. Both are tenant tables a creator also reads in every organization.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, utcnow


@strawberry.enum(description="Where a payout stands.")
class PayoutStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Reserved from the balance; the transfer is being made.")
    PAID = strawberry.enum_value("PAID", description="Transferred to the creator's connected account.")
    FAILED = strawberry.enum_value("FAILED", description="Not transferred (see `failureReason`); the amount is back "
                                   "in the balance and the next payout run tries again.")


@strawberry.enum(description="Where a creator's statement file stands.")
class StatementStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Requested; a job is writing the file.")
    READY = strawberry.enum_value("READY", description="Written; `url` downloads it.")
    FAILED = strawberry.enum_value("FAILED", description="The job gave up; request it again.")


class CreatorPayoutAccount(Base):
    __tablename__ = "creator_payout_account"
    __table_args__ = (UniqueConstraint("provider", "account_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(255))
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    transfers_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    requirements: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class Payout(IdMixin, Base):
    __tablename__ = "payout"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="positive"),
        CheckConstraint("(status = 'PAID') = (transfer_id IS NOT NULL AND paid_at IS NOT NULL)", name="paid_shape"),
        UniqueConstraint("organization_id", "user_id", "currency", "period_start"),
        Index("ix_payout_org_created", "organization_id", "created_at", "id"),
        Index("ix_payout_user_created", "user_id", "created_at", "id"),
        Index("ix_payout_pending", "organization_id", postgresql_where=text("status = 'PENDING'")),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[PayoutStatus] = mapped_column(Enum(PayoutStatus, name="payout_status", native_enum=False,
                                                      length=16))
    period_start: Mapped[date] = mapped_column(Date)
    # Each attempt's transfer is keyed ``payout:<id>:<attempt>`` (Stripe keeps a refused key's answer for 24 h).
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    account_id: Mapped[str | None] = mapped_column(String(255))
    transfer_id: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class CreatorStatement(IdMixin, Base):
    __tablename__ = "creator_statement"
    __table_args__ = (
        CheckConstraint("extract(day FROM month) = 1", name="first_of_month"),
        UniqueConstraint("organization_id", "user_id", "month"),
        Index("ix_creator_statement_user", "user_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)
    status: Mapped[StatementStatus] = mapped_column(Enum(StatementStatus, name="statement_status", native_enum=False,
                                                         length=16))
    storage_key: Mapped[str | None] = mapped_column(String(512))
    rows: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    ready_at: Mapped[datetime | None]


__all__ = ["CreatorPayoutAccount", "CreatorStatement", "Payout", "PayoutStatus", "StatementStatus"]
