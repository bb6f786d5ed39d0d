"""The credits ledger: append-only transactions, the maintained balance and the expiring lots.

Credits are whole numbers (``integer``): no fractions, no rounding anywhere. Every change of a customer's
balance in an organization is one ``credit_transaction`` row (signed ``amount``: grants and refunds
positive, spends and expiries negative, adjustments either) written in the same transaction as the
``credit_balance`` row it moves, so ``balance = SUM(amount)`` always holds (tests check it against the
database). Transactions are append-only (no UPDATE or DELETE grant for the app role, and a trigger refusing
both, migration 0022). Credits granted with an expiry form a ``credit_lot`` whose ``remaining`` spends
consume first (soonest expiry first); what the balance holds beyond the lots never expires.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow


@strawberry.enum(description="What a credit transaction did to the balance.")
class CreditTransactionKind(enum.Enum):
    GRANT = strawberry.enum_value("GRANT", description="Credits given (e.g. a subscription's monthly credits); "
                                  "positive amount.")
    SPEND = strawberry.enum_value("SPEND", description="Credits used (e.g. a booking); negative amount.")
    EXPIRE = strawberry.enum_value("EXPIRE", description="Unused credits that lapsed under the organization's "
                                   "credit policy; negative amount.")
    REFUND = strawberry.enum_value("REFUND", description="A spend given back (e.g. a cancelled booking); positive "
                                   "amount equal to the spend's.")
    ADJUST = strawberry.enum_value("ADJUST", description="A correction by staff (audited); positive or negative.")


@strawberry.enum(description="What happens to unused credits at the end of a billing period.")
class CreditPolicy(enum.Enum):
    EXPIRE_MONTHLY = strawberry.enum_value(
        "EXPIRE_MONTHLY", description="Credits granted for a period expire, unused, at the period's end.")
    ROLLOVER = strawberry.enum_value(
        "ROLLOVER", description="Unused credits carry over; at each period's end the balance above the cap expires.")
    ACCUMULATE = strawberry.enum_value("ACCUMULATE", description="Credits never expire.")


class CreditTransaction(IdMixin, TimestampMixin, Base):
    """One change of one customer's balance in one organization. Append-only. Tenant table; the customer
    reads their own rows in every organization."""

    __tablename__ = "credit_transaction"
    __table_args__ = (
        UniqueConstraint("organization_id", "idempotency_key"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        CheckConstraint(
            "(kind IN ('GRANT', 'REFUND') AND amount > 0) OR (kind IN ('SPEND', 'EXPIRE') AND amount < 0) "
            "OR kind = 'ADJUST'", name="amount_sign"),
        Index("ix_credit_transaction_owner_created", "organization_id", "user_id", "created_at", "id"),
        Index("ix_credit_transaction_user_created", "user_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[CreditTransactionKind] = mapped_column(
        Enum(CreditTransactionKind, name="credit_transaction_kind", native_enum=False, length=16))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # What caused it (``invoice``, ``booking``, ``staff``, ``policy``...) and that thing's id.
    source_type: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str | None] = mapped_column(String(200))
    # Once per organization: a replay with the same key returns the first transaction.
    idempotency_key: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]  # GRANT/REFUND rows whose credits lapse at this moment (a lot)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    # SPEND/EXPIRE: which lots it took credits from ({lot id: credits}); a refund puts them back there.
    lots: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class CreditBalance(Base):
    """The customer's current balance in the organization: the sum of their transactions, never negative."""

    __tablename__ = "credit_balance"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"),
                                                       primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True,
                                               index=True)
    balance: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class CreditLot(Base):
    """Credits that lapse at ``expires_at``: made by a GRANT (or REFUND) with an expiry, consumed by spends
    soonest-expiry first, zeroed by one EXPIRE when due. ``sum(remaining) <= balance`` always."""

    __tablename__ = "credit_lot"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        Index("ix_credit_lot_owner_expires", "organization_id", "user_id", "expires_at"),
        Index("ix_credit_lot_due", "expires_at", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_transaction.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    remaining: Mapped[int] = mapped_column(Integer)
