"""SQL of HLS processing progress (``content_processing``). Every statement is scoped with ``in_organization``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.content.models import Content
from codex_graphql.db import utcnow
from codex_graphql.media.models import ContentProcessing, ProcessingStage


async def get(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> ContentProcessing | None:
    statement = in_organization(select(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id == content_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def start(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, prefix: str,
                wrapped_key: bytes | None = None) -> None:
    """A fresh ladder under ``prefix`` with its wrapped AES key: stage TRANSCODING at 0 %, no rendition done
    (replacing any row)."""
    values: dict[str, Any] = {"stage": ProcessingStage.TRANSCODING, "percent": 0, "message": None,
                              "hls_prefix": prefix, "done": [], "hls_key": wrapped_key, "updated_at": utcnow()}
    statement = insert(ContentProcessing).values(content_id=content_id, organization_id=organization_id, **values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ContentProcessing.content_id], set_=values,
        where=ContentProcessing.organization_id == organization_id))


async def set_progress(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                       stage: ProcessingStage, percent: int, message: str | None = None) -> None:
    statement = in_organization(update(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id == content_id).values(
        stage=stage, percent=max(0, min(100, percent)), message=message, updated_at=utcnow())
    await session.execute(statement)


async def add_done(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                   rendition: dict[str, Any]) -> None:
    """Record a rendition as stored completely (after its media playlist, the last of its objects, was
    uploaded): a retried job skips it."""
    statement = in_organization(update(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id == content_id).values(
        done=ContentProcessing.done.op("||")(bindparam(None, [rendition], type_=JSONB)),
        updated_at=utcnow())
    await session.execute(statement)


async def processing_of(session: AsyncSession, organization_id: uuid.UUID,
                        content_ids: list[uuid.UUID]) -> dict[uuid.UUID, ContentProcessing]:
    """The organization's processing rows among ``content_ids``, by item (the ``Content.processing`` loader)."""
    statement = in_organization(select(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id.in_(content_ids))
    return {row.content_id: row for row in (await session.execute(statement)).scalars()}


async def record_download(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, name: str,
                          fields: dict[str, Any]) -> None:
    """Add ``fields`` (``download_key``, ``download_bytes``) to the done rendition ``name``, once its MP4 is
    stored (``rendition_files.py``): a retried job skips it. The row is locked for the read-modify-write."""
    statement = in_organization(select(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id == content_id).with_for_update()
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        return
    row.done = [{**r, **fields} if r.get("name") == name else r for r in row.done]
    await session.flush()


async def item_exists(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> bool:
    """Whether the organization has the item (deleted or not): the ``contentProcessing`` subscription's check."""
    statement = in_organization(select(Content.id), Content, organization_id).where(Content.id == content_id)
    return (await session.execute(statement)).first() is not None
