"""Progressive MP4 downloads of an HLS ladder's renditions (docs/media.md, "Rendition downloads").

Run by the processing job right after the ladder is stored (``processing.process_content``), while
``HLS_RENDITION_DOWNLOADS`` is on. For each video or audio rendition it reads what storage holds (the media
playlist and every segment, whichever job run made them), decrypts the segments with the ladder's AES-128 key
and IV (CBC, PKCS#7: what a player does), joins the MPEG-TS and remuxes it with ffmpeg, without re-encoding,
into ``<prefix><rendition>/download.mp4`` (``-movflags +faststart``, so it plays while downloading). The
rendition is then recorded with ``download_key`` and ``download_bytes`` in ``content_processing.done`` (its own
short transaction), so a retried job skips it, and in the item's ``hls_renditions``, which is what
``requestDownload(rendition:)`` and ``Content.download(rendition:)`` serve.

A rendition whose file cannot be made (ffmpeg refuses the joined stream, a segment does not decrypt) is logged
and left without a download: the ladder plays regardless and the original stays downloadable. Storage and
database errors propagate, so the job is retried and resumes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from codex_graphql.db import Database, TenantScope
from codex_graphql.media import hls, keys
from codex_graphql.media import repository as progress
from codex_graphql.media.ffmpeg import LOCAL_FILES_ONLY, MediaError
from codex_graphql.storage import Storage

log = logging.getLogger(__name__)

DOWNLOAD_FILE = "download.mp4"
REMUX_TIMEOUT = 10 * 60
VIDEO_TYPE = "video/mp4"
AUDIO_TYPE = "audio/mp4"
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.ts$")  # the ladder writes bare names only
_KEY_IV = re.compile(r"IV=0[xX]([0-9a-fA-F]{32})")


def content_type(rendition: dict[str, Any]) -> str:
    return AUDIO_TYPE if rendition.get("width") is None else VIDEO_TYPE


def has_audio(rendition: dict[str, Any]) -> bool:
    return rendition.get("width") is None or hls.AUDIO_CODEC in str(rendition.get("codecs") or "")


async def make_downloads(db: Database, storage: Storage, config: hls.HlsConfig, scope: TenantScope,
                         content_id: uuid.UUID, prefix: str, renditions: list[dict[str, Any]],
                         key: bytes) -> list[dict[str, Any]]:
    """``renditions`` with ``download_key`` and ``download_bytes`` added to each one whose MP4 is stored (made
    now, or recorded by an earlier run); unchanged when ``config.rendition_downloads`` is off."""
    if not config.rendition_downloads or not renditions:
        return renditions
    assert scope.organization_id is not None
    async with db.transaction(scope) as session:
        row = await progress.get(session, scope.organization_id, content_id)
    recorded = {r["name"]: r for r in (row.done if row is not None and row.hls_prefix == prefix else [])
                if r.get("download_key")}
    made: list[dict[str, Any]] = []
    for rendition in renditions:
        name = rendition["name"]
        if rendition.get("download_key") or name in recorded:
            earlier = recorded.get(name, rendition)
            made.append({**rendition, "download_key": earlier["download_key"],
                         "download_bytes": earlier.get("download_bytes")})
            continue
        try:
            size = await _make(storage, prefix, rendition, key)
        except MediaError:
            log.warning("no download file for rendition %s of %s", name, content_id, exc_info=True)
            made.append(rendition)
            continue
        fields = {"download_key": f"{prefix}{name}/{DOWNLOAD_FILE}", "download_bytes": size}
        async with db.transaction(scope) as session:
            await progress.record_download(session, scope.organization_id, content_id, name, fields)
        made.append({**rendition, **fields})
    return made


async def _make(storage: Storage, prefix: str, rendition: dict[str, Any], key: bytes) -> int:
    """Build and upload one rendition's MP4 from its stored playlist and segments; returns its size in bytes."""
    folder = f"{prefix}{rendition['name']}/"
    with tempfile.TemporaryDirectory(prefix="codex-rendition-") as tmp:
        work = Path(tmp)
        playlist = work / "index.m3u8"
        await storage.download(f"{folder}index.m3u8", playlist)
        segments, iv = parse_playlist(playlist.read_text(errors="replace"))
        if iv is not None and not key:
            raise MediaError("the segments are encrypted but the ladder has no key")
        joined, part = work / "joined.ts", work / "segment.ts"
        with joined.open("wb") as out:
            for name in segments:
                await storage.download(f"{folder}{name}", part)
                data = part.read_bytes()
                out.write(decrypt(data, key, iv) if iv is not None else data)
        target = work / DOWNLOAD_FILE
        await remux(joined, target, audio=has_audio(rendition))
        size = target.stat().st_size
        await storage.upload_file(f"{folder}{DOWNLOAD_FILE}", target, content_type(rendition))
        return size


def parse_playlist(text: str) -> tuple[list[str], bytes | None]:
    """The media playlist's segment names, in order, and the IV of its AES-128 key (None when the segments are
    not encrypted). One key and IV per ladder (``keys.iv_for``); a playlist naming no IV uses the ladder's."""
    segments: list[str] = []
    iv: bytes | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-KEY:"):
            if "METHOD=NONE" in line:
                continue
            if "METHOD=AES-128" not in line:
                raise MediaError("unsupported segment encryption")
            found = _KEY_IV.search(line)
            iv = bytes.fromhex(found.group(1)) if found else b""
        elif line and not line.startswith("#"):
            if not _SEGMENT.fullmatch(line):
                raise MediaError(f"unexpected segment name {line[:40]!r}")
            segments.append(line)
    if not segments:
        raise MediaError("the rendition has no segments")
    return segments, iv


def decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """One AES-128 HLS segment: CBC with the ladder's IV, PKCS#7 padding (MediaError when it does not decrypt)."""
    try:
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv or keys.iv_for(key))).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise MediaError("a segment does not decrypt with the ladder's key") from exc


def remux_command(source: Path, target: Path, *, audio: bool) -> list[str]:
    """ffmpeg copying the joined MPEG-TS into an MP4 (no re-encoding), index first (faststart)."""
    return ["ffmpeg", "-nostdin", "-v", "error", *LOCAL_FILES_ONLY, "-y", "-i", str(source),
            "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", *(["-bsf:a", "aac_adtstoasc"] if audio else []),
            "-movflags", "+faststart", "-f", "mp4", str(target)]


async def remux(source: Path, target: Path, *, audio: bool, limit_seconds: float = REMUX_TIMEOUT) -> None:
    process = await asyncio.create_subprocess_exec(
        *remux_command(source, target, audio=audio), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, errors = await asyncio.wait_for(process.communicate(), limit_seconds)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0 or not _written(target):
        raise MediaError("The rendition could not be remuxed: " + errors.decode(errors="replace")[-200:])


def _written(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


__all__ = ["DOWNLOAD_FILE", "content_type", "decrypt", "make_downloads", "parse_playlist", "remux"]
