"""SQL for the credits ledger. Statements on the tenant tables are scoped with ``in_organization`` (or by the
customer's own ``user_id`` for their reads across organizations); RLS (migration 0022) enforces the boundary
below. Writers lock the customer's ``credit_balance`` row first, so every change of one customer's credits in
one organization is serialized on that row (and lots are only touched while it is held)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.credits.models import CreditBalance, CreditLot, CreditTransaction
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page


async def lock_balance(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """The customer's balance, row-locked until the transaction ends (the row is made at 0 the first time;
    a concurrent first writer waits for the other's insert, then locks the row)."""
    await session.execute(insert(CreditBalance).values(organization_id=organization_id, user_id=user_id, balance=0)
                          .on_conflict_do_nothing(index_elements=[CreditBalance.organization_id, CreditBalance.user_id]))
    statement = in_organization(select(CreditBalance.balance), CreditBalance, organization_id).where(
        CreditBalance.user_id == user_id).with_for_update()
    return int((await session.execute(statement)).scalar_one())


async def set_balance(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, balance: int) -> None:
    await session.execute(update(CreditBalance).where(
        CreditBalance.organization_id == organization_id, CreditBalance.user_id == user_id,
    ).values(balance=balance, updated_at=func.clock_timestamp()))


async def by_key(session: AsyncSession, organization_id: uuid.UUID, key: str) -> CreditTransaction | None:
    statement = in_organization(select(CreditTransaction), CreditTransaction, organization_id).where(
        CreditTransaction.idempotency_key == key)
    return await session.scalar(statement)


async def by_id(session: AsyncSession, organization_id: uuid.UUID, transaction_id: uuid.UUID) -> CreditTransaction | None:
    statement = in_organization(select(CreditTransaction), CreditTransaction, organization_id).where(
        CreditTransaction.id == transaction_id)
    return await session.scalar(statement)


async def own_by_id(session: AsyncSession, user_id: uuid.UUID, transaction_id: uuid.UUID) -> CreditTransaction | None:
    """One of the customer's own transactions, in any organization."""
    statement = select(CreditTransaction).where(CreditTransaction.id == transaction_id,
                                                CreditTransaction.user_id == user_id)
    return await session.scalar(statement)


async def insert_transaction(session: AsyncSession, values: dict[str, Any]) -> CreditTransaction | None:
    """Append one row; None when the organization already has a row with this idempotency key (a concurrent
    writer for another customer got there first). ``created_at`` is the database's clock at the insert, taken
    while the balance row is locked: the ledger's order is the order the balance moved in."""
    statement = insert(CreditTransaction).values(**values, created_at=func.clock_timestamp()).on_conflict_do_nothing(
        index_elements=[CreditTransaction.organization_id, CreditTransaction.idempotency_key]
    ).returning(CreditTransaction)
    return (await session.execute(statement.execution_options(populate_existing=True))).scalar_one_or_none()


async def insert_lot(session: AsyncSession, lot_id: uuid.UUID, organization_id: uuid.UUID, user_id: uuid.UUID,
                     expires_at: datetime, remaining: int) -> None:
    await session.execute(insert(CreditLot).values(id=lot_id, organization_id=organization_id, user_id=user_id,
                                                   expires_at=expires_at, remaining=remaining))


async def live_lots(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> list[CreditLot]:
    """The customer's lots with credits left, soonest expiry first, locked (the caller holds the balance row)."""
    statement = in_organization(select(CreditLot), CreditLot, organization_id).where(
        CreditLot.user_id == user_id, CreditLot.remaining > 0,
    ).order_by(CreditLot.expires_at, CreditLot.id).with_for_update()
    return list((await session.scalars(statement.execution_options(populate_existing=True))).all())


async def lots_by_id(session: AsyncSession, organization_id: uuid.UUID, lot_ids: Sequence[uuid.UUID]) -> list[CreditLot]:
    statement = in_organization(select(CreditLot), CreditLot, organization_id).where(
        CreditLot.id.in_(lot_ids)).order_by(CreditLot.expires_at, CreditLot.id).with_for_update()
    return list((await session.scalars(statement.execution_options(populate_existing=True))).all())


async def set_lot_remaining(session: AsyncSession, organization_id: uuid.UUID, lot_id: uuid.UUID, remaining: int) -> None:
    await session.execute(update(CreditLot).where(CreditLot.organization_id == organization_id, CreditLot.id == lot_id)
                          .values(remaining=remaining))


async def due_owners(session: AsyncSession, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization, customer) pairs holding lots due at ``now`` with credits left: the expiry job's work list,
    read under the platform scope (every organization's lots), oldest due first."""
    statement = select(CreditLot.organization_id, CreditLot.user_id).where(
        CreditLot.expires_at <= now, CreditLot.remaining > 0,
    ).group_by(CreditLot.organization_id, CreditLot.user_id).order_by(func.min(CreditLot.expires_at)).limit(limit)
    return [(org, user) for org, user in (await session.execute(statement)).all()]


async def balance_of(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """The balance (0 without any transaction), no lock: for reads."""
    statement = in_organization(select(CreditBalance.balance), CreditBalance, organization_id).where(
        CreditBalance.user_id == user_id)
    return int(await session.scalar(statement) or 0)


def _own(organization_id: uuid.UUID | None, user_id: uuid.UUID) -> Any:
    statement = select(CreditTransaction).where(CreditTransaction.user_id == user_id)
    return in_organization(statement, CreditTransaction, organization_id) if organization_id else statement


async def user_page(session: AsyncSession, organization_id: uuid.UUID | None, user_id: uuid.UUID, first: int,
                    after: str | None) -> Page[CreditTransaction]:
    """The customer's own transactions (in one organization, or in all), newest first."""
    return await keyset_page(session, _own(organization_id, user_id), created_col=CreditTransaction.created_at,
                             id_col=CreditTransaction.id, first=first, after=after)


async def user_count(session: AsyncSession, organization_id: uuid.UUID | None, user_id: uuid.UUID) -> int:
    statement = _own(organization_id, user_id).with_only_columns(func.count()).order_by(None)
    return int(await session.scalar(statement) or 0)
