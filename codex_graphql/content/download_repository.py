"""SQL for download counters. A counter belongs to the row that admits the viewer to the item
(``access.admitting_source``: their active entitlement, else the subscription covering the item, else their
confirmed booking of an offering whose portal holds it); every statement
finds that row in the same statement and is scoped by the viewer's own user id. RLS (migration 0012) lets a user
write only their own counters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Subquery, and_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.content import access
from codex_graphql.content.download_models import DownloadCounter


def _source(user_id: uuid.UUID, content_id: uuid.UUID) -> Subquery:
    return access.admitting_source(user_id, content_id).subquery("source")


def _counter_of(source: Subquery, user_id: uuid.UUID, content_id: uuid.UUID) -> ColumnElement[bool]:
    """The viewer's counter of the source row (a subscription has one counter per item)."""
    return and_(DownloadCounter.user_id == user_id, DownloadCounter.content_id == content_id,
                or_(DownloadCounter.entitlement_id == source.c.entitlement_id,
                    DownloadCounter.subscription_id == source.c.subscription_id,
                    DownloadCounter.booking_id == source.c.booking_id))


async def ensure_counter(session: AsyncSession, user_id: uuid.UUID, content_id: uuid.UUID) -> None:
    """The counter of the source that admits the viewer to the item, created at zero when missing (nothing
    when no source admits them)."""
    source = _source(user_id, content_id)
    rows = select(
        func.gen_random_uuid(), source.c.organization_id, source.c.entitlement_id, source.c.subscription_id,
        source.c.booking_id, literal(user_id, UUID(as_uuid=True)), literal(content_id, UUID(as_uuid=True)),
        literal(0),
    ).where(or_(source.c.entitlement_id.is_not(None), source.c.subscription_id.is_not(None),
                source.c.booking_id.is_not(None)))
    # Any unique key (the entitlement's, or the subscription's and item's): a concurrent request made it first.
    statement = insert(DownloadCounter).from_select(
        ["id", "organization_id", "entitlement_id", "subscription_id", "booking_id", "user_id", "content_id", "used"],
        rows
    ).on_conflict_do_nothing()
    await session.execute(statement)


async def take(session: AsyncSession, user_id: uuid.UUID, content_id: uuid.UUID, limit: int | None,
               window_ends: datetime, *, reuse_before: datetime | None = None) -> tuple[int, datetime] | None:
    """Count one download and open a URL window, only while ``used < limit``: one conditional UPDATE, so
    concurrent requests queue on the row and re-check the condition. With ``reuse_before`` it counts only
    when no window is open at that instant. None when nothing was counted."""
    conditions = [_counter_of(_source(user_id, content_id), user_id, content_id)]
    if limit is not None:
        conditions.append(DownloadCounter.used < limit)
    if reuse_before is not None:
        conditions.append(or_(DownloadCounter.window_expires_at.is_(None),
                              DownloadCounter.window_expires_at <= reuse_before))
    statement = (
        update(DownloadCounter).where(and_(*conditions))
        .values(used=DownloadCounter.used + 1, window_expires_at=window_ends, updated_at=func.now())
        .returning(DownloadCounter.used, DownloadCounter.window_expires_at)
    )
    row = (await session.execute(statement)).one_or_none()
    return (row[0], row[1]) if row else None


async def current(session: AsyncSession, user_id: uuid.UUID, content_id: uuid.UUID) -> tuple[int, datetime | None] | None:
    """(used, window end) of the counter of the source that admits the viewer; None when it has none yet."""
    row = (await session.execute(
        select(DownloadCounter.used, DownloadCounter.window_expires_at)
        .where(_counter_of(_source(user_id, content_id), user_id, content_id))
    )).one_or_none()
    return (row[0], row[1]) if row else None
