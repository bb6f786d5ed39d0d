"""SQL of content revisions (``in_organization`` scoped; row-level security enforces the same)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.categories.models import ContentCategory
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page
from codex_graphql.revisions.models import ContentRevision


async def add(session: AsyncSession, revision: ContentRevision) -> ContentRevision:
    session.add(revision)
    await session.flush()
    return revision


async def category_ids(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> list[uuid.UUID]:
    """The item's categories now, in id order."""
    statement = in_organization(select(ContentCategory.category_id), ContentCategory, organization_id)
    rows = await session.scalars(statement.where(ContentCategory.content_id == content_id)
                                 .order_by(ContentCategory.category_id))
    return list(rows.all())


def _of(organization_id: uuid.UUID, content_id: uuid.UUID) -> Any:
    return in_organization(select(ContentRevision), ContentRevision, organization_id).where(
        ContentRevision.content_id == content_id)


async def page(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, first: int,
               after: str | None) -> Page[ContentRevision]:
    """The item's revisions, newest first."""
    return await keyset_page(session, _of(organization_id, content_id), created_col=ContentRevision.created_at,
                             id_col=ContentRevision.id, first=first, after=after)


async def count(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> int:
    statement = _of(organization_id, content_id).with_only_columns(func.count()).order_by(None)
    return int(await session.scalar(statement) or 0)


async def by_id(session: AsyncSession, organization_id: uuid.UUID, revision_id: uuid.UUID) -> ContentRevision | None:
    statement = in_organization(select(ContentRevision), ContentRevision, organization_id)
    return await session.scalar(statement.where(ContentRevision.id == revision_id))


async def body_as_of(session: AsyncSession, revision: ContentRevision) -> dict[str, Any] | None:
    """The body the item had at ``revision``: the newest body saved at or before it."""
    statement = _of(revision.organization_id, revision.content_id).with_only_columns(
        ContentRevision.body_document).where(
        ContentRevision.body_document.is_not(None),
        tuple_(ContentRevision.created_at, ContentRevision.id) <= tuple_(revision.created_at, revision.id),
    ).order_by(ContentRevision.created_at.desc(), ContentRevision.id.desc()).limit(1)
    return await session.scalar(statement)
