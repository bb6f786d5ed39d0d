"""The HLS ladder's pure parts: which renditions a source gets, the ffmpeg command that makes one (with its
progress read from ``-progress pipe:1``), and the master playlist that lists them (docs/media.md).

Every rendition is H.264 (main profile) + AAC in MPEG-TS segments of ``segment_seconds``, each starting on a
keyframe forced at that interval (scene-cut keyframes off), so the renditions' segments line up and a player
can switch between them at any segment boundary. Variable frame rate sources come out at a constant rate.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codex_graphql.media.ffmpeg import LOCAL_FILES_ONLY, MediaError, Probe

if TYPE_CHECKING:
    from codex_graphql.settings import Settings

TRANSCODE_TIMEOUT = 30 * 60
AUDIO_RENDITION = "audio"
AUDIO_CODEC = "mp4a.40.2"  # AAC-LC
# Peak video bitrate per rung (x264 with CRF, capped): roughly Apple's authoring guidelines, kbit/s.
MAX_RATES = ((240, 400), (360, 800), (480, 1200), (720, 2800), (1080, 5000), (1440, 9000), (2160, 16000))
# H.264 level by the rendition's short side, as the CODECS string names it (main profile: avc1.4d40xx).
LEVELS = ((480, "3.0", "1e"), (720, "3.1", "1f"), (1080, "4.0", "28"), (100_000, "5.1", "33"))


@dataclass(frozen=True, slots=True)
class HlsConfig:
    """The ladder's settings (``HLS_*``, README): ``None`` from ``from_settings`` when the ladder is off."""

    segment_seconds: int = 4
    heights: tuple[int, ...] = (240, 360, 720, 1080)
    audio_bitrate: str = "128k"
    key_secret: str = field(default="", repr=False, compare=False)  # SECRET_KEY, wraps the ladder's AES key (keys.py)
    rendition_downloads: bool = True  # HLS_RENDITION_DOWNLOADS: an MP4 per rendition for downloads (rendition_files.py)
    chunk_seconds: int = 300  # HLS_CHUNK_SECONDS: a longer video is transcoded in chunks by several jobs (chunks.py)

    @classmethod
    def from_settings(cls, settings: Settings) -> HlsConfig | None:
        if not settings.hls_enabled:
            return None
        return cls(segment_seconds=settings.hls_segment_seconds,
                   heights=tuple(int(h) for h in settings.hls_ladder.split(",")),
                   audio_bitrate=settings.hls_audio_bitrate, key_secret=settings.secret_key,
                   rendition_downloads=settings.hls_rendition_downloads,
                   chunk_seconds=settings.hls_chunk_seconds)


@dataclass(frozen=True, slots=True)
class Rendition:
    """One rung: ``name`` is its folder under the item's prefix; width and height as displayed."""

    name: str
    width: int | None
    height: int | None
    max_kbps: int | None

    @property
    def codecs(self) -> str:
        if self.width is None or self.height is None:
            return AUDIO_CODEC
        short = min(self.width, self.height)
        level = next(code for limit, _, code in LEVELS if short <= limit)
        return f"avc1.4d40{level}"

    @property
    def level(self) -> str:
        short = min(self.width or 0, self.height or 0)
        return next(name for limit, name, _ in LEVELS if short <= limit)


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _max_kbps(short_side: int) -> int:
    for rung, kbps in MAX_RATES:
        if short_side <= rung:
            return kbps
    return MAX_RATES[-1][1]


def plan(found: Probe, config: HlsConfig, *, audio_only: bool) -> list[Rendition]:
    """The renditions of a source. Rungs are the short side of the displayed picture (a portrait 720x1280
    phone video is 720p and its renditions are portrait); a rung above the source is skipped."""
    if audio_only:
        return [Rendition(AUDIO_RENDITION, None, None, None)]
    size = found.display_size
    if size is None:
        raise MediaError("The file has no video stream.")
    width, height = size
    short = min(width, height)
    rungs = [h for h in config.heights if h <= short] or [_even(short)]
    made = []
    for rung in rungs:
        scale = rung / short
        w, h = _even(width * scale), _even(height * scale)
        made.append(Rendition(f"{rung}p", w, h, _max_kbps(min(w, h))))
    return made


@dataclass(frozen=True, slots=True)
class Span:
    """A chunk of the source (``chunks.py``): ``start`` and ``length`` in seconds (``length`` None: to the end),
    both multiples of the segment length, and the number of the chunk's first segment."""

    start: int
    length: int | None
    first_segment: int


# Added to every chunk's output timestamps: above any encoder's B-frame delay, so no chunk (not even the
# first) starts with a negative DTS that ffmpeg would shift, and the chunks' timestamps join up exactly.
CHUNK_TS_BASE = 10


def command(source: Path, folder: Path, rendition: Rendition, config: HlsConfig, *, has_audio: bool,
            frame_rate: float | None, key_info: Path | None = None, span: Span | None = None) -> list[str]:
    """The ffmpeg command writing ``folder/index.m3u8`` and its segments for one rendition; with ``key_info``
    (``keys.key_info``) every segment is AES-128 encrypted and the playlist carries ``#EXT-X-KEY``. With
    ``span``, only that chunk: an accurate input seek (decoded frames before ``start`` are dropped), its output
    timestamps shifted to where the chunk sits in the whole, segments numbered from its first segment."""
    seg = config.segment_seconds
    seek = [] if span is None else ["-ss", str(span.start), *(["-t", str(span.length)] if span.length else [])]
    args = ["ffmpeg", "-nostdin", "-v", "error", *LOCAL_FILES_ONLY, "-y", *seek, "-i", str(source)]
    if rendition.width is None:
        args += ["-map", "0:a:0", "-vn"]
    else:
        kbps = rendition.max_kbps or 800
        args += ["-map", "0:v:0", *(["-map", "0:a:0"] if has_audio else []),
                 "-vf", f"scale={rendition.width}:{rendition.height},setsar=1",
                 "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-level", rendition.level,
                 "-pix_fmt", "yuv420p", "-crf", "23", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k",
                 "-force_key_frames", f"expr:gte(t,n_forced*{seg})", "-sc_threshold", "0", "-fps_mode", "cfr"]
        if frame_rate and frame_rate > 60:
            args += ["-r", "60"]
    if has_audio or rendition.width is None:
        args += ["-c:a", "aac", "-b:a", config.audio_bitrate, "-ac", "2", "-ar", "48000"]
    if span is not None:
        args += ["-output_ts_offset", str(CHUNK_TS_BASE + span.start), "-start_number", str(span.first_segment)]
    args += ["-f", "hls", "-hls_time", str(seg), "-hls_playlist_type", "vod", "-hls_list_size", "0",
             "-hls_segment_filename", str(folder / "segment_%05d.ts"),
             *(["-hls_key_info_file", str(key_info)] if key_info else []),
             "-progress", "pipe:1", "-nostats", str(folder / "index.m3u8")]
    return args


async def run(args: list[str], on_seconds: Callable[[float], Awaitable[None]],
              limit_seconds: float = TRANSCODE_TIMEOUT) -> None:
    """Run ffmpeg, calling ``on_seconds`` with the output time reached at each progress report;
    MediaError with ffmpeg's last words when it fails."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None and process.stderr is not None
    errors = asyncio.create_task(process.stderr.read())

    async def follow() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            key, _, value = line.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                await on_seconds(max(0, int(value)) / 1_000_000)

    try:
        await asyncio.wait_for(asyncio.gather(follow(), process.wait()), limit_seconds)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        errors.cancel()
        raise
    if process.returncode != 0:
        raise MediaError("The media could not be transcoded: " + (await errors).decode(errors="replace")[-200:])
    await errors


_EXTINF = re.compile(r"#EXTINF:([0-9.]+)")


def measure(folder: Path) -> tuple[list[tuple[str, float]], int, int]:
    """The media playlist's segments (file name, duration) and the rendition's peak and average bitrate
    (bit/s, from the segments' sizes) for the master playlist's BANDWIDTH and AVERAGE-BANDWIDTH."""
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for line in (folder / "index.m3u8").read_text().splitlines():
        if matched := _EXTINF.match(line):
            duration = float(matched.group(1))
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line.strip(), duration))
            duration = None
    if not segments:
        raise MediaError("The media could not be transcoded: no segments were written.")
    sizes = [(folder / name).stat().st_size * 8 for name, _ in segments]
    peak = max(bits / max(seconds, 0.1) for bits, (_, seconds) in zip(sizes, segments, strict=True))
    average = sum(sizes) / max(sum(seconds for _, seconds in segments), 0.1)
    return segments, math.ceil(peak), math.ceil(average)


def short_by(written_seconds: float, expected_seconds: float | None) -> str | None:
    """Why a rendition of ``written_seconds`` does not cover a source the probe found ``expected_seconds``
    long (a truncated upload whose index still claims the full length: ffmpeg stops at the cut without an
    error); None when it covers it, within a second or 2 %."""
    if not expected_seconds or written_seconds >= expected_seconds - max(1.0, 0.02 * expected_seconds):
        return None
    return (f"The file ends early: only {written_seconds:.1f} s of its {expected_seconds:.1f} s could be read "
            "(a truncated or damaged upload?).")


def master_playlist(renditions: list[dict]) -> str:
    """The master playlist over the recorded renditions (dicts of ``Rendition`` fields plus bandwidths)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in sorted(renditions, key=lambda r: r["bandwidth"]):
        attributes = [f"BANDWIDTH={r['bandwidth']}", f"AVERAGE-BANDWIDTH={r['average_bandwidth']}"]
        if r.get("width") and r.get("height"):
            attributes.append(f"RESOLUTION={r['width']}x{r['height']}")
        attributes.append(f'CODECS="{r["codecs"]}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), f"{r['name']}/index.m3u8"]
    return "\n".join(lines) + "\n"
