"""SQL of preview links. Staff statements name the organization (``in_organization``; row-level security,
migration 0030, enforces the same); the holder's read goes through ``codex_content_preview`` only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, column, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from codex_graphql.articles.models import ArticleBody
from codex_graphql.authz import in_organization
from codex_graphql.content.models import Content
from codex_graphql.previews.models import ContentPreviewLink

# The holder's read: the item of a live link, and the link's id and expiry (one row or none). The item's columns
# are named one by one, in the model's order, so the textual statement's columns line up with the model's.
_LINK_ID = column("preview_link_id", UUID(as_uuid=True))
_EXPIRES = column("preview_expires_at", DateTime(timezone=True))
_CALL = "FROM public.codex_content_preview(:token_hash) p"


def _fields(composite: str, model: Any) -> str:
    """The model's columns, read from a composite column of the function's result (the names are the model's)."""
    return ", ".join(f"({composite}).{c.name}" for c in model.__table__.columns)


_PREVIEW = text(f"SELECT {_fields('p.item', Content)}, p.link_id AS preview_link_id, "  # noqa: S608
                f"p.link_expires_at AS preview_expires_at {_CALL}").columns(*Content.__table__.columns, _LINK_ID,
                                                                             _EXPIRES)
_PREVIEW_BODY = text(f"SELECT {_fields('p.body', ArticleBody)} {_CALL} "  # noqa: S608
                     "WHERE (p.body).content_id IS NOT NULL").columns(*ArticleBody.__table__.columns)


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """What ``codex_content_preview`` answered for a live link."""

    link_id: uuid.UUID
    expires_at: datetime
    content: Content


async def preview(session: AsyncSession, token_hash: str) -> PreviewRow | None:
    """The item of the live link with this token hash (not revoked, not expired, the item not deleted), with
    the link's id and expiry; None for any other hash. Whatever the transaction's scope: the function decides."""
    statement = select(Content, _LINK_ID, _EXPIRES).from_statement(_PREVIEW)
    found = (await session.execute(statement, {"token_hash": token_hash})).first()
    if found is None:
        return None
    content, link_id, expires_at = found
    return PreviewRow(link_id=link_id, expires_at=expires_at, content=content)


async def preview_body(session: AsyncSession, token_hash: str) -> ArticleBody | None:
    """The article body of the live link's item (None for a media item, or any other hash)."""
    statement = select(ArticleBody).from_statement(_PREVIEW_BODY)
    return await session.scalar(statement, {"token_hash": token_hash})


async def add(session: AsyncSession, link: ContentPreviewLink) -> ContentPreviewLink:
    session.add(link)
    await session.flush()
    return link


async def for_update(session: AsyncSession, organization_id: uuid.UUID, link_id: uuid.UUID) -> ContentPreviewLink | None:
    statement = in_organization(select(ContentPreviewLink), ContentPreviewLink, organization_id)
    return await session.scalar(statement.where(ContentPreviewLink.id == link_id).with_for_update())


async def by_id(session: AsyncSession, link_id: uuid.UUID) -> ContentPreviewLink | None:
    """A link row-level security lets this transaction see (the active organization's); the caller applies the
    rule of who may see it (``service.may_see``)."""
    return await session.scalar(select(ContentPreviewLink).where(ContentPreviewLink.id == link_id))


def _live(now: datetime) -> Any:
    return (ContentPreviewLink.revoked_at.is_(None)) & (ContentPreviewLink.expires_at > now)


async def live_count(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, now: datetime) -> int:
    """How many of the item's links work right now."""
    statement = in_organization(select(func.count()), ContentPreviewLink, organization_id).select_from(
        ContentPreviewLink).where(ContentPreviewLink.content_id == content_id, _live(now))
    return int(await session.scalar(statement) or 0)


async def links_of(session: AsyncSession, organization_id: uuid.UUID, content_ids: list[uuid.UUID],
                   include_inactive: bool, now: datetime, limit: int) -> dict[uuid.UUID, list[ContentPreviewLink]]:
    """Per item of the organization, its newest ``limit`` links (only the live ones unless ``include_inactive``),
    newest first: one statement for a page of items."""
    newest = func.row_number().over(partition_by=ContentPreviewLink.content_id,
                                    order_by=(ContentPreviewLink.created_at.desc(), ContentPreviewLink.id.desc()))
    statement = in_organization(select(ContentPreviewLink, newest.label("n")), ContentPreviewLink,
                                organization_id).where(ContentPreviewLink.content_id.in_(content_ids))
    if not include_inactive:
        statement = statement.where(_live(now))
    ranked = statement.subquery()
    link = aliased(ContentPreviewLink, ranked)
    rows = await session.scalars(select(link).where(ranked.c.n <= limit)
                                 .order_by(ranked.c.content_id, ranked.c.n))
    found: dict[uuid.UUID, list[ContentPreviewLink]] = {}
    for row in rows.all():
        found.setdefault(row.content_id, []).append(row)
    return found
