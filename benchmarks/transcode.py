"""HLS ladder transcoding throughput (not part of the test suite).

    .venv/bin/python benchmarks/transcode.py                          # 60 s 1080p source, HLS_LADDER defaults
    .venv/bin/python benchmarks/transcode.py --seconds 20 --ladder 240,720 --json

Generates a test source with ffmpeg in a temporary folder (``testsrc2`` at 30 fps plus a ``sine`` tone, H.264
``ultrafast`` + AAC in MP4; never committed), probes it, and runs the processing job's ladder step,
``transcode.make_ladder`` (the real ffmpeg commands, AES-128 segment encryption, measuring, uploads to a
``LocalStorage`` in the same temporary folder, the master playlist), with the ladder and segment length of
``Settings()`` (``HLS_LADDER``, ``HLS_SEGMENT_SECONDS``; override with ``--ladder`` / ``--segment-seconds``).
Progress writes go to a null database (they are a few short UPDATEs; not what is measured here).

Reports, for the ladder step only (source generation excluded):
- ``media_seconds_per_cpu_second``: seconds of source media ladder-transcoded per second of CPU, CPU being
  ``resource.getrusage`` user + system time of the children (the ffmpeg runs) plus this process;
- ``wall_seconds`` and ``realtime_factor`` (media seconds per wall second);
- the bytes stored per rendition (segments and media playlist).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codex_graphql.db import TenantScope  # noqa: E402
from codex_graphql.media import hls, keys, transcode  # noqa: E402
from codex_graphql.media.ffmpeg import probe  # noqa: E402
from codex_graphql.settings import Settings  # noqa: E402
from codex_graphql.storage.local import LocalStorage  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


class _NullSession:
    """Takes the ladder's progress writes (statements, and the events ``events.emit`` queues in ``info``)."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}

    async def execute(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def flush(self) -> None:
        return None


class NullDatabase:
    """Stands in for ``Database`` where the ladder writes its progress (nothing is read back)."""

    @asynccontextmanager
    async def transaction(self, scope: TenantScope | None = None) -> AsyncIterator[_NullSession]:
        yield _NullSession()


def make_source(path: Path, seconds: float, height: int) -> Path:
    width = int(round(height * 16 / 9 / 2)) * 2
    subprocess.run(  # noqa: S603
        ["ffmpeg", "-nostdin", "-v", "error", "-y",  # noqa: S607
         "-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size={width}x{height}:rate=30",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=max(120, seconds * 10))
    return path


def _cpu() -> float:
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime


async def run_ladder(source: Path, folder: Path, config: hls.HlsConfig) -> dict[str, Any]:
    """The ladder of ``source`` (which it may leave changed: the job's own copy) into storage under ``folder``."""
    storage = LocalStorage(folder / "storage", "http://bench.invalid", "bench-secret")
    organization_id, content_id = uuid.uuid4(), uuid.uuid4()
    prefix = f"{transcode.prefix_for(organization_id, content_id)}bench/"
    found = await probe(source)
    cpu_before, wall_before = _cpu(), time.perf_counter()
    renditions = await transcode.make_ladder(
        NullDatabase(), storage, config, TenantScope(organization_id=organization_id), content_id,  # type: ignore[arg-type]
        source, found, audio_only=False, prefix=prefix, done={}, key=keys.new_key())
    wall, cpu = time.perf_counter() - wall_before, _cpu() - cpu_before
    duration = found.duration or 0.0
    sizes = []
    for rendition in renditions:
        stored = storage.root / "objects" / f"{prefix}{rendition['name']}"
        files = [p for p in stored.iterdir() if p.is_file()]
        sizes.append({"rendition": rendition["name"], "width": rendition["width"], "height": rendition["height"],
                      "bytes": sum(p.stat().st_size for p in files), "segments": sum(p.suffix == ".ts" for p in files),
                      "peak_bps": rendition["bandwidth"], "average_bps": rendition["average_bandwidth"]})
    return {
        "source": {"seconds": duration, "width": found.width, "height": found.height},
        "ladder": list(config.heights), "segment_seconds": config.segment_seconds,
        "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
        "media_seconds_per_cpu_second": round(duration / cpu, 3) if cpu > 0 else None,
        "realtime_factor": round(duration / wall, 3) if wall > 0 else None,
        "renditions": sizes,
    }


def report(result: dict[str, Any]) -> str:
    source = result["source"]
    lines = [f"source {source['width']}x{source['height']}, {source['seconds']:.1f} s; ladder {result['ladder']}, "
             f"{result['segment_seconds']} s segments",
             f"wall {result['wall_seconds']} s, CPU {result['cpu_seconds']} s (ffmpeg + this process)",
             f"{result['media_seconds_per_cpu_second']} media s per CPU s, {result['realtime_factor']}x realtime",
             "| rendition | size | stored | segments | peak / average |", "| --- | --- | --- | --- | --- |"]
    for r in result["renditions"]:
        lines.append(f"| {r['rendition']} | {r['width']}x{r['height']} | {r['bytes'] / 1e6:.2f} MB | {r['segments']} "
                     f"| {r['peak_bps'] / 1e6:.2f} / {r['average_bps'] / 1e6:.2f} Mbit/s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="source length (default 60)")
    parser.add_argument("--height", type=int, default=1080, help="source height, 16:9 (default 1080)")
    parser.add_argument("--ladder", default=defaults.hls_ladder, help="rendition heights (default HLS_LADDER)")
    parser.add_argument("--segment-seconds", type=int, default=defaults.hls_segment_seconds)
    parser.add_argument("--json", action="store_true", help="also write benchmarks/results/<time>-transcode.json")
    args = parser.parse_args(argv)
    config = hls.HlsConfig(segment_seconds=args.segment_seconds,
                           heights=tuple(int(h) for h in args.ladder.split(",")),
                           audio_bitrate=defaults.hls_audio_bitrate)
    with tempfile.TemporaryDirectory(prefix="codex-bench-transcode-") as tmp:
        folder = Path(tmp)
        (folder / "job").mkdir()
        source = make_source(folder / "job" / "source.mp4", args.seconds, args.height)
        source_bytes = source.stat().st_size
        result = asyncio.run(run_ladder(source, folder, config))
        result["source"]["bytes"] = source_bytes
    print(report(result))
    if args.json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        target = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-transcode.json"
        target.write_text(json.dumps(result, indent=2))
        print(f"wrote {target}")
    return result


if __name__ == "__main__":
    main()
