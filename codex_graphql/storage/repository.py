"""SQL for the storage clean-up queue (``storage_cleanup``). Writers run in the scope of the row's
organization; ``claim_due`` and ``forget`` run under the platform scope (the hygiene job)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.storage.models import CleanupReason, StorageCleanup


class Doomed(NamedTuple):
    """One claimed row of the queue: what to delete in storage."""

    id: uuid.UUID
    key: str
    prefix: bool
    upload_id: str | None


def schedule(session: AsyncSession, organization_id: uuid.UUID, key: str, reason: CleanupReason, delete_after: datetime,
             *, prefix: bool = False, upload_id: str | None = None) -> None:
    """Queue a delete in the caller's transaction (written with its next flush or commit)."""
    session.add(StorageCleanup(organization_id=organization_id, key=key, reason=reason, delete_after=delete_after,
                               prefix=prefix, upload_id=upload_id))


async def take_back(session: AsyncSession, organization_id: uuid.UUID, key: str) -> bool:
    """The object ``key`` is needed again (a logo upload becomes the logo): drop its queued deletes. False
    when a clean-up pass has claimed one already (the object is being, or has been, deleted). The rows
    are locked first, so a pass claiming them waits for this transaction and then finds them gone."""
    statement = in_organization(select(StorageCleanup), StorageCleanup, organization_id).where(
        StorageCleanup.key == key, StorageCleanup.prefix.is_(False))
    rows = list((await session.scalars(statement.with_for_update())).all())
    if any(row.claimed_at is not None for row in rows):
        return False
    if rows:
        await session.execute(delete(StorageCleanup).where(StorageCleanup.id.in_([row.id for row in rows])))
    return True


async def claim_due(session: AsyncSession, now: datetime, lease: timedelta, limit: int) -> list[Doomed]:
    """Mark up to ``limit`` due rows as being deleted by this pass (rows another pass holds are skipped;
    rows claimed longer ago than ``lease`` by a pass that crashed are taken again)."""
    due = (
        select(StorageCleanup.id)
        .where(StorageCleanup.delete_after <= now,
               (StorageCleanup.claimed_at.is_(None)) | (StorageCleanup.claimed_at < now - lease))
        .order_by(StorageCleanup.delete_after)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(StorageCleanup).where(StorageCleanup.id.in_(due.scalar_subquery())).values(claimed_at=now)
        .returning(StorageCleanup.id, StorageCleanup.key, StorageCleanup.prefix, StorageCleanup.upload_id)
        .execution_options(synchronize_session=False)
    )
    return [Doomed(*row) for row in result.all()]


async def forget(session: AsyncSession, ids: Iterable[uuid.UUID], claimed_at: datetime) -> int:
    """Remove rows whose objects are deleted (only while still held by the claim that deleted them)."""
    ids = list(ids)
    if not ids:
        return 0
    result = await session.execute(
        delete(StorageCleanup).where(StorageCleanup.id.in_(ids), StorageCleanup.claimed_at == claimed_at)
        .returning(StorageCleanup.id)
    )
    return len(result.all())
