"""SQL of creators' monthly statements (earnings/statements.py): the ``creator_statement`` rows and the ledger
entries a statement file lists."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.content.models import Content
from codex_graphql.db import utcnow
from codex_graphql.earnings.models import CreatorEarningSummary, EarningEntry
from codex_graphql.earnings.payout_models import CreatorStatement, StatementStatus
from codex_graphql.pagination import decode_cursor, encode_cursor
from codex_graphql.relay import Page


async def has_creator_rows(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the person ever earned as a creator in the organization (a row of their summary there)."""
    statement = in_organization(select(CreatorEarningSummary.user_id), CreatorEarningSummary, organization_id).where(
        CreatorEarningSummary.user_id == user_id).limit(1)
    return await session.scalar(statement) is not None


async def insert_pending(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                         month: date) -> uuid.UUID | None:
    """A new PENDING statement; None when the person has one for that month already (a concurrent request's
    insert waits for the first one's commit, then gets None)."""
    statement = insert(CreatorStatement).values(
        id=uuid.uuid4(), organization_id=organization_id, user_id=user_id, month=month,
        status=StatementStatus.PENDING,
    ).on_conflict_do_nothing(index_elements=[CreatorStatement.organization_id, CreatorStatement.user_id,
                                             CreatorStatement.month]).returning(CreatorStatement.id)
    return await session.scalar(statement)


async def lock(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
               month: date) -> CreatorStatement | None:
    statement = in_organization(select(CreatorStatement), CreatorStatement, organization_id).where(
        CreatorStatement.user_id == user_id, CreatorStatement.month == month).with_for_update()
    return await session.scalar(statement.execution_options(populate_existing=True))


async def by_id(session: AsyncSession, statement_id: uuid.UUID) -> CreatorStatement | None:
    """A statement the transaction may read: the viewer's own, or one of the active organization's."""
    return await session.scalar(select(CreatorStatement).where(CreatorStatement.id == statement_id))


async def for_job(session: AsyncSession, organization_id: uuid.UUID, statement_id: uuid.UUID) -> CreatorStatement | None:
    statement = in_organization(select(CreatorStatement), CreatorStatement, organization_id).where(
        CreatorStatement.id == statement_id)
    return await session.scalar(statement.execution_options(populate_existing=True))


def _own(user_id: uuid.UUID) -> Any:
    return select(CreatorStatement).where(CreatorStatement.user_id == user_id)


async def own_page(session: AsyncSession, user_id: uuid.UUID, first: int,
                   after: str | None) -> Page[CreatorStatement]:
    """The person's statements in every organization, most recently requested first."""
    statement = _own(user_id)
    if after:
        requested_at, id_ = decode_cursor(after)
        statement = statement.where(or_(CreatorStatement.requested_at < requested_at,
                                        and_(CreatorStatement.requested_at == requested_at, CreatorStatement.id < id_)))
    rows = list((await session.scalars(statement.order_by(CreatorStatement.requested_at.desc(),
                                                           CreatorStatement.id.desc()).limit(first + 1))).all())
    return Page(items=rows[:first], cursors=[encode_cursor(r.requested_at, r.id) for r in rows[:first]],
                has_next_page=len(rows) > first, has_previous_page=bool(after))


async def own_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(_own(user_id).with_only_columns(func.count())) or 0)


async def restart(session: AsyncSession, row: CreatorStatement) -> None:
    """A locked statement written again: PENDING, requested now."""
    row.status, row.requested_at, row.ready_at, row.error, row.rows = StatementStatus.PENDING, utcnow(), None, None, None
    await session.flush()


async def mark_ready(session: AsyncSession, organization_id: uuid.UUID, statement_id: uuid.UUID, storage_key: str,
                     rows: int) -> None:
    await session.execute(update(CreatorStatement).where(
        CreatorStatement.organization_id == organization_id, CreatorStatement.id == statement_id,
    ).values(status=StatementStatus.READY, storage_key=storage_key, rows=rows, ready_at=utcnow(), error=None))


async def mark_failed(session: AsyncSession, organization_id: uuid.UUID, statement_id: uuid.UUID,
                      error: str) -> bool:
    """FAILED, when still PENDING (a statement written meanwhile stays READY)."""
    result = await session.execute(update(CreatorStatement).where(
        CreatorStatement.organization_id == organization_id, CreatorStatement.id == statement_id,
        CreatorStatement.status == StatementStatus.PENDING,
    ).values(status=StatementStatus.FAILED, error=error[:2000]).returning(CreatorStatement.id))
    return result.first() is not None


async def entries(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, start: datetime,
                  end: datetime) -> AsyncIterator[Any]:
    """The person's ledger entries in the organization recorded in [start, end), oldest first, streamed from a
    server-side cursor: (created_at, kind, content_id, title, purchase_id, refund_id, basis_cents, amount_cents,
    currency)."""
    e = EarningEntry
    statement = in_organization(
        select(e.created_at, e.kind, e.content_id, Content.title, e.purchase_id, e.refund_id, e.basis_cents,
               e.amount_cents, e.currency).outerjoin(Content, Content.id == e.content_id),
        e, organization_id,
    ).where(e.user_id == user_id, e.created_at >= start, e.created_at < end).order_by(e.created_at, e.id)
    result = await session.stream(statement.execution_options(yield_per=500))
    async for row in result:
        yield row


__all__ = ["by_id", "entries", "for_job", "has_creator_rows", "insert_pending", "lock", "mark_failed", "mark_ready",
           "own_count", "own_page", "restart"]
