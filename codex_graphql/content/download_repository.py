"""SQL for download counters. Statements are scoped by the viewer's own user id (the counter belongs
to their active entitlement); RLS (migration 0012) lets a user write only their own counters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.content import access
from codex_graphql.content.download_models import DownloadCounter
from codex_graphql.content.models import ContentEntitlement


def _active_entitlement(user_id: uuid.UUID, content_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return select(ContentEntitlement).where(
        access.entitled_clause(user_id), ContentEntitlement.content_id == content_id)


async def ensure_counter(session: AsyncSession, user_id: uuid.UUID, content_id: uuid.UUID) -> None:
    """The counter of the viewer's active entitlement to the item, created at zero when missing."""
    entitlement = _active_entitlement(user_id, content_id).subquery()
    source = select(
        func.gen_random_uuid(), entitlement.c.organization_id, entitlement.c.id, entitlement.c.user_id,
        entitlement.c.content_id, literal(0),
    )
    statement = insert(DownloadCounter).from_select(
        ["id", "organization_id", "entitlement_id", "user_id", "content_id", "used"], source
    ).on_conflict_do_nothing(index_elements=[DownloadCounter.entitlement_id])
    await session.execute(statement)


async def take(session: AsyncSession, user_id: uuid.UUID, content_id: uuid.UUID, limit: int | None,
               window_ends: datetime, *, reuse_before: datetime | None = None) -> tuple[int, datetime] | None:
    """Count one download and open a URL window, only while ``used < limit``: one conditional UPDATE, so
    concurrent requests queue on the row and re-check the condition. With ``reuse_before`` it counts only
    when no window is open at that instant. None when nothing was counted."""
    active = _active_entitlement(user_id, content_id).with_only_columns(ContentEntitlement.id).scalar_subquery()
    conditions = [DownloadCounter.entitlement_id == active, DownloadCounter.user_id == user_id]
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
    active = _active_entitlement(user_id, content_id).with_only_columns(ContentEntitlement.id).scalar_subquery()
    row = (await session.execute(
        select(DownloadCounter.used, DownloadCounter.window_expires_at)
        .where(DownloadCounter.entitlement_id == active, DownloadCounter.user_id == user_id)
    )).one_or_none()
    return (row[0], row[1]) if row else None
