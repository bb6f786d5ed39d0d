"""The HLS ladder made by the processing job with real ffmpeg on sources generated at test time: which
renditions a source gets, playlists (parsed with the ``m3u8`` library), keyframe-aligned segments, rotation,
audio items, failures that leave nothing stored, idempotence, resuming after a crash, and HLS_ENABLED=false."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import m3u8
import pytest

from codex_graphql.media import hls, keys, transcode
from codex_graphql.media.ffmpeg import MediaError
from codex_graphql.relay import decode_id
from codex_graphql.settings import Settings
from codex_graphql.storage import hygiene
from tests.media.hls_support import (
    CONFIG,
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


def _storage_file(app: Any, key: str) -> Path:
    return app.state.runtime["services"].storage.root / "objects" / key


def _master(app: Any, prefix: str) -> tuple[str, m3u8.M3U8]:
    [version] = {key.split("/")[3] for key in objects_under(app, prefix)}
    folder = f"{prefix}{version}/"
    return folder, m3u8.loads(_storage_file(app, f"{folder}master.m3u8").read_text())


def _plain(segment: Path, key: bytes, folder: Path) -> Path:
    """A stored (encrypted) segment decrypted into ``folder``, for ffprobe."""
    target = folder / f"{segment.parent.name}-{segment.name}"
    target.write_bytes(decrypt(segment.read_bytes(), key, keys.iv_for(key)))
    return target


def _first_packet_is_keyframe(segment: Path) -> bool:
    found = probe_json(segment, "-select_streams", "v:0", "-show_packets", "-read_intervals", "%+#1",
                       "-show_entries", "packet=flags")
    return found["packets"][0]["flags"].startswith("K")


async def test_a_720p_source_gets_240_360_720_with_aligned_segments(app: Any, gql: GraphQLClient, http: Any,
                                                                    owner: Owner, hls_media: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media["hd"])
    assert await run_job(app, owner.org, content_id) == "READY"
    key = await ladder_key(app, owner.org, content_id)
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert [(r["width"], r["height"]) for r in detail["renditions"]] == [(426, 240), (640, 360), (1280, 720)]
    assert all(r["bandwidth"] > 0 for r in detail["renditions"])
    assert detail["processing"]["stage"] == "DONE" and detail["processing"]["percent"] == 100
    assert detail["processing"]["message"] is None and detail["processing"]["updatedAt"]

    folder, master = _master(app, item_prefix(owner.org, content_id))
    assert master.is_variant and len(master.playlists) == 3
    streams = [p.stream_info for p in master.playlists]
    assert sorted(s.resolution for s in streams) == [(426, 240), (640, 360), (1280, 720)]  # never 1080
    assert all(s.codecs.startswith("avc1.4d40") and s.codecs.endswith(",mp4a.40.2") for s in streams)
    assert all(s.bandwidth >= s.average_bandwidth > 0 for s in streams)
    for playlist in master.playlists:
        name = playlist.uri.split("/")[0]
        media = m3u8.loads(_storage_file(app, f"{folder}{playlist.uri}").read_text())
        assert media.playlist_type == "vod" and media.is_endlist
        durations = [s.duration for s in media.segments]
        assert len(durations) == 3 and abs(sum(durations) - 3.0) < 0.1, durations
        assert all(abs(d - CONFIG.segment_seconds) < 0.05 for d in durations[:-1]), durations
        # Encrypted with the ladder's key and its fixed IV, named once for all segments.
        assert [(k.method, k.uri, k.iv) for k in media.keys] == [
            ("AES-128", keys.KEY_URI_PLACEHOLDER, "0x" + keys.iv_for(key).hex())]
        plain = [_plain(_storage_file(app, f"{folder}{name}/{segment.uri}"), key, tmp_path)
                 for segment in media.segments]
        for path, segment in zip(plain, media.segments, strict=True):
            assert _first_packet_is_keyframe(path), (name, segment.uri)
        first = probe_json(plain[0], "-show_streams")
        video = next(s for s in first["streams"] if s["codec_type"] == "video")
        audio = next(s for s in first["streams"] if s["codec_type"] == "audio")
        assert video["codec_name"] == "h264"
        assert (video["width"], video["height"]) == playlist.stream_info.resolution
        assert audio["codec_name"] == "aac"


async def test_rotated_source_gets_portrait_renditions(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                       hls_media: dict[str, Path], tmp_path: Path) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media["rotated"])
    assert await run_job(app, owner.org, content_id) == "READY"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    # 640x360 turned a quarter: displayed 360x640, so 360p is its tallest rung and every rendition is portrait.
    assert [(r["width"], r["height"]) for r in detail["renditions"]] == [(240, 426), (360, 640)]
    folder, master = _master(app, item_prefix(owner.org, content_id))
    top = max(master.playlists, key=lambda p: p.stream_info.bandwidth)
    media = m3u8.loads(_storage_file(app, f"{folder}{top.uri}").read_text())
    segment = _plain(_storage_file(app, f"{folder}{top.uri.split('/')[0]}/{media.segments[0].uri}"),
                     await ladder_key(app, owner.org, content_id), tmp_path)
    video = next(s for s in probe_json(segment, "-show_streams")["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (360, 640)


async def test_a_source_below_the_smallest_rung_gets_its_own_size(app: Any, gql: GraphQLClient, http: Any,
                                                                  owner: Owner, hls_media: dict[str, Path]) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media["small"])
    assert await run_job(app, owner.org, content_id) == "READY"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert [(r["width"], r["height"]) for r in detail["renditions"]] == [(320, 180)]
    _, master = _master(app, item_prefix(owner.org, content_id))
    [only] = master.playlists
    assert only.uri == "180p/index.m3u8" and only.stream_info.codecs == "avc1.4d401e"  # no audio stream: no AAC


async def test_an_audio_item_gets_one_aac_rendition(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                    hls_media: dict[str, Path], tmp_path: Path) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media["tone"])
    assert await run_job(app, owner.org, content_id) == "READY"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert len(detail["renditions"]) == 1 and detail["renditions"][0]["height"] is None
    folder, master = _master(app, item_prefix(owner.org, content_id))
    [only] = master.playlists
    assert only.uri == "audio/index.m3u8" and only.stream_info.codecs == "mp4a.40.2"
    assert only.stream_info.resolution is None
    media = m3u8.loads(_storage_file(app, f"{folder}{only.uri}").read_text())
    first = _plain(_storage_file(app, f"{folder}audio/{media.segments[0].uri}"),
                   await ladder_key(app, owner.org, content_id), tmp_path)
    streams = probe_json(first, "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == ["audio"] and streams[0]["codec_name"] == "aac"


@pytest.mark.parametrize(("source", "kind", "reason"), [
    ("empty", "VIDEO", "no video stream"),  # 0 seconds: ffmpeg wrote no frame
    ("garbage", "VIDEO", "could not be read"),
    ("soundtrack", "VIDEO", "no video stream"),
])
async def test_bad_sources_end_failed_with_nothing_stored(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                          hls_media: dict[str, Path], source: str, kind: str,
                                                          reason: str) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media[source], kind=kind)
    assert await run_job(app, owner.org, content_id) == "FAILED"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "FAILED" and reason in detail["failureReason"] and detail["failureReason"]
    assert detail["processing"]["stage"] == "FAILED" and detail["processing"]["message"] == detail["failureReason"]
    assert detail["renditions"] == []
    assert objects_under(app, item_prefix(owner.org, content_id)) == []


async def test_a_transcode_failure_midway_deletes_the_partial_ladder(app: Any, gql: GraphQLClient, http: Any,
                                                                     owner: Owner, hls_media: dict[str, Path],
                                                                     uploads: list[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = hls.run

    async def failing_second(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise MediaError("The media could not be transcoded: corrupt data mid-file.")
        await real(args, on_seconds, limit_seconds)

    monkeypatch.setattr(hls, "run", failing_second)
    content_id = await uploaded(gql, http, owner.token, hls_media["hd"])
    assert await run_job(app, owner.org, content_id) == "FAILED"
    prefix = item_prefix(owner.org, content_id)
    assert any(k.startswith(prefix) and k.endswith("240p/index.m3u8") for k in uploads)  # the first was stored ...
    assert objects_under(app, prefix) == []  # ... and deleted with the rest
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "FAILED" and "corrupt data mid-file" in detail["failureReason"]
    assert detail["renditions"] == [] and detail["processing"]["stage"] == "FAILED"


async def test_running_the_job_twice_uploads_nothing_new(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                         hls_media: dict[str, Path], uploads: list[str]) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media["small"])
    assert await run_job(app, owner.org, content_id) == "READY"
    stored, first_uploads = objects_under(app, item_prefix(owner.org, content_id)), len(uploads)
    assert first_uploads > 0
    assert await run_job(app, owner.org, content_id) == "skipped"
    assert len(uploads) == first_uploads and objects_under(app, item_prefix(owner.org, content_id)) == stored


async def test_a_crash_after_the_first_rendition_resumes_without_redoing_it(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, hls_media: dict[str, Path], uploads: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []
    real = hls.run
    crash = [True]

    async def crashing_once(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        commands.append(args)
        if len(commands) == 2 and crash:
            crash.clear()
            raise RuntimeError("worker killed")
        await real(args, on_seconds, limit_seconds)

    monkeypatch.setattr(hls, "run", crashing_once)
    content_id = await uploaded(gql, http, owner.token, hls_media["hd"])
    with pytest.raises(RuntimeError, match="worker killed"):
        await run_job(app, owner.org, content_id)
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["status"] == "PROCESSING" and detail["processing"]["stage"] == "TRANSCODING"
    assert detail["processing"]["percent"] > 0
    prefix = item_prefix(owner.org, content_id)
    before = objects_under(app, prefix)
    assert any(k.endswith("240p/index.m3u8") for k in before)
    key = await ladder_key(app, owner.org, content_id)

    commands.clear()
    uploads.clear()
    assert await run_job(app, owner.org, content_id) == "READY"  # the retry
    assert not any("240p" in " ".join(c) for c in commands), commands  # 240p was not transcoded again
    assert len(commands) == 2  # 360p and 720p
    assert all(c.index("-protocol_whitelist") < c.index("-i") and c[c.index("-protocol_whitelist") + 1] == "file,pipe"
               for c in commands)  # local files only, as every ffmpeg run (test_media_protocols.py)
    # Of 240p only its download MP4 (made once the whole ladder is stored) is new; its segments are not.
    assert not any("/240p/" in key and not key.endswith("/download.mp4") for key in uploads) and uploads
    assert {k.split("/")[3] for k in objects_under(app, prefix)} == {before[0].split("/")[3]}  # same version
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert [r["height"] for r in detail["renditions"]] == [240, 360, 720]
    folder, master = _master(app, prefix)
    assert len(master.playlists) == 3
    # One key for the ladder: the resumed run reused the first run's key for the renditions it made.
    assert await ladder_key(app, owner.org, content_id) == key
    for playlist in master.playlists:
        media = m3u8.loads(_storage_file(app, f"{folder}{playlist.uri}").read_text())
        first = _storage_file(app, f"{folder}{playlist.uri.split('/')[0]}/{media.segments[0].uri}").read_bytes()
        assert set(first[::188]) != {0x47} and set(decrypt(first, key, keys.iv_for(key))[::188]) == {0x47}
        assert media.keys[0].iv == "0x" + keys.iv_for(key).hex()


async def test_progress_is_written_from_ffmpeg_progress_and_throttled(
        app: Any, gql: GraphQLClient, http: Any, owner: Owner, hls_media: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from codex_graphql.media import repository

    written: list[tuple[str, int]] = []
    real = repository.set_progress

    async def recording(session: Any, organization_id: Any, content_id: Any, stage: Any, percent: int,
                        message: str | None = None) -> None:
        written.append((stage.value, percent))
        await real(session, organization_id, content_id, stage, percent, message)

    monkeypatch.setattr(repository, "set_progress", recording)
    monkeypatch.setattr(transcode, "PROGRESS_SECONDS", 0.0)  # every progress report is written
    content_id = await uploaded(gql, http, owner.token, hls_media["hd"])
    assert await run_job(app, owner.org, content_id) == "READY"
    stages = [stage for stage, _ in written]
    assert stages[0] == "PROBING" and stages[-2:] == ["PACKAGING", "DONE"] and "TRANSCODING" in stages
    transcoding = [percent for stage, percent in written if stage == "TRANSCODING"]
    assert transcoding == sorted(transcoding) and 0 < max(transcoding) <= transcode.TRANSCODING_SHARE
    assert len(set(transcoding)) > 3  # fed by ffmpeg's out_time during each rendition, not only at its ends
    assert written[-1] == ("DONE", 100)

    # With the real two-second throttle, a three-second source's ladder writes far fewer rows.
    monkeypatch.setattr(transcode, "PROGRESS_SECONDS", 2.0)
    written.clear()
    again = await uploaded(gql, http, owner.token, hls_media["hd"])
    assert await run_job(app, owner.org, again) == "READY"
    assert len([1 for stage, _ in written if stage == "TRANSCODING"]) < len(transcoding)


async def test_hls_disabled_keeps_the_original_as_what_plays(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                             hls_media: dict[str, Path], uploads: list[str]) -> None:
    assert hls.HlsConfig.from_settings(Settings(hls_enabled=False)) is None
    assert hls.HlsConfig.from_settings(Settings()) == hls.HlsConfig(4, (240, 360, 720, 1080), "128k")
    content_id = await uploaded(gql, http, owner.token, hls_media["hd"])
    assert await run_job(app, owner.org, content_id, hls.HlsConfig.from_settings(Settings(hls_enabled=False))) == "READY"
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["renditions"] == [] and detail["processing"] is None
    assert objects_under(app, item_prefix(owner.org, content_id)) == []
    assert not any(k.startswith("hls/") for k in uploads)
    playback = (await gql.ok("query($id:ID!){content(id:$id){playback{url}}}", {"id": content_id},
                             owner.token))["content"]["playback"]
    assert playback and playback["url"]
    response = await http.get(playback["url"])
    assert response.status_code == 200 and response.content == hls_media["hd"].read_bytes()


def test_ladder_settings_are_validated() -> None:
    assert Settings(hls_ladder=" 720, 240,360,240").hls_ladder == "240,360,720"
    for bad in ("", "abc", "240,0", "99999"):
        with pytest.raises(ValueError, match="HLS_LADDER"):
            Settings(hls_ladder=bad)
    with pytest.raises(ValueError):
        Settings(hls_segment_seconds=0)
    with pytest.raises(ValueError):
        Settings(hls_audio_bitrate="loud")


async def test_purging_a_deleted_item_deletes_its_ladder(app: Any, gql: GraphQLClient, http: Any, owner: Owner,
                                                         hls_media: dict[str, Path], admin_db: Any) -> None:
    content_id = await uploaded(gql, http, owner.token, hls_media["small"])
    assert await run_job(app, owner.org, content_id) == "READY"
    prefix = item_prefix(owner.org, content_id)
    assert objects_under(app, prefix)
    raw_id = decode_id(content_id, "Content")
    await admin_db.execute("update content set deleted_at = now() - interval '40 days' where id = $1", raw_id)
    services = app.state.runtime["services"]
    report = await hygiene.run(services.db, services.storage, retention=timedelta(days=30))
    assert report.purged_items == 1
    assert objects_under(app, prefix) == []
    row = await admin_db.fetchrow("select hls_prefix, hls_renditions::text from content where id = $1", raw_id)
    assert row["hls_prefix"] is None and row["hls_renditions"] == "[]"
