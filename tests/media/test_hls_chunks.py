"""Chunked HLS transcoding (media/chunks.py, docs/media.md "Chunked transcoding") with real ffmpeg on a 12-second
160x90 source made at test time: 2-second segments and 4-second chunks give three chunks, each transcoded by its
own ``transcode_chunk`` run (called directly here, as the actor would). The chunked ladder matches a one-run ladder
of the same source segment for segment, with continuous timestamps; concurrent chunk runs finish the item READY
exactly once; runs repeated or killed and retried change nothing or redo only their chunk; a chunk that cannot be
transcoded fails the whole item and leaves nothing stored, whatever the other chunks' runs do afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import m3u8
import pytest

from codex_graphql.content.service import STATUS_EVENT
from codex_graphql.media import chunks, hls, keys
from codex_graphql.media.ffmpeg import MediaError
from codex_graphql.media.hls import HlsConfig
from codex_graphql.relay import decode_id
from codex_graphql.settings import Settings
from tests.media.hls_support import (
    DETAIL,
    Owner,
    decrypt,
    item_prefix,
    ladder_key,
    objects_under,
    probe_json,
    run_job,
    uploaded,
)
from tests.support import GraphQLClient

# Two rungs (60p and the source's own 90p), 2-second segments, 4-second chunks: 12 s make chunks [0,4) [4,8) [8,end).
CHUNKED = HlsConfig(segment_seconds=2, heights=(60, 90), audio_bitrate="64k", chunk_seconds=4,
                    rendition_downloads=False)
SECONDS = 12
FPS = 25



@pytest.fixture(scope="module")
def long_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chunks") / "long.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=duration={SECONDS}:size=160x90:rate={FPS}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True, timeout=60)
    return path


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every ladder ffmpeg command run, recorded (and run)."""
    recorded: list[list[str]] = []
    real = hls.run

    async def recording(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        recorded.append(args)
        await real(args, on_seconds, limit_seconds)

    monkeypatch.setattr(hls, "run", recording)
    return recorded


def _config(app: Any, config: HlsConfig = CHUNKED) -> HlsConfig:
    return dataclasses.replace(config, key_secret=app.state.runtime["services"].settings.secret_key)


async def run_chunk(app: Any, org: uuid.UUID, content_global_id: str, index: int,
                    config: HlsConfig = CHUNKED) -> str:
    """What the transcode_chunk actor runs."""
    services = app.state.runtime["services"]
    content_id = decode_id(content_global_id, "Content")
    assert content_id is not None
    return await chunks.run_chunk(services.db, services.storage, _config(app, config), org, content_id, index)


async def _planned(app: Any, gql: GraphQLClient, http: Any, owner: Owner, source: Path, admin_db: Any) -> str:
    """An uploaded item whose processing job probed it and enqueued its three chunk jobs."""
    content_id = await uploaded(gql, http, owner.token, source)
    assert await run_job(app, owner.org, content_id, CHUNKED) == "PROCESSING"
    jobs = await admin_db.fetch(
        "select payload->>'chunk_index' as chunk, payload->>'content_id' as content from outbox_message "
        "where topic = $1 and payload->>'content_id' = $2 order by 1", chunks.CHUNK_ACTOR,
        str(decode_id(content_id, "Content")))
    assert [j["chunk"] for j in jobs] == ["0", "1", "2"]
    return content_id


async def _status_events(admin_db: Any, content_id: str) -> list[str]:
    rows = await admin_db.fetch("select payload->>'status' as status from outbox_message where topic = $1 "
                                "and payload->>'contentId' = $2 order by created_at", STATUS_EVENT,
                                str(decode_id(content_id, "Content")))
    return [r["status"] for r in rows]


def _file(app: Any, key: str) -> Path:
    return app.state.runtime["services"].storage.root / "objects" / key


def _ladder(app: Any, prefix: str) -> tuple[str, m3u8.M3U8, dict[str, m3u8.M3U8]]:
    [version] = {key.split("/")[3] for key in objects_under(app, prefix)}
    folder = f"{prefix}{version}/"
    master = m3u8.loads(_file(app, f"{folder}master.m3u8").read_text())
    media = {p.uri.split("/")[0]: m3u8.loads(_file(app, f"{folder}{p.uri}").read_text()) for p in master.playlists}
    return folder, master, media


def _packets(path: Path, stream: str) -> list[tuple[float, float]]:
    found = probe_json(path, "-select_streams", stream, "-show_entries", "packet=pts_time,duration_time",
                       "-show_packets")
    return sorted((float(p["pts_time"]), float(p.get("duration_time") or 0)) for p in found["packets"])


def test_chunk_spans_are_whole_segments_and_the_tail_joins_the_last_chunk() -> None:
    def as_tuples(duration: float, config: HlsConfig) -> list[tuple[int, int | None, int]]:
        return [(s.start, s.length, s.first_segment) for s in chunks.spans(duration, config)]

    assert as_tuples(12, CHUNKED) == [(0, 4, 0), (4, 4, 2), (8, None, 4)]
    assert as_tuples(15.9, CHUNKED) == [(0, 4, 0), (4, 4, 2), (8, None, 4)]  # the last chunk runs to the end
    assert as_tuples(8, CHUNKED) == [] and as_tuples(8.5, CHUNKED) == [(0, 4, 0), (4, None, 2)]
    assert as_tuples(3600, dataclasses.replace(CHUNKED, chunk_seconds=0)) == []  # off
    # 5 s with 2 s segments: 4 s chunks, so chunk and segment boundaries coincide.
    assert as_tuples(13, dataclasses.replace(CHUNKED, chunk_seconds=5)) == [(0, 4, 0), (4, 4, 2), (8, None, 4)]
    assert as_tuples(3, dataclasses.replace(CHUNKED, segment_seconds=1, chunk_seconds=1)) == [
        (0, 1, 0), (1, 1, 1), (2, None, 2)]
    assert Settings().hls_chunk_seconds == 300 and HlsConfig.from_settings(Settings()).chunk_seconds == 300
    assert HlsConfig.from_settings(Settings(hls_chunk_seconds=0)).chunk_seconds == 0
    with pytest.raises(ValueError):
        Settings(hls_chunk_seconds=-1)


def test_the_chunk_actor_is_declared() -> None:
    from workers import media_actors

    assert media_actors.transcode_chunk.actor_name == chunks.CHUNK_ACTOR == "transcode_chunk"


async def test_a_chunked_ladder_matches_a_one_run_ladder_with_continuous_timestamps(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, long_source: Path, admin_db: Any,
        tmp_path: Path, commands: list[list[str]]) -> None:
    one_run = await uploaded(gql, http, owner.token, long_source)
    assert await run_job(app, owner.org, one_run, dataclasses.replace(CHUNKED, chunk_seconds=0)) == "READY"
    assert not any("-ss" in c for c in commands)
    commands.clear()

    content_id = await _planned(app, gql, http, owner, long_source, admin_db)
    assert commands == []  # the processing job only probed, made thumbnails and planned
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "PROCESSING" and detail["processing"]["stage"] == "TRANSCODING"
    assert [await run_chunk(app, owner.org, content_id, i) for i in range(3)] == ["DONE", "DONE", "READY"]
    # Each chunk run seeks into the source and numbers its segments from its first one.
    assert sorted((c[c.index("-ss") + 1], c[c.index("-start_number") + 1]) for c in commands) == sorted(
        [("0", "0"), ("4", "2"), ("8", "4")] * 2)

    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "READY" and detail["processing"]["stage"] == "DONE"
    assert detail["processing"]["percent"] == 100
    assert [(r["width"], r["height"]) for r in detail["renditions"]] == [(106, 60), (160, 90)]
    key = await ladder_key(app, owner.org, content_id)
    iv = "0x" + keys.iv_for(key).hex()
    folder, master, media = _ladder(app, item_prefix(owner.org, content_id))
    _, one_master, one_media = _ladder(app, item_prefix(owner.org, one_run))
    assert sorted(p.stream_info.resolution for p in master.playlists) == [(106, 60), (160, 90)]
    assert all(p.stream_info.bandwidth >= p.stream_info.average_bandwidth > 0 for p in master.playlists)
    assert [p.stream_info.codecs for p in master.playlists] == [p.stream_info.codecs for p in one_master.playlists]
    for name, playlist in media.items():
        assert playlist.playlist_type == "vod" and playlist.is_endlist and playlist.media_sequence == 0
        assert [(k.method, k.uri, k.iv) for k in playlist.keys] == [("AES-128", keys.KEY_URI_PLACEHOLDER, iv)]
        assert [s.uri for s in playlist.segments] == [f"segment_{n:05d}.ts" for n in range(6)]
        assert len(playlist.segments) == len(one_media[name].segments)
        for ours, theirs in zip(playlist.segments, one_media[name].segments, strict=True):
            assert abs(ours.duration - theirs.duration) < 0.05, (name, ours.uri)
        assert abs(sum(s.duration for s in playlist.segments) - SECONDS) < 0.1
        assert playlist.target_duration == 2
        plain = []
        for segment in playlist.segments:
            target = tmp_path / f"{name}-{segment.uri}"
            target.write_bytes(decrypt(_file(app, f"{folder}{name}/{segment.uri}").read_bytes(), key,
                                       keys.iv_for(key)))
            plain.append(target)
        video = [s for s in probe_json(plain[0], "-show_streams")["streams"] if s["codec_type"] == "video"]
        assert video[0]["codec_name"] == "h264"
        for earlier, later in zip(plain, plain[1:], strict=False):
            # Video: the next segment starts one frame after the last frame of this one, across chunks too.
            last_pts, last_duration = _packets(earlier, "v:0")[-1]
            first_pts, _ = _packets(later, "v:0")[0]
            assert abs(first_pts - (last_pts + (last_duration or 1 / FPS))) < 0.002, (name, later.name)
            # Audio: continuous within a chunk; at a chunk boundary the AAC encoder's priming overlaps a little.
            a_last, a_duration = _packets(earlier, "a:0")[-1]
            a_first, _ = _packets(later, "a:0")[0]
            assert abs(a_first - (a_last + a_duration)) < 0.05, (name, later.name)
    assert await _status_events(admin_db, content_id) == ["PROCESSING", "READY"]


async def test_concurrent_chunk_runs_finish_the_item_once(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                          long_source: Path, admin_db: Any) -> None:
    content_id = await _planned(app, gql, http, owner, long_source, admin_db)
    with_downloads = dataclasses.replace(CHUNKED, rendition_downloads=True)
    results = await asyncio.gather(*(run_chunk(app, owner.org, content_id, i, with_downloads) for i in (2, 1, 0)))
    assert sorted(results) == ["DONE", "DONE", "READY"]
    assert await _status_events(admin_db, content_id) == ["PROCESSING", "READY"]
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "READY" and detail["processing"] == {**detail["processing"], "stage": "DONE",
                                                                     "percent": 100}
    _, master, media = _ladder(app, item_prefix(owner.org, content_id))
    assert len(master.playlists) == 2
    for playlist in media.values():
        assert [s.uri for s in playlist.segments] == [f"segment_{n:05d}.ts" for n in range(6)]
    raw = decode_id(content_id, "Content")
    assert await admin_db.fetchval("select count(*) from content_processing_chunk where content_id = $1 "
                                   "and status = 'DONE'", raw) == 3
    # The assembled ladder gets its rendition downloads (rendition_files.py) like a one-run ladder.
    renditions = json.loads(await admin_db.fetchval("select hls_renditions::text from content where id = $1", raw))
    for rendition in renditions:
        assert rendition["download_key"].endswith(f"/{rendition['name']}/download.mp4")
        downloaded = probe_json(_file(app, rendition["download_key"]), "-show_format")["format"]
        assert abs(float(downloaded["duration"]) - SECONDS) < 0.3, rendition["name"]


async def test_repeated_and_killed_chunk_runs_redo_only_their_chunk(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, long_source: Path, admin_db: Any,
        uploads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    content_id = await _planned(app, gql, http, owner, long_source, admin_db)
    assert await run_job(app, owner.org, content_id, CHUNKED) == "skipped"  # a second processing run: no new jobs
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = $1 "
                                   "and payload->>'content_id' = $2", chunks.CHUNK_ACTOR,
                                   str(decode_id(content_id, "Content"))) == 3

    commands: list[list[str]] = []
    real = hls.run
    crash = [True]

    async def crashing_once(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        commands.append(args)
        if args[args.index("-ss") + 1] == "4" and len(commands) == 2 and crash:
            crash.clear()
            raise RuntimeError("worker killed")
        await real(args, on_seconds, limit_seconds)

    monkeypatch.setattr(hls, "run", crashing_once)
    uploads.clear()
    assert await run_chunk(app, owner.org, content_id, 0) == "DONE"
    first = list(uploads)
    assert len(first) == 2 * 2 and len(commands) == 2  # two segments of each rendition
    commands.clear()
    uploads.clear()
    assert await run_chunk(app, owner.org, content_id, 0) == "skipped"  # the same job again
    assert commands == [] and uploads == []

    with pytest.raises(RuntimeError, match="worker killed"):
        await run_chunk(app, owner.org, content_id, 1)
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "PROCESSING"
    assert (detail["processing"]["stage"], detail["processing"]["percent"]) == ("TRANSCODING", 95 // 3)
    commands.clear()
    assert await run_chunk(app, owner.org, content_id, 1) == "DONE"  # the retry redoes chunk 1 only
    assert [c[c.index("-ss") + 1] for c in commands] == ["4", "4"]
    assert sorted(k.rsplit("/", 1)[1] for k in uploads) == sorted(["segment_00002.ts", "segment_00003.ts"] * 2)
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["processing"]["percent"] == 95 * 2 // 3

    assert await run_chunk(app, owner.org, content_id, 2) == "READY"
    stored = objects_under(app, item_prefix(owner.org, content_id))
    commands.clear()
    uploads.clear()
    assert [await run_chunk(app, owner.org, content_id, i) for i in range(3)] == ["skipped"] * 3
    assert commands == [] and uploads == []
    assert objects_under(app, item_prefix(owner.org, content_id)) == stored
    assert await _status_events(admin_db, content_id) == ["PROCESSING", "READY"]


async def test_a_corrupt_chunk_fails_the_item_and_later_chunk_runs_store_nothing(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, long_source: Path, admin_db: Any,
        uploads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    content_id = await _planned(app, gql, http, owner, long_source, admin_db)
    prefix = item_prefix(owner.org, content_id)
    real = hls.run
    outcomes: list[str] = []

    async def corrupt_middle(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        start = args[args.index("-ss") + 1]
        if start == "4":
            raise MediaError("The media could not be transcoded: corrupt data mid-file.")
        if start == "8" and not outcomes:
            # Chunk 1 fails while chunk 2's run is transcoding: chunk 2 then uploads into a failed ladder.
            outcomes.append(await run_chunk(app, owner.org, content_id, 1))
        await real(args, on_seconds, limit_seconds)

    monkeypatch.setattr(hls, "run", corrupt_middle)
    assert await run_chunk(app, owner.org, content_id, 0) == "DONE"
    assert objects_under(app, prefix)
    assert await run_chunk(app, owner.org, content_id, 2) == "skipped"
    assert outcomes == ["FAILED"]
    assert any("segment_00004" in k for k in uploads)  # chunk 2 did upload ...
    assert objects_under(app, prefix) == []  # ... and deleted what it uploaded once it saw the item failed
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "FAILED" and "corrupt data mid-file" in detail["failureReason"]
    assert detail["processing"]["stage"] == "FAILED" and detail["renditions"] == []

    uploads.clear()
    assert [await run_chunk(app, owner.org, content_id, i) for i in range(3)] == ["skipped"] * 3  # late runs
    assert uploads == [] and objects_under(app, prefix) == []
    assert await run_job(app, owner.org, content_id, CHUNKED) == "skipped"
    assert await _status_events(admin_db, content_id) == ["PROCESSING", "FAILED"]


async def test_a_chunked_ladder_shorter_than_the_probe_fails_at_assembly(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, long_source: Path, admin_db: Any, tmp_path: Path,
        ) -> None:
    """A truncated upload whose index (at the front) still claims the full length: the last chunk's ffmpeg stops
    at the cut without an error, so every chunk is DONE, and the assembly, measuring the ladder against the
    probe, fails the item and deletes the ladder instead of publishing a shorter item."""
    faststart = tmp_path / "faststart.mp4"
    await asyncio.to_thread(subprocess.run, ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(long_source),
                                             "-c", "copy", "-movflags", "+faststart", str(faststart)],
                            check=True, timeout=60)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(faststart.read_bytes()[:int(faststart.stat().st_size * 0.55)])
    content_id = await _planned(app, gql, http, owner, truncated, admin_db)
    outcomes = [await run_chunk(app, owner.org, content_id, i) for i in range(3)]
    assert outcomes[-1] == "FAILED", outcomes
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "FAILED" and "ends early" in detail["failureReason"], detail
    assert objects_under(app, item_prefix(owner.org, content_id)) == []
