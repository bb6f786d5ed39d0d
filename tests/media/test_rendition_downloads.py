"""Rendition downloads (docs/media.md, "Rendition downloads"): after the ladder the processing job remuxes each
rendition's stored, encrypted segments into a progressive MP4 (``media/rendition_files.py``), and
``requestDownload(input: {rendition})`` / ``Content.download(rendition:)`` sign it, counted with the original on one
counter and one limit. Real ffmpeg on sources made at test time (tests/media/hls_support.py); MP4s checked with
ffprobe."""

from __future__ import annotations

import dataclasses
import json
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest

from codex_graphql.media import hls, rendition_files
from codex_graphql.relay import decode_id
from codex_graphql.settings import Settings
from tests.media.hls_support import CONFIG, item_prefix, objects_under, probe_json, run_job, uploaded
from tests.support import Actors, make_actors
from tests.support.reviews import entitle

RENDITIONS = """query($id: ID!) { content(id: $id) { status
  renditions { name height width bandwidth downloadable downloadBytes } } }"""
REQUEST = """mutation($input: RequestDownloadInput!) { requestDownload(input: $input) {
  errors { code field message } download { url expiresAt used limit remaining } } }"""
FIELD = """query($id: ID!, $rendition: String) { content(id: $id) {
  download(rendition: $rendition) { url expiresAt used limit remaining } } }"""
SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field } settings { downloadLimit } } }"""


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)


def _raw(content_id: str) -> uuid.UUID:
    found = decode_id(content_id, "Content")
    assert found is not None
    return found


async def _published(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors, source: Path,
                     *, allow_downloads: bool = True, config: hls.HlsConfig = CONFIG) -> str:
    content_id = await uploaded(gql, http, actors.staff_with.token, source)
    assert await run_job(app, actors.org, content_id, config) == "READY"
    await admin_db.execute("update content set status = 'PUBLISHED', published_at = now(), allow_downloads = $2 "
                           "where id = $1", _raw(content_id), allow_downloads)
    return content_id


def _stored(app: Any, key: str) -> Path:
    return app.state.runtime["services"].storage.root / "objects" / key


async def _download_keys(admin_db: Any, content_id: str) -> dict[str, str | None]:
    row = await admin_db.fetchrow("select hls_renditions::text from content where id = $1", _raw(content_id))
    return {r["name"]: r.get("download_key") for r in json.loads(row[0])}


async def _counters(admin_db: Any, content_id: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await admin_db.fetch(
        "select user_id, used, window_expires_at from download_counter where content_id = $1 order by user_id",
        _raw(content_id))]


def _top_level_boxes(path: Path) -> list[str]:
    names, data, at = [], path.read_bytes(), 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
        names.append(kind.decode())
        if size < 8:
            break
        at += size
    return names


async def _set_limit(gql: Any, actors: Actors, limit: int | None) -> None:
    body = await gql.ok(SETTINGS, {"input": {"downloadLimit": limit}}, actors.staff_with.token)
    assert body["updateOrganizationSettings"]["errors"] == []


async def test_each_rendition_gets_a_progressive_mp4(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors,
                                                      hls_media: dict[str, Path]) -> None:
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["hd"])
    source_duration = float(probe_json(hls_media["hd"], "-show_format")["format"]["duration"])
    detail = (await gql.ok(RENDITIONS, {"id": content_id}, actors.staff_with.token))["content"]
    listed = {r["name"]: r for r in detail["renditions"]}
    assert sorted(listed) == ["240p", "360p", "720p"]
    assert all(r["downloadable"] and r["downloadBytes"] > 0 for r in listed.values())
    keys = await _download_keys(admin_db, content_id)
    prefix = item_prefix(actors.org, content_id)
    assert all(key and key.startswith(prefix) and key.endswith(f"/{name}/download.mp4") for name, key in keys.items())
    for name, key in keys.items():
        assert key is not None
        path = _stored(app, key)
        assert path.stat().st_size == listed[name]["downloadBytes"]
        found = probe_json(path, "-show_streams", "-show_format")
        video = next(s for s in found["streams"] if s["codec_type"] == "video")
        audio = next(s for s in found["streams"] if s["codec_type"] == "audio")
        assert video["codec_name"] == "h264" and audio["codec_name"] == "aac", name
        assert (video["width"], video["height"]) == (listed[name]["width"], listed[name]["height"]), name
        assert "mp4" in found["format"]["format_name"]
        assert abs(float(found["format"]["duration"]) - source_duration) <= 0.5, (name, found["format"]["duration"])
        boxes = _top_level_boxes(path)  # faststart: the index comes before the media data
        assert boxes.index("moov") < boxes.index("mdat"), boxes
    # The record a retried job resumes from names the files too.
    done = await admin_db.fetchval("select done::text from content_processing where content_id = $1",
                                   _raw(content_id))
    assert {r["name"]: r.get("download_key") for r in json.loads(done)} == keys


async def test_an_audio_item_gets_an_m4a_download(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors,
                                                   hls_media: dict[str, Path]) -> None:
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["tone"])
    [audio] = (await gql.ok(RENDITIONS, {"id": content_id}, actors.staff_with.token))["content"]["renditions"]
    assert audio["name"] == "audio" and audio["downloadable"] and audio["height"] is None
    found = probe_json(_stored(app, (await _download_keys(admin_db, content_id))["audio"] or ""), "-show_streams",
                       "-show_format")
    assert [s["codec_type"] for s in found["streams"]] == ["audio"] and found["streams"][0]["codec_name"] == "aac"
    assert abs(float(found["format"]["duration"]) - 3.0) <= 0.5
    link = (await gql.ok(FIELD, {"id": content_id, "rendition": "audio"}, actors.staff_with.token))["content"]
    response = await http.get(link["download"]["url"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("audio/mp4")
    assert 'filename="tone-audio.m4a"' in response.headers["content-disposition"]


async def test_a_rendition_download_counts_with_the_original(app: Any, gql: Any, http: Any, admin_db: Any,
                                                             factory: Any, actors: Actors,
                                                             hls_media: dict[str, Path]) -> None:
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["hd"])
    await _set_limit(gql, actors, 2)
    buyer = await factory.user()
    await entitle(app.state.runtime["services"].db, actors.org, _raw(content_id), buyer)

    async def request(rendition: str | None) -> dict[str, Any]:
        variables = {"input": {"contentId": content_id, "rendition": rendition}}
        return (await gql(REQUEST, variables, buyer.token))["data"]["requestDownload"]

    original = await request(None)
    assert original["errors"] == [] and original["download"]["used"] == 1
    assert (await http.get(original["download"]["url"])).content == hls_media["hd"].read_bytes()
    counted = await _counters(admin_db, content_id)

    for unknown in ("1080p", "4k", "../720p", ""):  # never made, never a rendition, a path trick, empty
        refused = await request(unknown)
        assert refused["download"] is None
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", ["input", "rendition"])]
        assert "240p, 360p, 720p" in refused["errors"][0]["message"]
    field = await gql(FIELD, {"id": content_id, "rendition": "4k"}, buyer.token)
    assert field["data"]["content"]["download"] is None
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in field["errors"]] == [
        ("BAD_USER_INPUT", "rendition")]
    assert await _counters(admin_db, content_id) == counted  # nothing counted for any refusal

    hd = await request("720p")
    assert hd["errors"] == [] and (hd["download"]["used"], hd["download"]["remaining"]) == (2, 0)
    response = await http.get(hd["download"]["url"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("video/mp4")
    assert response.content == _stored(app, (await _download_keys(admin_db, content_id))["720p"] or "").read_bytes()
    assert response.headers["content-disposition"].startswith("attachment")
    assert 'filename="hd-720p.mp4"' in response.headers["content-disposition"]
    counted = await _counters(admin_db, content_id)
    assert [used for _, used, _ in counted] == [2]

    for rendition in ("240p", None):
        third = await request(rendition)
        assert third["download"] is None
        assert [(e["code"], e["field"]) for e in third["errors"]] == [("DOWNLOAD_LIMIT_REACHED", ["input", "contentId"])]
    assert await _counters(admin_db, content_id) == counted


async def test_the_field_counts_a_rendition_once_per_window(app: Any, gql: Any, http: Any, admin_db: Any,
                                                            factory: Any, actors: Actors,
                                                            hls_media: dict[str, Path]) -> None:
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["small"])
    await _set_limit(gql, actors, 3)
    buyer = await factory.user()
    await entitle(app.state.runtime["services"].db, actors.org, _raw(content_id), buyer)
    first = (await gql.ok(FIELD, {"id": content_id, "rendition": "180p"}, buyer.token))["content"]["download"]
    again = (await gql.ok(FIELD, {"id": content_id, "rendition": "180p"}, buyer.token))["content"]["download"]
    assert first["used"] == again["used"] == 1 and first["expiresAt"] == again["expiresAt"]
    response = await http.get(again["url"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("video/mp4")
    assert 'filename="small-180p.mp4"' in response.headers["content-disposition"]
    assert [used for _, used, _ in await _counters(admin_db, content_id)] == [1]


async def test_refused_when_the_item_does_not_allow_downloads(app: Any, gql: Any, http: Any, admin_db: Any,
                                                              factory: Any, actors: Actors,
                                                              hls_media: dict[str, Path]) -> None:
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["small"], allow_downloads=False)
    buyer = await factory.user()
    await entitle(app.state.runtime["services"].db, actors.org, _raw(content_id), buyer)
    [only] = (await gql.ok(RENDITIONS, {"id": content_id}, buyer.token))["content"]["renditions"]
    assert only["name"] == "180p" and only["downloadable"] is False  # the file exists, downloads are off
    assert (await _download_keys(admin_db, content_id))["180p"]
    for token in (buyer.token, actors.staff_with.token):
        refused = (await gql(REQUEST, {"input": {"contentId": content_id, "rendition": "180p"}}, token))
        payload = refused["data"]["requestDownload"]
        assert payload["download"] is None and [e["code"] for e in payload["errors"]] == ["NOT_ALLOWED"]
        assert (await gql.ok(FIELD, {"id": content_id, "rendition": "180p"}, token))["content"]["download"] is None
    assert await _counters(admin_db, content_id) == []


async def test_rendition_download_matrix(app: Any, gql: Any, http: Any, admin_db: Any, factory: Any, actors: Actors,
                                         hls_media: dict[str, Path]) -> None:
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["small"])
    entitled = await factory.user()
    await entitle(app.state.runtime["services"].db, actors.org, _raw(content_id), entitled)
    callers = {**actors.tokens(), "entitled_customer": entitled.token}
    allowed = {"entitled_customer", "staff_without_permission", "staff_with_permission"}  # staff hold CONTENT_READ
    download_key = (await _download_keys(admin_db, content_id))["180p"]
    assert download_key
    for name, token in callers.items():
        before = await _counters(admin_db, content_id)
        field = await gql(FIELD, {"id": content_id, "rendition": "180p"}, token)
        mutation = await gql(REQUEST, {"input": {"contentId": content_id, "rendition": "180p"}}, token)
        after = await _counters(admin_db, content_id)
        if name in allowed:
            assert "errors" not in field and "errors" not in mutation, (name, field, mutation)
            urls = [field["data"]["content"]["download"]["url"], mutation["data"]["requestDownload"]["download"]["url"]]
            for url in urls:
                response = await http.get(url)
                assert response.status_code == 200 and response.content == _stored(app, download_key).read_bytes()
            if name == "entitled_customer":
                assert [used for _, used, _ in after] == [2], after  # the field's window, then the request
            else:
                assert after == before, name  # staff are not counted
            continue
        expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
        assert {e["extensions"]["code"] for e in field["errors"]} == {expected}, (name, field)
        assert field["data"]["content"]["download"] is None
        if token is None:
            assert {e["extensions"]["code"] for e in mutation["errors"]} == {"UNAUTHENTICATED"}
            assert mutation["data"] is None or mutation["data"]["requestDownload"] is None
        else:
            payload = mutation["data"]["requestDownload"]
            assert payload["download"] is None and [e["code"] for e in payload["errors"]] == ["NOT_ALLOWED"], name
        leaked = json.dumps([field, mutation])
        assert "download.mp4" not in leaked and "/storage/" not in leaked and "180p" not in leaked, (name, leaked)
        assert after == before, f"{name} changed the counters"


async def test_a_resumed_job_makes_missing_files_only(app: Any, gql: Any, http: Any, admin_db: Any, actors: Actors,
                                                      hls_media: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Run 1 dies in the ladder after 240p (its segments stay); run 2 makes 240p's MP4 from run 1's segments, then
    dies remuxing 360p; run 3 makes 360p and 720p only."""
    ladder_runs, remuxed = [0], []
    real_run, real_remux = hls.run, rendition_files.remux
    crash = {"ladder": True, "remux": True}

    async def ladder(args: list[str], on_seconds: Any, limit_seconds: float = hls.TRANSCODE_TIMEOUT) -> None:
        ladder_runs[0] += 1
        if ladder_runs[0] == 2 and crash.pop("ladder", False):
            raise RuntimeError("worker killed in the ladder")
        await real_run(args, on_seconds, limit_seconds)

    async def remux(source: Path, target: Path, *, audio: bool, limit_seconds: float = 60) -> None:
        remuxed.append(source.stat().st_size)
        if len(remuxed) == 2 and crash.pop("remux", False):
            raise RuntimeError("worker killed remuxing")
        await real_remux(source, target, audio=audio, limit_seconds=limit_seconds)

    monkeypatch.setattr(hls, "run", ladder)
    monkeypatch.setattr(rendition_files, "remux", remux)
    content_id = await uploaded(gql, http, actors.staff_with.token, hls_media["hd"])
    with pytest.raises(RuntimeError, match="in the ladder"):
        await run_job(app, actors.org, content_id)
    assert remuxed == []
    with pytest.raises(RuntimeError, match="remuxing"):
        await run_job(app, actors.org, content_id)
    assert len(remuxed) == 2
    prefix = item_prefix(actors.org, content_id)
    made = [k for k in objects_under(app, prefix) if k.endswith("download.mp4")]
    assert len(made) == 1 and made[0].endswith("/240p/download.mp4")
    first = _stored(app, made[0]).stat().st_mtime_ns
    remuxed.clear()
    assert await run_job(app, actors.org, content_id) == "READY"
    assert len(remuxed) == 2  # 360p and 720p; 240p's file was recorded
    assert _stored(app, made[0]).stat().st_mtime_ns == first
    keys = await _download_keys(admin_db, content_id)
    assert sorted(keys) == ["240p", "360p", "720p"] and all(keys.values())
    video = next(s for s in probe_json(_stored(app, keys["240p"] or ""), "-show_streams")["streams"]
                 if s["codec_type"] == "video")
    assert (video["codec_name"], video["height"]) == ("h264", 240)


async def test_rendition_downloads_can_be_turned_off(app: Any, gql: Any, http: Any, admin_db: Any, factory: Any,
                                                     actors: Actors, hls_media: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLS_RENDITION_DOWNLOADS", "false")
    off = hls.HlsConfig.from_settings(Settings())
    assert off is not None and off.rendition_downloads is False
    assert hls.HlsConfig.from_settings(Settings(hls_rendition_downloads=True)).rendition_downloads  # type: ignore[union-attr]
    content_id = await _published(app, gql, http, admin_db, actors, hls_media["small"],
                                  config=dataclasses.replace(CONFIG, rendition_downloads=False))
    assert not [k for k in objects_under(app, item_prefix(actors.org, content_id)) if k.endswith(".mp4")]
    [only] = (await gql.ok(RENDITIONS, {"id": content_id}, actors.staff_with.token))["content"]["renditions"]
    assert only["downloadable"] is False and only["downloadBytes"] is None
    buyer = await factory.user()
    await entitle(app.state.runtime["services"].db, actors.org, _raw(content_id), buyer)
    refused = (await gql(REQUEST, {"input": {"contentId": content_id, "rendition": "180p"}}, buyer.token))
    assert [(e["code"], e["field"]) for e in refused["data"]["requestDownload"]["errors"]] == [
        ("INVALID_INPUT", ["input", "rendition"])]
    assert await _counters(admin_db, content_id) == []


def test_the_remux_reads_local_files_only_and_copies() -> None:
    command = rendition_files.remux_command(Path("/tmp/in.ts"), Path("/tmp/out.mp4"), audio=True)
    at = command.index("-protocol_whitelist")
    assert command[at + 1] == "file,pipe" and at < command.index("-i")
    assert command[command.index("-c") + 1] == "copy" and "+faststart" in command
    assert "aac_adtstoasc" in command
    assert "aac_adtstoasc" not in rendition_files.remux_command(Path("a.ts"), Path("b.mp4"), audio=False)
