"""Shared parts of the HLS ladder tests: tiny sources made with real ffmpeg at test time, running the processing
job's body with a ladder configuration, and reading what landed in local storage."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from codex_graphql.db import TenantScope
from codex_graphql.media import keys, processing
from codex_graphql.media import repository as progress
from codex_graphql.media.hls import HlsConfig
from codex_graphql.relay import decode_id
from tests.support import Factory, GraphQLClient
from tests.support.content import COMPLETE, create, upload

# One-second segments keep the sources (three seconds) short while still giving several segments each.
CONFIG = HlsConfig(segment_seconds=1, heights=(240, 360, 720, 1080), audio_bitrate="96k")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def _video(path: Path, size: str, *, seconds: int = 3, audio: bool = True, extra: tuple[str, ...] = ()) -> Path:
    inputs = ["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    _ffmpeg(*inputs, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            *(["-c:a", "aac", "-shortest"] if audio else []), *extra, str(path))
    return path


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hls-media")
    made = {
        "hd": _video(folder / "hd.mp4", "1280x720"),
        "small": _video(folder / "small.mp4", "320x180", seconds=2, audio=False),
    }
    landscape = _video(folder / "landscape.mp4", "640x360", seconds=2)
    made["rotated"] = folder / "rotated.mp4"
    _ffmpeg("-i", str(landscape), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(made["rotated"]))
    made["empty"] = folder / "empty.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=25", "-t", "0", "-c:v", "libx264", str(made["empty"]))
    made["soundtrack"] = folder / "soundtrack.mp4"  # audio only, in an MP4: no video stream
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=2", "-c:a", "aac", str(made["soundtrack"]))
    made["tone"] = folder / "tone.mp3"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "libmp3lame", str(made["tone"]))
    made["garbage"] = folder / "garbage.mp4"
    made["garbage"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return made


@dataclasses.dataclass
class Owner:
    token: str
    org: uuid.UUID


@pytest.fixture
async def owner(factory: Factory) -> Owner:
    """An organization's owner, signed in."""
    person = await factory.user()
    return Owner(token=person.token, org=await factory.organization(person))


@pytest.fixture
def uploads(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys the job uploads, recorded while still uploading them."""
    storage = app.state.runtime["services"].storage
    recorded: list[str] = []
    real = storage.upload_file

    async def recording(key: str, source: Path, content_type: str) -> None:
        recorded.append(key)
        await real(key, source, content_type)

    monkeypatch.setattr(storage, "upload_file", recording)
    return recorded


async def uploaded(gql: GraphQLClient, http: Any, token: str, file: Path, kind: str | None = None) -> str:
    created = await create(gql, token, file, kind=kind)
    assert created["errors"] == [], created
    await upload(http, created["upload"], file)
    completed = (await gql(COMPLETE, {"id": created["content"]["id"]}, token))["data"]["completeContentUpload"]
    assert completed["errors"] == [], completed
    return created["content"]["id"]


async def run_job(app: Any, organization_id: uuid.UUID, content_global_id: str,
                  config: HlsConfig | None = CONFIG) -> str:
    """What the process_content actor runs, with this ladder configuration (and the app's SECRET_KEY, as
    ``HlsConfig.from_settings`` gives it)."""
    services = app.state.runtime["services"]
    content_id = decode_id(content_global_id, "Content")
    assert content_id is not None
    if config is not None:
        config = dataclasses.replace(config, key_secret=services.settings.secret_key)
    return await processing.process_content(services.db, services.storage, organization_id, content_id, config)


async def ladder_key(app: Any, organization_id: uuid.UUID, content_global_id: str) -> bytes:
    """The item's current ladder key, unwrapped from its ``content_processing`` row."""
    services = app.state.runtime["services"]
    content_id = decode_id(content_global_id, "Content")
    assert content_id is not None
    async with services.db.transaction(TenantScope(organization_id=organization_id)) as session:
        row = await progress.get(session, organization_id, content_id)
    assert row is not None and row.hls_key is not None
    return keys.unwrap(services.settings.secret_key, row.hls_key, content_id, row.hls_prefix)


def decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """An AES-128 HLS segment decrypted as a player does: CBC with the playlist's IV, PKCS#7 padding."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def objects_under(app: Any, prefix: str) -> list[str]:
    """Keys of the stored objects under ``prefix`` (local storage keeps each object as a file)."""
    root = app.state.runtime["services"].storage.root / "objects"
    folder = root / prefix
    return sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def item_prefix(organization_id: uuid.UUID, content_global_id: str) -> str:
    return f"hls/{organization_id}/{decode_id(content_global_id, 'Content')}/"


def probe_json(path: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", *args, str(path)],
                          check=True, capture_output=True, timeout=30)
    return json.loads(done.stdout)


DETAIL = """query($id: ID!) { content(id: $id) { status failureReason
  renditions { height width bandwidth } processing { stage percent message updatedAt } } }"""
