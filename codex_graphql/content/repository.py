"""SQL for content, entitlements and playback positions. Every statement is scoped with
``in_organization`` or by the viewer's own user id; RLS enforces the same below."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.content import access, filters
from codex_graphql.content.models import (
    Content,
    ContentEntitlement,
    ContentKind,
    ContentStatus,
    PlaybackPosition,
)
from codex_graphql.db import utcnow
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page


def _catalogue(organization_id: uuid.UUID, *, staff: bool, kind: ContentKind | None, tag: str | None,
               search: str | None, status: ContentStatus | None) -> Any:
    """The organization's list as ``access.listed_clause`` admits it, narrowed by ``content.filters``
    (the values already normalized by ``filters.normalize``)."""
    statement = in_organization(select(Content), Content, organization_id).where(access.listed_clause(staff))
    narrow = filters.CatalogueFilter(kind=kind, tag=tag or None, search=search or None, status=status)
    return statement.where(*filters.conditions(narrow, staff=staff))


async def catalogue_page(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool, first: int,
                         after: str | None, **filters: Any) -> Page[Content]:
    statement = _catalogue(organization_id, staff=staff, **filters)
    return await keyset_page(session, statement, created_col=Content.created_at, id_col=Content.id,
                             first=first, after=after)


async def catalogue_count(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool, **filters: Any) -> int:
    statement = _catalogue(organization_id, staff=staff, **filters).with_only_columns(func.count())
    return int(await session.scalar(statement) or 0)


async def by_id(session: AsyncSession, content_id: uuid.UUID) -> Content | None:
    """A live (not deleted) item RLS lets this transaction see: what can still be bought or watched for."""
    return await session.scalar(select(Content).where(Content.id == content_id, Content.deleted_at.is_(None)))


async def readable_by_id(session: AsyncSession, content_id: uuid.UUID) -> Content | None:
    """Any item RLS lets this transaction see, deleted ones included (the organization's, the published
    catalogue, the viewer's entitled items); the caller applies ``access.may_read``."""
    return await session.scalar(select(Content).where(Content.id == content_id))


async def for_update(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> Content | None:
    statement = in_organization(select(Content), Content, organization_id).where(
        Content.id == content_id, Content.deleted_at.is_(None)
    )
    return await session.scalar(statement.with_for_update())


async def abandoned_uploads(session: AsyncSession, organization_id: uuid.UUID, now: datetime, limit: int) -> list[Content]:
    statement = in_organization(select(Content), Content, organization_id).where(
        Content.status == ContentStatus.UPLOADING, Content.upload_expires_at < now
    )
    return list((await session.scalars(statement.limit(limit).with_for_update(skip_locked=True))).all())


async def entitled_content_ids(session: AsyncSession, user_id: uuid.UUID, content_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(ContentEntitlement.content_id).where(
            access.entitled_clause(user_id), ContentEntitlement.content_id.in_(content_ids))
    )
    return set(rows.all())


async def positions(session: AsyncSession, user_id: uuid.UUID, content_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    rows = await session.execute(
        select(PlaybackPosition.content_id, PlaybackPosition.position_seconds).where(
            PlaybackPosition.user_id == user_id, PlaybackPosition.content_id.in_(content_ids)
        )
    )
    return {content_id: position for content_id, position in rows.all()}


async def save_position(session: AsyncSession, user_id: uuid.UUID, content: Content, position: float) -> None:
    statement = insert(PlaybackPosition).values(
        user_id=user_id, content_id=content.id, organization_id=content.organization_id, position_seconds=position
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[PlaybackPosition.user_id, PlaybackPosition.content_id],
            set_={"position_seconds": statement.excluded.position_seconds, "updated_at": utcnow()},
        )
    )


async def set_status(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, **values: Any) -> None:
    statement = update(Content).where(Content.id == content_id, Content.organization_id == organization_id)
    await session.execute(statement.values(**values))


async def by_ids_for_history(session: AsyncSession, content_ids: list[uuid.UUID]) -> list[Content]:
    """Items named by purchase history, as RLS lets the viewer see them: published live items, any item
    of the active organization for its staff, and the items the viewer is entitled to even when
    unpublished or deleted. Others are null (the purchase keeps its own title snapshot)."""
    return list((await session.scalars(select(Content).where(Content.id.in_(content_ids)))).all())


async def purgeable(session: AsyncSession, organization_id: uuid.UUID, deleted_before: datetime, limit: int) -> list[Content]:
    """Items deleted before ``deleted_before`` whose files are still kept although no active entitlement
    remains (locked; rows another clean-up pass holds are skipped)."""
    entitled = select(ContentEntitlement.id).where(
        ContentEntitlement.content_id == Content.id, access.active_entitlement()).exists()
    statement = in_organization(select(Content), Content, organization_id).where(
        Content.deleted_at < deleted_before, Content.purged_at.is_(None), ~entitled
    )
    return list((await session.scalars(statement.limit(limit).with_for_update(of=Content, skip_locked=True))).all())
