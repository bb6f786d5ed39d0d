"""Media actors: process an uploaded file; transcode one chunk of a long video; clean up abandoned uploads."""

from __future__ import annotations

import uuid

import dramatiq

from codex_graphql.content.service import PROCESS_ACTOR
from codex_graphql.media import chunks, processing
from codex_graphql.media.hls import HlsConfig
from workers.runtime import runtime


# Transient failures (storage, database) raise and are retried with backoff; bad files end FAILED.
@dramatiq.actor(actor_name=PROCESS_ACTOR, max_retries=6, min_backoff=2_000, max_backoff=120_000, time_limit=30 * 60_000)
async def process_content(job_id: str, content_id: str, content_organization_id: str) -> None:
    rt = runtime()
    await processing.process_content(rt.db, rt.storage, uuid.UUID(content_organization_id), uuid.UUID(content_id),
                                     HlsConfig.from_settings(rt.settings))


# One chunk of a long video's ladder (media/chunks.py): a killed run is retried and redoes this chunk only;
# the run that records the last chunk assembles the playlists and makes the item READY.
@dramatiq.actor(actor_name=chunks.CHUNK_ACTOR, max_retries=6, min_backoff=2_000, max_backoff=120_000,
                time_limit=30 * 60_000)
async def transcode_chunk(job_id: str, content_id: str, content_organization_id: str, chunk_index: int) -> None:
    rt = runtime()
    # The ladder was planned while HLS_ENABLED was on: its chunks are finished even if it was turned off since.
    config = HlsConfig.from_settings(rt.settings.model_copy(update={"hls_enabled": True}))
    assert config is not None
    await chunks.run_chunk(rt.db, rt.storage, config, uuid.UUID(content_organization_id), uuid.UUID(content_id),
                           int(chunk_index))


@dramatiq.actor(actor_name="cleanup_abandoned_uploads", max_retries=3, time_limit=10 * 60_000)
async def cleanup_abandoned_uploads(job_id: str | None = None) -> None:
    rt = runtime()
    await processing.cleanup_abandoned_uploads(rt.db, rt.storage)
