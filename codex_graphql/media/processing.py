"""Processing an uploaded file: probe, check it matches the declared kind, thumbnails, the HLS ladder when
it is on (``transcode.py``), READY.

Safe to run twice: only content in PROCESSING is processed, and the final write re-checks that
under a row lock. Storage or database failures raise, so the job is retried; a file that is not
what it claims to be ends FAILED with a reason, never a crash.

It reads the item's final key (``storage_key``), written only by completeContentUpload's server-side copy
of the checked staging object, never by an upload URL, so the bytes probed here are the bytes served.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

from codex_graphql import events
from codex_graphql.content import repository
from codex_graphql.content.models import ContentKind, ContentStatus
from codex_graphql.content.service import STATUS_EVENT
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.media import chunks, rendition_files, transcode
from codex_graphql.media import progress as progress_events
from codex_graphql.media import repository as progress
from codex_graphql.media.ffmpeg import MediaError, Probe, cover_art, probe, thumbnail
from codex_graphql.media.hls import HlsConfig
from codex_graphql.media.models import ProcessingStage
from codex_graphql.storage import Storage, hygiene, is_staging_key

log = logging.getLogger(__name__)

THUMBNAIL_WIDTHS = (320, 1280)
VIDEO_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2"}
AUDIO_CONTAINERS = {"mp3", "wav", "aac", "mov,mp4,m4a,3gp,3g2,mj2"}
STILL_IMAGE_CODECS = {"mjpeg", "png", "bmp", "gif", "webp"}


def check_matches_kind(kind: ContentKind, found: Probe) -> None:
    if kind is ContentKind.VIDEO:
        if found.container not in VIDEO_CONTAINERS:
            raise MediaError(f"Expected an MP4 or MOV video, found container '{found.container or 'unknown'}'.")
        if found.video_codec is None or found.video_codec in STILL_IMAGE_CODECS:
            raise MediaError("The file has no video stream.")
    else:
        if found.container not in AUDIO_CONTAINERS:
            raise MediaError(f"Expected MP3, WAV, AAC or M4A audio, found container '{found.container or 'unknown'}'.")
        if found.audio_codec is None:
            raise MediaError("The file has no audio stream.")
        if found.video_codec is not None and found.video_codec not in STILL_IMAGE_CODECS:
            raise MediaError("This is a video file; create it as VIDEO content.")
    if not found.duration or found.duration <= 0:
        raise MediaError("The media has no duration.")


async def process_content(db: Database, storage: Storage, organization_id: uuid.UUID, content_id: uuid.UUID,
                          hls_config: HlsConfig | None = None) -> str:
    """Returns the resulting status name (or 'skipped'). With ``hls_config`` (the actor passes
    ``HlsConfig.from_settings``; None when HLS_ENABLED is false) the item is READY only once its whole HLS
    ladder is stored (``transcode.py``); a retried run resumes the ladder where the last one stopped."""
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        content = await repository.for_update(session, organization_id, content_id)
        if content is None or content.status is not ContentStatus.PROCESSING:
            return "skipped"
        kind, key = content.kind, content.storage_key
        if is_staging_key(key):  # never probe (or publish) bytes an upload URL can still write
            raise ValueError(f"content {content_id} points at a staging key")
        if hls_config and chunks.is_planned(await progress.get(session, organization_id, content_id)):
            return "skipped"  # a long video's chunk jobs are making its ladder and finish the item (chunks.py)
    prefix, done, ladder_key = (await transcode.begin(db, scope, content_id, hls_config.key_secret) if hls_config
                                else ("", {}, b""))
    ladder: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="codex-media-") as tmp:
        source = Path(tmp) / ("original." + key.rsplit(".", 1)[-1])
        await storage.download(key, source)
        try:
            found = await probe(source)
            check_matches_kind(kind, found)
            thumbs = await _thumbnails(storage, key, source, found) if kind is ContentKind.VIDEO or found.cover_art else []
            spans = (chunks.spans(found.duration or 0.0, hls_config)
                     if hls_config and kind is ContentKind.VIDEO and not done else [])
            if hls_config and spans:  # a long video: one job per chunk (chunks.py) makes the ladder
                return await chunks.start(db, hls_config, scope, content_id, found, spans, prefix=prefix,
                                          thumbnails=thumbs)
            if hls_config:
                renditions = await transcode.make_ladder(
                    db, storage, hls_config, scope, content_id, source, found,
                    audio_only=kind is not ContentKind.VIDEO, prefix=prefix, done=done,
                    key=ladder_key)
                renditions = await rendition_files.make_downloads(db, storage, hls_config, scope, content_id,
                                                                  prefix, renditions, ladder_key)
                ladder = {"hls_prefix": prefix, "hls_renditions": renditions}
        except MediaError as problem:
            return await _finish(db, scope, content_id, status=ContentStatus.FAILED, failure_reason=str(problem),
                                 _stage=ProcessingStage.FAILED if hls_config else None)
    return await _finish(
        db, scope, content_id, status=ContentStatus.READY, failure_reason=None,
        duration_seconds=found.duration, media_info=found.facts(), thumbnails=thumbs, **ladder,
        _stage=ProcessingStage.DONE if hls_config else None,
    )


async def _thumbnails(storage: Storage, key: str, source: Path, found: Probe) -> list[dict]:
    """A frame at 10 % of a video, or an audio file's embedded cover art, at each width."""
    at = (found.duration or 0) * 0.10
    folder = key.rsplit("/", 1)[0]
    made = []
    for width in THUMBNAIL_WIDTHS:
        target = source.with_name(f"thumb-{width}.jpg")
        if found.video_codec is None:
            real_width, real_height = await cover_art(source, target, width)
        else:
            real_width, real_height = await thumbnail(source, target, at, width)
        thumb_key = f"{folder}/thumb-{width}.jpg"
        await storage.upload_file(thumb_key, target, "image/jpeg")
        made.append({"key": thumb_key, "width": real_width, "height": real_height})
    return made


async def _finish(db: Database, scope: TenantScope, content_id: uuid.UUID, _stage: ProcessingStage | None = None,
                  **values: object) -> str:
    """The outcome, and the ladder's final stage when there is one, in one transaction."""
    assert scope.organization_id is not None
    async with db.transaction(scope) as session:
        content = await repository.for_update(session, scope.organization_id, content_id)
        if content is None or content.status is not ContentStatus.PROCESSING:
            return "skipped"  # a concurrent run finished first
        for name, value in values.items():
            setattr(content, name, value)
        if _stage is not None:
            await progress_events.record(session, scope.organization_id, content_id, _stage,
                                        100 if _stage is ProcessingStage.DONE else 0,
                                        str(values["failure_reason"]) if _stage is ProcessingStage.FAILED else None)
        await session.flush()
        events.emit(session, STATUS_EVENT, {"contentId": str(content.id), "status": content.status.value,
                                            "failureReason": content.failure_reason}, content.organization_id)
        return content.status.value


async def cleanup_abandoned_uploads(db: Database, storage: Storage, now: datetime | None = None, batch: int = 100) -> int:
    """Mark FAILED every upload past its deadline, then abort its multipart upload and delete its partial
    object (outside the transaction: see ``storage.hygiene``). Returns how many uploads expired."""
    now = now or utcnow()
    expired = await hygiene.expire_uploads(db, now, batch)
    await hygiene.drain(db, storage, now)
    return expired
