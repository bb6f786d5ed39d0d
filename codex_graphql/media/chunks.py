"""Chunked HLS transcoding of long videos (docs/media.md, "Chunked transcoding").

A video longer than twice ``HLS_CHUNK_SECONDS`` is split into chunks whose boundaries are multiples of the
segment length, so its segments start where a one-run ladder's would and every rendition's keyframes stay
aligned. The processing job (``processing.process_content``) probes and makes thumbnails as always, then
``start`` records the chunks (PENDING, ``content_processing_chunk``) and the ladder's plan, and enqueues one
``transcode_chunk`` job per chunk through the outbox, in one transaction. Each chunk job (``run_chunk``)
transcodes its span of the source for every rendition (an accurate input seek, output timestamps shifted to the
chunk's place, segments numbered from its first one, the ladder's AES-128 key and IV), uploads the segments
under the ladder's prefix and then records its chunk DONE with the segments' names, durations and sizes, in
its own short transaction under a lock on the item's ``content_processing`` row. The run that records the last
chunk sees none pending (under that lock, so exactly one does); it writes each rendition's media playlist and
the master playlist from the records, and marks the item READY through ``processing._finish``.

Safe to run twice: a chunk recorded DONE is not transcoded again; a run that finds every chunk DONE and the item
still PROCESSING (the assembler was killed) assembles again, which writes the same playlists, and ``_finish``
makes the item READY once (a row lock on the item). A ``MediaError`` in any chunk marks the item FAILED first,
then deletes the ladder's prefix; a chunk run that finishes or starts after that deletes the prefix again
(whatever it uploaded in the meantime) and records nothing.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from codex_graphql import events
from codex_graphql.content import repository as content_repository
from codex_graphql.content.models import ContentStatus
from codex_graphql.db import Database, TenantScope
from codex_graphql.media import chunk_repository as chunk_store
from codex_graphql.media import hls, keys, rendition_files, transcode
from codex_graphql.media import progress as progress_events
from codex_graphql.media import repository as progress
from codex_graphql.media.ffmpeg import MediaError, Probe
from codex_graphql.media.models import ChunkStatus, ContentProcessing, ProcessingStage
from codex_graphql.storage import Storage

CHUNK_ACTOR = "transcode_chunk"
_FINISHED = (ProcessingStage.DONE, ProcessingStage.FAILED)


def spans(duration: float, config: hls.HlsConfig) -> list[hls.Span]:
    """The chunks of a source of ``duration`` seconds; none when it is not worth chunking (chunking off, or not
    longer than two chunks). Each chunk is ``chunk_seconds`` rounded down to whole segments (at least one); the
    remainder joins the last chunk, which runs to the end of the source."""
    seg = config.segment_seconds
    if config.chunk_seconds <= 0:
        return []
    length = max(seg, config.chunk_seconds // seg * seg)
    if duration <= 2 * length:
        return []
    count = int(duration // length)
    return [hls.Span(start=i * length, length=length if i < count - 1 else None, first_segment=i * length // seg)
            for i in range(count)]


def is_planned(row: ContentProcessing | None) -> bool:
    """Whether the item's live ladder is being made in chunks (its chunk jobs, not the processing job, finish it)."""
    return (row is not None and row.stage not in _FINISHED and row.chunk_plan is not None
            and row.chunk_plan.get("prefix") == row.hls_prefix)


async def start(db: Database, config: hls.HlsConfig, scope: TenantScope, content_id: uuid.UUID, found: Probe,
                chunks: list[hls.Span], *, prefix: str, thumbnails: list[dict]) -> str:
    """Record the chunks and the plan, and enqueue a job per chunk, in one transaction; returns the item's
    status (PROCESSING), or 'skipped' when another run finished or planned the item first."""
    assert scope.organization_id is not None
    organization_id = scope.organization_id
    planned = hls.plan(found, config, audio_only=False)
    plan = {"prefix": prefix, "segment_seconds": config.segment_seconds, "audio_bitrate": config.audio_bitrate,
            "has_audio": found.audio_codec is not None, "frame_rate": found.frame_rate,
            "renditions": [dataclasses.asdict(r) for r in planned],
            "outcome": {"duration_seconds": found.duration, "media_info": found.facts(), "thumbnails": thumbnails}}
    async with db.transaction(scope) as session:
        content = await content_repository.for_update(session, organization_id, content_id)
        if content is None or content.status is not ContentStatus.PROCESSING:
            return "skipped"
        row = await chunk_store.lock_ladder(session, organization_id, content_id)
        if row is None or row.hls_prefix != prefix or row.stage in _FINISHED or is_planned(row):
            return "skipped"
        await chunk_store.plan_chunks(session, organization_id, content_id, prefix, plan,
                                      [(c.start, c.length, c.first_segment) for c in chunks])
        await progress_events.record(session, organization_id, content_id, ProcessingStage.TRANSCODING, 0)
        for index in range(len(chunks)):
            events.enqueue(session, CHUNK_ACTOR, organization_id, content_id=str(content_id),
                           content_organization_id=str(organization_id), chunk_index=index)
        return content.status.value


@dataclasses.dataclass(frozen=True, slots=True)
class _Work:
    source_key: str
    prefix: str
    plan: dict[str, Any]
    key: bytes
    span: hls.Span
    done: bool


async def run_chunk(db: Database, storage: Storage, config: hls.HlsConfig, organization_id: uuid.UUID,
                    content_id: uuid.UUID, chunk_index: int) -> str:
    """The ``transcode_chunk`` job: 'DONE' (this chunk recorded, others pending), the item's status when this run
    finished the item (READY or FAILED), or 'skipped'."""
    scope = TenantScope(organization_id=organization_id)
    work, failed_prefix = await _work(db, scope, content_id, chunk_index, config.key_secret)
    if failed_prefix:
        await storage.delete_prefix(failed_prefix)  # anything a killed run uploaded after the item failed
    if work is None:
        return "skipped"
    if not work.done:
        chunk_config = dataclasses.replace(config, segment_seconds=work.plan["segment_seconds"],
                                           audio_bitrate=work.plan["audio_bitrate"])
        try:
            segments = await _transcode(storage, chunk_config, work)
        except MediaError as problem:
            return await _fail(db, storage, scope, content_id, work.prefix, str(problem))
        last = await _record(db, scope, content_id, chunk_index, work.prefix, segments)
        if last is None:  # the item failed meanwhile: what this run uploaded goes with the rest
            await storage.delete_prefix(work.prefix)
            return "skipped"
        if not last:
            return ChunkStatus.DONE.value
    elif not await _all_done(db, scope, content_id, work.prefix):
        return "skipped"
    return await _assemble(db, storage, config, scope, content_id, work)


async def _work(db: Database, scope: TenantScope, content_id: uuid.UUID, chunk_index: int,
                secret_key: str) -> tuple[_Work | None, str | None]:
    """What the chunk job does (None: nothing), and the prefix to delete when the ladder already failed."""
    assert scope.organization_id is not None
    async with db.transaction(scope) as session:
        row = await progress.get(session, scope.organization_id, content_id)
        if (row is not None and row.stage is ProcessingStage.FAILED and row.chunk_plan is not None
                and row.chunk_plan.get("prefix") == row.hls_prefix):
            return None, row.hls_prefix  # a failed ladder is never published: its prefix may go again
        if not is_planned(row):
            return None, None
        assert row is not None
        content = await content_repository.by_id(session, content_id)
        found = await chunk_store.chunk(session, scope.organization_id, content_id, chunk_index)
        if (content is None or content.status is not ContentStatus.PROCESSING or found is None
                or found.hls_prefix != row.hls_prefix or row.hls_key is None):
            return None, None
        key = keys.unwrap(secret_key, row.hls_key, content_id, row.hls_prefix)
        span = hls.Span(found.start_seconds, found.length_seconds, found.first_segment)
        return _Work(content.storage_key, row.hls_prefix, row.chunk_plan or {}, key, span,
                     found.status is ChunkStatus.DONE), None


async def _transcode(storage: Storage, config: hls.HlsConfig, work: _Work) -> dict[str, list[list[Any]]]:
    """Every rendition of the chunk, transcoded and its segments uploaded; rendition name -> its segments
    ``[name, seconds, bytes]``."""
    made: dict[str, list[list[Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="codex-chunk-") as tmp:
        source = Path(tmp) / ("original." + work.source_key.rsplit(".", 1)[-1])
        await storage.download(work.source_key, source)
        secrets_folder = Path(tempfile.mkdtemp(prefix="codex-hls-key-"))
        try:
            key_file, info_file = secrets_folder / "ladder.key", secrets_folder / "key-info"
            key_file.write_bytes(work.key)
            info_file.write_text(keys.key_info(keys.KEY_URI_PLACEHOLDER, str(key_file), keys.iv_for(work.key)))
            for fields in work.plan["renditions"]:
                rendition = hls.Rendition(**fields)
                folder = Path(tmp) / rendition.name
                folder.mkdir()
                await hls.run(hls.command(source, folder, rendition, config, has_audio=work.plan["has_audio"],
                                          frame_rate=work.plan["frame_rate"], key_info=info_file, span=work.span),
                              _no_progress)
                made[rendition.name] = _segments(folder, work.span, config.segment_seconds)
        finally:
            shutil.rmtree(secrets_folder, ignore_errors=True)
        for name, segments in made.items():
            for file_name, _, _ in segments:
                await storage.upload_file(f"{work.prefix}{name}/{file_name}", Path(tmp) / name / file_name,
                                          transcode.SEGMENT_TYPE)
    return made


async def _no_progress(seconds: float) -> None:
    """A chunk's progress is its share once DONE; ffmpeg's own reports are not written."""


def _segments(folder: Path, span: hls.Span, segment_seconds: int) -> list[list[Any]]:
    """The chunk's segments as ffmpeg listed them, checked to be numbered within the chunk: a segment past the
    chunk's end would overwrite the next chunk's first one."""
    segments, _, _ = hls.measure(folder)
    numbers = [int(name.removeprefix("segment_").removesuffix(".ts")) for name, _ in segments]
    end = None if span.length is None else span.first_segment + span.length // segment_seconds
    if numbers != list(range(span.first_segment, span.first_segment + len(numbers))) or (
            end is not None and numbers[-1] >= end):
        raise MediaError("The media could not be transcoded: a chunk's segments did not line up.")
    return [[name, seconds, (folder / name).stat().st_size] for name, seconds in segments]


async def _record(db: Database, scope: TenantScope, content_id: uuid.UUID, chunk_index: int, prefix: str,
                  segments: dict[str, list[list[Any]]]) -> bool | None:
    """Record the chunk DONE (unless a twin run did) under the ladder's row lock, with the progress: True when
    no chunk is pending any more (this run assembles: the stage becomes PACKAGING), None when the ladder failed
    meanwhile (its prefix is to be deleted again), False otherwise (nothing more to do here)."""
    assert scope.organization_id is not None
    organization_id = scope.organization_id
    async with db.transaction(scope) as session:
        row = await chunk_store.lock_ladder(session, organization_id, content_id)
        if row is None or row.hls_prefix != prefix:
            return False  # replaced by a newer version: never delete a prefix that may be the published one
        if row.stage is ProcessingStage.FAILED:
            return None
        if row.stage is ProcessingStage.DONE:
            return False
        newly = await chunk_store.mark_done(session, organization_id, content_id, chunk_index, prefix, segments)
        pending, total = await chunk_store.pending_count(session, organization_id, content_id, prefix)
        if pending == 0 and newly:
            await progress_events.record(session, organization_id, content_id, ProcessingStage.PACKAGING,
                                        transcode.TRANSCODING_SHARE)
            return True
        if newly:
            await progress_events.record(session, organization_id, content_id, ProcessingStage.TRANSCODING,
                                        transcode.TRANSCODING_SHARE * (total - pending) // max(total, 1))
        return False


async def _all_done(db: Database, scope: TenantScope, content_id: uuid.UUID, prefix: str) -> bool:
    assert scope.organization_id is not None
    async with db.transaction(scope) as session:
        pending, total = await chunk_store.pending_count(session, scope.organization_id, content_id, prefix)
    return total > 0 and pending == 0


async def _assemble(db: Database, storage: Storage, config: hls.HlsConfig, scope: TenantScope,
                    content_id: uuid.UUID, work: _Work) -> str:
    """Media playlists from the chunks' records, the master playlist, the rendition downloads, READY."""
    from codex_graphql.media import processing  # processing imports this module

    assert scope.organization_id is not None
    async with db.transaction(scope) as session:
        chunks = await chunk_store.chunks_of(session, scope.organization_id, content_id, work.prefix)
    if not chunks or any(c.status is not ChunkStatus.DONE for c in chunks):
        return "skipped"
    plan, iv = work.plan, keys.iv_for(work.key)
    made = []
    with tempfile.TemporaryDirectory(prefix="codex-chunks-") as tmp:
        for fields in plan["renditions"]:
            name = fields["name"]
            segments = [s for c in chunks for s in c.segments.get(name, [])]
            if not segments:
                return await _fail(db, storage, scope, content_id, work.prefix,
                                   "The media could not be transcoded: no segments were written.")
            if problem := hls.short_by(sum(seconds for _, seconds, _ in segments),
                                       plan["outcome"].get("duration_seconds")):
                return await _fail(db, storage, scope, content_id, work.prefix, problem)
            playlist = Path(tmp) / f"{name}.m3u8"
            playlist.write_text(media_playlist(segments, iv))
            await storage.upload_file(f"{work.prefix}{name}/index.m3u8", playlist, transcode.PLAYLIST_TYPE)
            rendition = hls.Rendition(**fields)
            codecs = (rendition.codecs if rendition.width is None or not plan["has_audio"]
                      else f"{rendition.codecs},{hls.AUDIO_CODEC}")
            peak, average = bandwidths(segments)
            made.append({**fields, "codecs": codecs, "bandwidth": peak, "average_bandwidth": average})
        master = Path(tmp) / "master.m3u8"
        master.write_text(hls.master_playlist(made))
        await storage.upload_file(f"{work.prefix}master.m3u8", master, transcode.PLAYLIST_TYPE)
    made = await rendition_files.make_downloads(db, storage, config, scope, content_id, work.prefix, made,
                                                work.key)
    return await processing._finish(db, scope, content_id, status=ContentStatus.READY, failure_reason=None,
                                    **plan["outcome"], hls_prefix=work.prefix, hls_renditions=made,
                                    _stage=ProcessingStage.DONE)


async def _fail(db: Database, storage: Storage, scope: TenantScope, content_id: uuid.UUID, prefix: str,
                reason: str) -> str:
    """FAILED first (so no other chunk run records or assembles any more), then the ladder's objects deleted."""
    from codex_graphql.media import processing  # processing imports this module

    outcome = await processing._finish(db, scope, content_id, status=ContentStatus.FAILED, failure_reason=reason,
                                       _stage=ProcessingStage.FAILED)
    if outcome == ContentStatus.FAILED.value:  # not when a twin run finished the item (READY) meanwhile
        await storage.delete_prefix(prefix)
    return outcome


def media_playlist(segments: list[list[Any]], iv: bytes) -> str:
    """A rendition's VOD media playlist over its segments ``[name, seconds, bytes]``, as ffmpeg writes one,
    with the ladder's ``#EXT-X-KEY`` (the placeholder URI the streaming route rewrites)."""
    target = max(1, math.ceil(round(max(seconds for _, seconds, _ in segments), 3)))
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:VOD",
             f'#EXT-X-KEY:METHOD=AES-128,URI="{keys.KEY_URI_PLACEHOLDER}",IV=0x{iv.hex()}']
    for name, seconds, _ in segments:
        lines += [f"#EXTINF:{seconds:.6f},", name]
    return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"


def bandwidths(segments: list[list[Any]]) -> tuple[int, int]:
    """Peak and average bitrate (bit/s) over ``[name, seconds, bytes]`` segments, as ``hls.measure`` counts."""
    peak = max(size * 8 / max(seconds, 0.1) for _, seconds, size in segments)
    average = sum(size * 8 for _, _, size in segments) / max(sum(seconds for _, seconds, _ in segments), 0.1)
    return math.ceil(peak), math.ceil(average)
