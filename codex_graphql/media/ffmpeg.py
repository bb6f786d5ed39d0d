"""Thin async wrappers around the ffprobe and ffmpeg binaries, with time limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

PROBE_TIMEOUT = 60
THUMBNAIL_TIMEOUT = 120
# Only local files: a crafted playlist or reference file must not make ffmpeg fetch URLs or read
# other paths through protocols such as http, concat or subfile.
LOCAL_FILES_ONLY = ("-protocol_whitelist", "file,pipe")


class MediaError(Exception):
    """The file is not media we accept; the message is shown to the creator."""


@dataclass(frozen=True, slots=True)
class Probe:
    container: str
    duration: float | None
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    bit_rate: int | None
    cover_art: bool = False  # an audio file's embedded picture (a video stream with attached_pic)
    rotation: int = 0  # degrees the player turns the picture (display matrix or the older `rotate` tag)
    frame_rate: float | None = None

    @property
    def display_size(self) -> tuple[int, int] | None:
        """Width and height as shown (after rotation), which is what ffmpeg's autorotation produces."""
        if not self.width or not self.height:
            return None
        return (self.height, self.width) if self.rotation % 180 == 90 else (self.width, self.height)

    def facts(self) -> dict[str, Any]:
        return {
            "container": self.container, "video_codec": self.video_codec, "audio_codec": self.audio_codec,
            "width": self.width, "height": self.height, "bit_rate": self.bit_rate,
        }


async def _run(args: list[str], limit_seconds: float) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, stdout, stderr


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def probe(path: Path) -> Probe:
    code, out, _ = await _run(
        ["ffprobe", "-v", "error", *LOCAL_FILES_ONLY, "-print_format", "json", "-show_format", "-show_streams",
         str(path)], PROBE_TIMEOUT
    )
    if code != 0:
        raise MediaError("The file could not be read as audio or video.")
    data = orjson.loads(out or b"{}")
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    # Cover art in audio files shows up as a video stream with the attached_pic disposition.
    pictures = [s for s in streams if s.get("codec_type") == "video" and (s.get("disposition") or {}).get("attached_pic")]
    video = next((s for s in streams if s.get("codec_type") == "video" and s not in pictures), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = fmt.get("duration")
    return Probe(
        container=str(fmt.get("format_name") or ""),
        duration=float(duration) if duration not in (None, "N/A") else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=_int(video.get("width")) if video else None,
        height=_int(video.get("height")) if video else None,
        bit_rate=_int(fmt.get("bit_rate")),
        cover_art=bool(pictures),
        rotation=_rotation(video) if video else 0,
        frame_rate=_rate(video.get("avg_frame_rate") or video.get("r_frame_rate")) if video else None,
    )


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    return (_int((stream.get("tags") or {}).get("rotate")) or 0) % 360


def _rate(value: Any) -> float | None:
    try:
        numerator, _, denominator = str(value).partition("/")
        rate = float(numerator) / float(denominator or 1)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


async def thumbnail(source: Path, destination: Path, at_seconds: float, width: int) -> tuple[int, int]:
    """One JPEG frame at ``at_seconds``, scaled to ``width`` (never upscaled); returns its size."""
    return await _still(source, destination, ["-ss", f"{at_seconds:.3f}", "-i", str(source)], width,
                        "A thumbnail could not be made from the video: ")


async def cover_art(source: Path, destination: Path, width: int) -> tuple[int, int]:
    """The audio file's embedded picture as a JPEG scaled to ``width`` (never upscaled); returns its size."""
    return await _still(source, destination, ["-i", str(source), "-map", "0:v:0"], width,
                        "The cover art could not be read: ")


async def _still(source: Path, destination: Path, inputs: list[str], width: int, failure: str) -> tuple[int, int]:
    scale = f"scale='min({width},iw)':-2"
    code, _, err = await _run(
        ["ffmpeg", "-nostdin", "-v", "error", *LOCAL_FILES_ONLY, "-y", *inputs,
         "-frames:v", "1", "-vf", scale, "-q:v", "3", str(destination)],
        THUMBNAIL_TIMEOUT,
    )
    if code != 0:
        raise MediaError(failure + err.decode(errors="replace")[-200:])
    measured = await probe(destination)
    return measured.width or width, measured.height or 0
