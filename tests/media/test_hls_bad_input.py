"""Awkward sources through the HLS ladder (issue 18: variable frame rates, corrupt data mid-file, truncated
uploads), made with real ffmpeg at test time. The rule under test: an item ends READY with a ladder whose every
playlist parses and every segment is stored, or FAILED with a reason and nothing stored under its HLS prefix;
never in between. Odd sizes, rotation, no video stream, 0-second and garbage files are in test_hls_ladder.py."""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path
from typing import Any

import m3u8
import pytest

from codex_graphql.media import keys
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


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def _boxes(data: bytes) -> list[tuple[str, int, int]]:
    """Top-level MP4 boxes: (type, offset, size)."""
    found, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size < 8:
            break
        found.append((kind.decode(errors="replace"), at, size))
        at += size
    return found


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-media")
    made: dict[str, Path] = {}
    # Variable frame rate: 1.5 s at 15 fps then 1.5 s at 30 fps, timestamps kept as they are (-fps_mode vfr).
    made["vfr"] = folder / "vfr.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1.5:size=640x360:rate=15",
            "-f", "lavfi", "-i", "testsrc=duration=1.5:size=640x360:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
            "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-fps_mode", "vfr",
            "-c:a", "aac", str(made["vfr"]))
    good = folder / "good.mp4"  # moov after mdat, as ffmpeg (and many recorders) write it
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(good))
    data = bytearray(good.read_bytes())
    [(_, start, size)] = [box for box in _boxes(bytes(data)) if box[0] == "mdat"]
    middle = start + size // 2
    data[middle:middle + 8192] = random.Random(18).randbytes(8192)  # 8 KiB of noise in the middle of the media
    made["corrupt"] = folder / "corrupt.mp4"
    made["corrupt"].write_bytes(bytes(data))
    made["truncated"] = folder / "truncated.mp4"  # cut at 60 %: the moov (the index) is lost with the tail
    made["truncated"].write_bytes(good.read_bytes()[:int(good.stat().st_size * 0.6)])
    faststart = folder / "faststart.mp4"
    _ffmpeg("-i", str(good), "-c", "copy", "-movflags", "+faststart", str(faststart))
    made["truncated_faststart"] = folder / "truncated-faststart.mp4"  # index first: 60 % of the media remains
    made["truncated_faststart"].write_bytes(faststart.read_bytes()[:int(faststart.stat().st_size * 0.6)])
    return made


def _storage_file(app: Any, key: str) -> Path:
    return app.state.runtime["services"].storage.root / "objects" / key


async def _complete_ladder(app: Any, owner: Owner, content_id: str, work: Path) -> dict[str, Path]:
    """Check the stored ladder is whole (master and media playlists parse, every segment they name is stored)
    and return each rendition's decrypted segments joined into one MPEG-TS file."""
    prefix = item_prefix(owner.org, content_id)
    stored = set(objects_under(app, prefix))
    [version] = {key.split("/")[3] for key in stored}
    folder = f"{prefix}{version}/"
    master = m3u8.loads(_storage_file(app, f"{folder}master.m3u8").read_text())
    assert master.is_variant and master.playlists
    key = await ladder_key(app, owner.org, content_id)
    joined: dict[str, Path] = {}
    for variant in master.playlists:
        name = variant.uri.split("/")[0]
        assert f"{folder}{variant.uri}" in stored
        media = m3u8.loads(_storage_file(app, f"{folder}{variant.uri}").read_text())
        assert media.is_endlist and media.segments
        target = work / f"{name}.ts"
        with target.open("wb") as out:
            for segment in media.segments:
                segment_key = f"{folder}{name}/{segment.uri}"
                assert segment_key in stored, segment_key
                out.write(decrypt(_storage_file(app, segment_key).read_bytes(), key, keys.iv_for(key)))
        joined[name] = target
    return joined


def _video_deltas(path: Path) -> tuple[list[float], float]:
    """Differences between consecutive video timestamps (presentation order), and the span they cover."""
    packets = probe_json(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time")["packets"]
    times = sorted(float(p["pts_time"]) for p in packets if p.get("pts_time") not in (None, "N/A"))
    deltas = [round(b - a, 4) for a, b in zip(times, times[1:], strict=False)]
    return deltas, times[-1] - times[0] + (deltas[-1] if deltas else 0.0)


def _ladder_seconds(path: Path) -> float:
    return float(probe_json(path, "-show_format")["format"]["duration"])


async def test_a_variable_frame_rate_source_comes_out_at_a_constant_rate(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, bad_media: dict[str, Path], tmp_path: Path) -> None:
    source_deltas, _ = _video_deltas(bad_media["vfr"])
    assert {0.0333, 0.0667} <= set(source_deltas), set(source_deltas)  # the source really is VFR
    content_id = await uploaded(gql, http, owner.token, bad_media["vfr"])
    assert await run_job(app, owner.org, content_id) == "READY"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert [(r["width"], r["height"]) for r in detail["renditions"]] == [(426, 240), (640, 360)]
    joined = await _complete_ladder(app, owner, content_id, tmp_path)
    assert sorted(joined) == ["240p", "360p"]
    for name, path in joined.items():
        deltas, span = _video_deltas(path)
        assert len(set(deltas)) == 1, (name, sorted(set(deltas)))  # one frame duration throughout: CFR
        assert abs(span - 3.0) <= 0.1, (name, span)
        assert abs(_ladder_seconds(path) - 3.0) <= 0.15, name


async def test_a_file_corrupted_mid_way_is_concealed_and_ready(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, bad_media: dict[str, Path], tmp_path: Path) -> None:
    """ffmpeg's decoders conceal the damaged macroblocks and AAC frames and go on: the item is READY, whole."""
    content_id = await uploaded(gql, http, owner.token, bad_media["corrupt"])
    assert await run_job(app, owner.org, content_id) == "READY"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["failureReason"] is None and [r["height"] for r in detail["renditions"]] == [240]
    [(name, path)] = (await _complete_ladder(app, owner, content_id, tmp_path)).items()
    assert name == "240p" and abs(_ladder_seconds(path) - 4.0) <= 0.15
    streams = probe_json(path, "-show_streams")["streams"]
    assert sorted(s["codec_name"] for s in streams) == ["aac", "h264"]


async def test_a_truncated_file_without_its_index_fails_with_nothing_stored(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, bad_media: dict[str, Path]) -> None:
    content_id = await uploaded(gql, http, owner.token, bad_media["truncated"])
    assert await run_job(app, owner.org, content_id) == "FAILED"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "FAILED" and "could not be read" in detail["failureReason"]
    assert detail["renditions"] == [] and detail["processing"]["stage"] == "FAILED"
    assert objects_under(app, item_prefix(owner.org, content_id)) == []


async def test_a_truncated_file_with_its_index_first_fails_with_nothing_stored(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, bad_media: dict[str, Path]) -> None:
    """With the index at the front (faststart) the cut file still probes as 4 seconds, and ffmpeg transcodes the
    media that is there and stops at the cut without an error: the ladder is measured against the probe, so the
    item FAILS (saying how much could be read) instead of going READY with an item shorter than it claims."""
    content_id = await uploaded(gql, http, owner.token, bad_media["truncated_faststart"])
    assert await run_job(app, owner.org, content_id) == "FAILED"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "FAILED" and "ends early" in detail["failureReason"], detail
    assert "of its 4.0 s could be read" in detail["failureReason"]
    assert detail["renditions"] == [] and detail["processing"]["stage"] == "FAILED"
    assert objects_under(app, item_prefix(owner.org, content_id)) == []
