"""The HLS ladder inside the processing job (``processing.process_content``, docs/media.md).

Storage layout: ``hls/<organization_id>/<content_id>/<version>/master.m3u8`` and, per rendition,
``<name>/index.m3u8`` with ``<name>/segment_NNNNN.ts`` (``name``: ``240p``, ``720p``, ... or ``audio``). The
version is chosen when a ladder starts and kept in ``content_processing``, so a retried job writes to the
same folder and skips every rendition recorded there as done. A rendition is recorded only after its media
playlist, uploaded after all of its segments, is stored: a crash in between redoes that rendition only.
Segments are AES-128 encrypted with the ladder's key (``keys.py``), made with the version and reused by every
rendition and by a resumed run; the key is handed to ffmpeg in a temporary file deleted after each run.

No network call runs inside a transaction: each database write (progress at most every
``PROGRESS_SECONDS``, a rendition done) is its own short transaction between uploads. A file ffmpeg cannot
transcode is a ``MediaError``: the partial prefix is deleted and the caller marks the item FAILED; any other
error (storage, database, a killed worker) propagates and the job is retried, resuming.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from codex_graphql.db import Database, TenantScope
from codex_graphql.media import hls, keys
from codex_graphql.media import progress as progress_events
from codex_graphql.media import repository as progress
from codex_graphql.media.ffmpeg import MediaError, Probe
from codex_graphql.media.models import ContentProcessing, ProcessingStage
from codex_graphql.storage import Storage

PROGRESS_SECONDS = 2.0
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
TRANSCODING_SHARE = 95  # percent reached when the last rendition is stored; packaging does the rest


def prefix_for(organization_id: uuid.UUID, content_id: uuid.UUID) -> str:
    """The folder holding every ladder version of an item."""
    return f"hls/{organization_id}/{content_id}/"


async def begin(db: Database, scope: TenantScope, content_id: uuid.UUID,
                secret_key: str) -> tuple[str, dict[str, dict[str, Any]], bytes]:
    """The ladder's prefix, the renditions already done and the ladder's AES-128 key: those of an unfinished
    run of this job, or a new version with none and a new key. Marks the stage PROBING."""
    assert scope.organization_id is not None
    async with db.transaction(scope) as session:
        row = await progress.get(session, scope.organization_id, content_id)
        key = _resumable_key(row, secret_key, content_id)
        if row is not None and key is not None:
            await progress_events.record(session, scope.organization_id, content_id, ProcessingStage.PROBING,
                                        row.percent)
            return row.hls_prefix, {r["name"]: r for r in row.done}, key
        prefix = f"{prefix_for(scope.organization_id, content_id)}{uuid.uuid4().hex[:12]}/"
        key = keys.new_key()
        await progress.start(session, scope.organization_id, content_id, prefix,
                             keys.wrap(secret_key, key, content_id, prefix))
        await progress_events.record(session, scope.organization_id, content_id, ProcessingStage.PROBING, 0)
        return prefix, {}, key


def _resumable_key(row: ContentProcessing | None, secret_key: str, content_id: uuid.UUID) -> bytes | None:
    """The key of an unfinished ladder to resume; None for a finished one, one made before encryption (no key)
    or one whose key no longer unwraps (SECRET_KEY changed): those start a new version."""
    if row is None or row.stage in (ProcessingStage.DONE, ProcessingStage.FAILED) or row.hls_key is None:
        return None
    try:
        return keys.unwrap(secret_key, row.hls_key, content_id, row.hls_prefix)
    except keys.KeyUnavailable:
        return None


async def make_ladder(db: Database, storage: Storage, config: hls.HlsConfig, scope: TenantScope,
                      content_id: uuid.UUID, source: Path, found: Probe, *, audio_only: bool, prefix: str,
                      done: dict[str, dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    """Transcode and store every rendition not in ``done``, its segments encrypted with ``key``, then the master
    playlist; returns the renditions (as listed in the master playlist). MediaError after deleting everything
    under ``prefix``."""
    assert scope.organization_id is not None
    reporter = _Reporter(db, scope, content_id)
    try:
        planned = hls.plan(found, config, audio_only=audio_only)
        has_audio = found.audio_codec is not None
        made: list[dict[str, Any]] = []
        for index, rendition in enumerate(planned):
            if rendition.name in done:
                made.append(done[rendition.name])
                continue
            made.append(await _rendition(storage, config, reporter, source, found, rendition, prefix,
                                         has_audio=has_audio, position=(index, len(planned)), key=key))
        await reporter.write(ProcessingStage.PACKAGING, TRANSCODING_SHARE, force=True)
        master = source.with_name("master.m3u8")
        master.write_text(hls.master_playlist(made))
        await storage.upload_file(f"{prefix}master.m3u8", master, PLAYLIST_TYPE)
        return made
    except MediaError:
        await storage.delete_prefix(prefix)
        raise


async def _rendition(storage: Storage, config: hls.HlsConfig, reporter: _Reporter, source: Path, found: Probe,
                     rendition: hls.Rendition, prefix: str, *, has_audio: bool,
                     position: tuple[int, int], key: bytes) -> dict[str, Any]:
    index, count = position
    duration = found.duration or 0.0
    folder = source.parent / "hls" / rendition.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    async def on_seconds(seconds: float) -> None:
        share = min(1.0, seconds / duration) if duration > 0 else 0.0
        await reporter.write(ProcessingStage.TRANSCODING, int(TRANSCODING_SHARE * (index + share) / count))

    await reporter.write(ProcessingStage.TRANSCODING, int(TRANSCODING_SHARE * index / count), force=True)
    # The key file lives only for this ffmpeg run, outside the folder whose files are uploaded.
    secrets_folder = Path(tempfile.mkdtemp(prefix="codex-hls-key-"))
    try:
        key_file, info_file = secrets_folder / "ladder.key", secrets_folder / "key-info"
        key_file.write_bytes(key)
        info_file.write_text(keys.key_info(keys.KEY_URI_PLACEHOLDER, str(key_file), keys.iv_for(key)))
        await hls.run(hls.command(source, folder, rendition, config, has_audio=has_audio,
                                  frame_rate=found.frame_rate, key_info=info_file), on_seconds)
    finally:
        shutil.rmtree(secrets_folder, ignore_errors=True)
    segments, peak, average = hls.measure(folder)
    if problem := hls.short_by(sum(seconds for _, seconds in segments), found.duration):
        raise MediaError(problem)
    for name, _ in segments:
        await storage.upload_file(f"{prefix}{rendition.name}/{name}", folder / name, SEGMENT_TYPE)
    await storage.upload_file(f"{prefix}{rendition.name}/index.m3u8", folder / "index.m3u8", PLAYLIST_TYPE)
    codecs = rendition.codecs if rendition.width is None or not has_audio else f"{rendition.codecs},{hls.AUDIO_CODEC}"
    recorded = {**asdict(rendition), "codecs": codecs, "bandwidth": peak, "average_bandwidth": average}
    await reporter.done(recorded)
    shutil.rmtree(folder, ignore_errors=True)
    return recorded


class _Reporter:
    """Progress writes, each its own short transaction, at most every ``PROGRESS_SECONDS`` unless forced."""

    def __init__(self, db: Database, scope: TenantScope, content_id: uuid.UUID) -> None:
        self.db, self.scope, self.content_id = db, scope, content_id
        self.last = 0.0

    async def write(self, stage: ProcessingStage, percent: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        assert self.scope.organization_id is not None
        async with self.db.transaction(self.scope) as session:
            await progress_events.record(session, self.scope.organization_id, self.content_id, stage, percent)

    async def done(self, rendition: dict[str, Any]) -> None:
        assert self.scope.organization_id is not None
        async with self.db.transaction(self.scope) as session:
            await progress.add_done(session, self.scope.organization_id, self.content_id, rendition)
