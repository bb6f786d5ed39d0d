"""SQL of chunked HLS transcoding (``content_processing_chunk`` and ``content_processing.chunk_plan``,
migration 0042). Every statement is scoped with ``in_organization``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.db import utcnow
from codex_graphql.media.models import ChunkStatus, ContentProcessing, ContentProcessingChunk


async def lock_ladder(session: AsyncSession, organization_id: uuid.UUID,
                      content_id: uuid.UUID) -> ContentProcessing | None:
    """The item's ``content_processing`` row, locked until the transaction ends: every chunk's "done" record and
    the decision that the last chunk is done take this lock first, so exactly one job sees no chunk pending."""
    statement = in_organization(select(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id == content_id).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def chunk(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                chunk_index: int) -> ContentProcessingChunk | None:
    statement = in_organization(select(ContentProcessingChunk), ContentProcessingChunk, organization_id).where(
        ContentProcessingChunk.content_id == content_id, ContentProcessingChunk.chunk_index == chunk_index)
    return (await session.execute(statement)).scalar_one_or_none()


async def chunks_of(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                    prefix: str) -> list[ContentProcessingChunk]:
    """The chunks of the ladder version under ``prefix``, in order."""
    statement = in_organization(select(ContentProcessingChunk), ContentProcessingChunk, organization_id).where(
        ContentProcessingChunk.content_id == content_id, ContentProcessingChunk.hls_prefix == prefix,
    ).order_by(ContentProcessingChunk.chunk_index)
    return list((await session.execute(statement)).scalars())


async def pending_count(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                        prefix: str) -> tuple[int, int]:
    """(chunks not done yet, all chunks) of the ladder version under ``prefix``."""
    statement = in_organization(
        select(func.count().filter(ContentProcessingChunk.status == ChunkStatus.PENDING), func.count()),
        ContentProcessingChunk, organization_id,
    ).where(ContentProcessingChunk.content_id == content_id, ContentProcessingChunk.hls_prefix == prefix)
    pending, total = (await session.execute(statement)).one()
    return int(pending), int(total)


async def plan_chunks(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, prefix: str,
                      plan: dict[str, Any], spans: list[tuple[int, int | None, int]]) -> None:
    """Record a chunked ladder: its plan on the ``content_processing`` row and one PENDING chunk per span
    (start, length, first segment), replacing the chunks of any earlier version."""
    await session.execute(in_organization(delete(ContentProcessingChunk), ContentProcessingChunk,
                                          organization_id).where(ContentProcessingChunk.content_id == content_id))
    await session.execute(in_organization(update(ContentProcessing), ContentProcessing, organization_id).where(
        ContentProcessing.content_id == content_id).values(chunk_plan=plan, updated_at=utcnow()))
    await session.execute(insert(ContentProcessingChunk).values([
        {"content_id": content_id, "chunk_index": index, "organization_id": organization_id, "hls_prefix": prefix,
         "start_seconds": start, "length_seconds": length, "first_segment": first, "status": ChunkStatus.PENDING,
         "segments": {}, "updated_at": utcnow()}
        for index, (start, length, first) in enumerate(spans)]))


async def mark_done(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, chunk_index: int,
                    prefix: str, segments: dict[str, list[list[Any]]]) -> bool:
    """Record a PENDING chunk as DONE with its stored segments; False when it was DONE already (another run of
    the same job got there first: its record stands)."""
    statement = in_organization(update(ContentProcessingChunk), ContentProcessingChunk, organization_id).where(
        ContentProcessingChunk.content_id == content_id, ContentProcessingChunk.chunk_index == chunk_index,
        ContentProcessingChunk.hls_prefix == prefix, ContentProcessingChunk.status == ChunkStatus.PENDING,
    ).values(status=ChunkStatus.DONE, segments=segments, updated_at=utcnow())
    return bool((await session.execute(statement)).rowcount)
