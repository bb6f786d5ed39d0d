"""SQL for content, entitlements and playback positions. Every statement is scoped with
``in_organization`` or by the viewer's own user id; RLS enforces the same below."""

from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import datetime
from functools import cache, partial
from typing import Any, cast

from sqlalchemy import DateTime, Integer, and_, any_, bindparam, func, or_, select, type_coerce, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from codex_graphql.authz import in_organization
from codex_graphql.content import access, filters
from codex_graphql.content.models import (
    Content,
    ContentEntitlement,
    ContentKind,
    ContentStatus,
    PlaybackPosition,
)
from codex_graphql.db import SerializedSession, raw_read, utcnow
from codex_graphql.pagination import decode_cursor, memo_cursor
from codex_graphql.relay import Page

# A catalogue row: every column of ``Content`` under its attribute's name, ``tags`` as the driver returns it
# (asyncpg decodes text[] to a list; SQLAlchemy's ARRAY type would copy every row's list item by item).
_ROW = tuple(type_coerce(column, NullType()).label(column.key) if column.key == "tags" else column
             for column in Content.__table__.columns)
# What a page holds per item: an immutable tuple with those columns as attributes, read in tens of nanoseconds
# (a SQLAlchemy Row answers an attribute after a failed lookup, about a microsecond, and the ``Content`` type
# and the access rules read some twenty per item).
ContentRecord = namedtuple("ContentRecord", [column.key for column in Content.__table__.columns])  # type: ignore[misc]
_record = partial(tuple.__new__, ContentRecord)


def _narrowing(*, staff: bool, kind: ContentKind | None, tag: str | None, search: str | None,
               status: ContentStatus | None, category: uuid.UUID | None = None) -> list[Any]:
    """The conditions of ``content.filters`` for the values given (already normalized by ``filters.normalize``)."""
    narrow = filters.CatalogueFilter(kind=kind, tag=tag or None, search=search or None, status=status,
                                     category=category)
    return filters.conditions(narrow, staff=staff)


def _catalogue(organization_id: uuid.UUID, *, staff: bool, **narrow: Any) -> Any:
    """The organization's list as ``access.listed_clause`` admits it, narrowed by ``content.filters``."""
    statement = in_organization(select(Content), Content, organization_id).where(access.listed_clause(staff))
    return statement.where(*_narrowing(staff=staff, **narrow))


# The page statement's parameters: built once per shape (``_page_statement``), SQLAlchemy computes its cache
# key once too, where a statement built per request costs about as much CPU as loading its page.
_ORGANIZATION = bindparam("organization_id", type_=UUID(as_uuid=True))
_AFTER_CREATED = bindparam("after_created_at", type_=DateTime(timezone=True))
_AFTER_ID = bindparam("after_id", type_=UUID(as_uuid=True))
_LIMIT = bindparam("limit", type_=Integer)


@cache
def _page_statement(staff: bool, after: bool) -> Any:
    """The catalogue page, newest first, keyset on ``created_at, id`` (as ``pagination.keyset_page``), with
    the organization, the cursor (when ``after``) and the size as parameters; narrowing adds its conditions."""
    statement = in_organization(select(*_ROW), Content, cast(Any, _ORGANIZATION)).where(access.listed_clause(staff))
    if after:
        statement = statement.where(or_(Content.created_at < _AFTER_CREATED,
                                        and_(Content.created_at == _AFTER_CREATED, Content.id < _AFTER_ID)))
    return statement.order_by(Content.created_at.desc(), Content.id.desc()).limit(_LIMIT)


@cache
def _page_read(staff: bool, after: bool) -> Any:
    """``_page_statement`` compiled once for the driver (``SerializedSession.fetch``): the page without narrowing."""
    return raw_read(_page_statement(staff, after))


async def catalogue_page(session: SerializedSession, organization_id: uuid.UUID, *, staff: bool, first: int,
                         after: str | None, **narrow: Any) -> Page[Any]:
    """One page of the list ``_catalogue`` describes, as read-only ``ContentRecord`` tuples: what the ``Content``
    type and the access rules read, without an ORM instance per item. Nothing changes or lazily loads them."""
    narrowing = _narrowing(staff=staff, **narrow)
    parameters: dict[str, Any] = {"organization_id": organization_id, "limit": first + 1}
    if after:
        parameters["after_created_at"], parameters["after_id"] = decode_cursor(after)
    if narrowing:
        rows = [_record(row) for row in await session.rows(_page_statement(staff, bool(after)).where(*narrowing),
                                                           parameters)]
    else:
        rows = await session.fetch(_page_read(staff, bool(after)), parameters, _record)
    has_next = len(rows) > first
    items = rows[:first]
    return Page(items=items, cursors=[memo_cursor(r.created_at, r.id) for r in items], has_next_page=has_next,
                has_previous_page=bool(after))


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


# The loaders' statements, built once: a batch of ids is one array parameter (``= ANY($2)``), one statement
# text whatever the batch size, where ``IN`` renders a parameter per id on every execution (for a page of 50 ids
# that cost more CPU than loading the rows).
_USER = bindparam("user_id", type_=UUID(as_uuid=True))
_CONTENT_IDS = bindparam("content_ids", type_=ARRAY(UUID(as_uuid=True)))
_ENTITLED = select(Content.id).where(
    Content.id == any_(_CONTENT_IDS), access.entitled_content_clause(cast(Any, _USER)))
_POSITIONS = select(PlaybackPosition.content_id, PlaybackPosition.position_seconds).where(
    PlaybackPosition.user_id == _USER, PlaybackPosition.content_id == any_(_CONTENT_IDS))
_ENTITLED_READ = raw_read(_ENTITLED)
_POSITIONS_READ = raw_read(_POSITIONS)


async def entitled_content_ids(session: SerializedSession, user_id: uuid.UUID,
                               content_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.fetch(_ENTITLED_READ, {"user_id": user_id, "content_ids": list(content_ids)})
    return {content_id for (content_id,) in rows}


async def positions(session: SerializedSession, user_id: uuid.UUID, content_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    rows = await session.fetch(_POSITIONS_READ, {"user_id": user_id, "content_ids": list(content_ids)})
    return {content_id: position for content_id, position in rows}


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
