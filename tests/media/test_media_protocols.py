"""ffprobe/ffmpeg only ever read the local file they are given (media/ffmpeg.py LOCAL_FILES_ONLY).

Uploaded files go through the real processing job with the real binaries; ``ffmpeg._run`` is wrapped
to record each command line while still running it. A playlist that calls itself an MP4 and points at
an HTTP server on loopback must end FAILED without a single request reaching that server.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_graphql.media import ffmpeg
from tests.support import Factory, GraphQLClient
from tests.support.content import COMPLETE, create, process, upload

ALLOW_LIST = list(ffmpeg.LOCAL_FILES_ONLY)
assert ALLOW_LIST == ["-protocol_whitelist", "file,pipe"]


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    recorded: list[list[str]] = []
    real = ffmpeg._run

    async def recording(args: list[str], limit_seconds: float) -> tuple[int, bytes, bytes]:
        recorded.append(list(args))
        return await real(args, limit_seconds)

    monkeypatch.setattr(ffmpeg, "_run", recording)
    return recorded


class Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (Recorder,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def _inputs_follow_allow_list(args: list[str]) -> bool:
    """The allow-list appears before the first input (``-i X``, or ffprobe's positional file)."""
    if args[:1] not in (["ffprobe"], ["ffmpeg"]) or "-protocol_whitelist" not in args:
        return False
    at = args.index("-protocol_whitelist")
    if args[at + 1] != "file,pipe":
        return False
    first_input = args.index("-i") if "-i" in args else len(args) - 1
    return at < first_input


async def _uploaded(gql: GraphQLClient, http: Any, token: str, file: Path, kind: str | None = None) -> str:
    created = await create(gql, token, file, kind=kind)
    assert created["errors"] == [], created
    await upload(http, created["upload"], file)
    completed = (await gql(COMPLETE, {"id": created["content"]["id"]}, token))["data"]["completeContentUpload"]
    assert completed["errors"] == [], completed
    return created["content"]["id"]


async def test_every_ffmpeg_invocation_carries_the_allow_list(app: Any, gql: GraphQLClient, http: Any,
                                                             factory: Factory, media_dir: Path,
                                                             commands: list[list[str]]) -> None:
    owner = await factory.user()
    org = await factory.organization(owner)
    # A video (probe, two thumbnails, each probed) and audio with cover art (probe, two covers, probed).
    for name in ("clip.mp4", "covered.m4a", "tone.mp3"):
        content_id = await _uploaded(gql, http, owner.token, media_dir / name)
        assert await process(app, org, content_id) == "READY", name
    programs = [c[0] for c in commands]
    assert programs.count("ffmpeg") == 4 and programs.count("ffprobe") >= 7, commands
    offending = [c for c in commands if not _inputs_follow_allow_list(c)]
    assert offending == [], offending


async def test_playlist_disguised_as_mp4_fails_without_fetching(app: Any, gql: GraphQLClient, http: Any,
                                                                factory: Factory, tmp_path: Path,
                                                                commands: list[list[str]],
                                                                loopback_server: tuple[int, list[str]]) -> None:
    port, hits = loopback_server
    playlist = tmp_path / "holiday.mp4"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\nhttp://127.0.0.1:{port}/segment0.ts\n#EXTINF:2.0,\nhttp://127.0.0.1:{port}/segment1.ts\n"
        "#EXT-X-ENDLIST\n"
    )
    owner = await factory.user()
    org = await factory.organization(owner)
    content_id = await _uploaded(gql, http, owner.token, playlist, kind="VIDEO")
    assert await process(app, org, content_id) == "FAILED"
    assert hits == []
    assert commands and all(_inputs_follow_allow_list(c) for c in commands), commands
    detail = (await gql.ok("query($id:ID!){content(id:$id){status failureReason}}", {"id": content_id},
                           owner.token))["content"]
    assert detail["status"] == "FAILED" and detail["failureReason"], detail

    # Control: the same file is a real request forgery when ffprobe may use http, so the empty `hits`
    # above is the allow-list's doing, not a broken server or playlist.
    await ffmpeg._run(["ffprobe", "-v", "error", "-protocol_whitelist", "file,http,tcp",
                                    "-show_format", str(playlist)], ffmpeg.PROBE_TIMEOUT)
    assert hits, "the control probe should have reached the loopback server"
