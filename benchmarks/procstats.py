"""CPU time and resident memory of a process tree, read from /proc (Linux only).

Used by ``benchmarks/run.py`` to charge each benchmark run with the CPU its server used (every process
under the server's root: uvicorn's supervisor and workers, Node, ...) and the peak memory it held.

CPU is user + system time of the live processes plus what they reaped from exited children
(cutime/cstime), so a worker that exits between two readings is still counted once. Memory is RSS
(resident pages, shared ones counted in every process that maps them); ``rss_max_process`` is the
largest single process, ``rss_total`` the sum over the tree. ``Meter`` wraps one benchmark run with these
and the benchmark cluster's CPU and statement counts; ``machine_info`` describes the machine for the report.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pgcluster

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int | str) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command (field 2) is in parentheses and may hold spaces: split after the last ')'.
    # Fields after it: 0 state, 1 ppid, ..., 11 utime, 12 stime, 13 cutime, 14 cstime.
    return raw[raw.rindex(")") + 2:].split()


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(entry.name)[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / CLOCK_TICKS


def tree_cpu_seconds(root: int) -> float:
    return cpu_seconds(tree_pids(root))


def machine_busy_seconds() -> float:
    """CPU time all cores have spent on anything but idle and I/O wait since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class TreeSample:
    cpu_seconds: float = 0.0
    rss_total_peak: int = 0
    rss_max_process_peak: int = 0
    processes_peak: int = 0
    samples: int = 0


@dataclass
class TreeSampler:
    """Sample a process tree every ``interval`` seconds in a thread between ``start()`` and ``stop()``:
    CPU seconds used in between, peak RSS (sum over the tree and largest process)."""

    root: int
    interval: float = 0.2
    result: TreeSample = field(default_factory=TreeSample)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu_start: float = 0.0

    def _sample(self) -> None:
        pids = tree_pids(self.root)
        sizes = [rss_bytes(pid) for pid in pids]
        r = self.result
        r.rss_total_peak = max(r.rss_total_peak, sum(sizes))
        r.rss_max_process_peak = max(r.rss_max_process_peak, max(sizes, default=0))
        r.processes_peak = max(r.processes_peak, len(pids))
        r.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> TreeSampler:
        self._sample()
        self._cpu_start = tree_cpu_seconds(self.root)
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> TreeSample:
        cpu_end = tree_cpu_seconds(self.root)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()
        self.result.cpu_seconds = cpu_end - self._cpu_start
        return self.result


def settle(root: int, below: float = 0.05, window: float = 0.5, timeout: float = 60.0) -> float:
    """Wait until the tree uses less than ``below`` of a core over ``window`` seconds (a backlog of requests
    left by an overloaded run is served first); return the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = tree_cpu_seconds(root)
        time.sleep(window)
        if tree_cpu_seconds(root) - before < below * window:
            break
    return time.monotonic() - started


class Meter:
    """Around one run (``load()``, returning at least ``requests``): the CPU of the process tree under
    ``root``, the benchmark cluster's CPU and statements in ``db_url``'s database (benchmarks/pgcluster.py),
    peak RSS, and the machine's busy time not accounted for by those and the load generator."""

    def __init__(self, root: int, db_url: str, datadir: Path | None) -> None:
        self.root, self.db_url, self.datadir = root, db_url, datadir

    async def _other_sessions(self) -> int:
        """Client sessions on other databases of the cluster: their work would count as ours."""
        import asyncpg

        conn = await asyncpg.connect(self.db_url)
        try:
            return await conn.fetchval(
                "select count(*) from pg_stat_activity where backend_type = 'client backend' "
                "and datname is distinct from current_database()")
        finally:
            await conn.close()

    def __call__(self, load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        asyncio.run(pgcluster.reset_statements(self.db_url))
        others = asyncio.run(self._other_sessions())
        sampler = TreeSampler(self.root).start()
        pg0, busy0, t0 = pgcluster.cpu_seconds(self.datadir), machine_busy_seconds(), time.monotonic()
        result = load()
        pg1, busy1, wall = pgcluster.cpu_seconds(self.datadir), machine_busy_seconds(), time.monotonic() - t0
        tree = sampler.stop()
        # What the machine did beyond this server, PostgreSQL and the load generator: other people's work.
        generator = result.get("generator", {})
        other = (busy1 - busy0) - tree.cpu_seconds - (pg1 - pg0) - generator.get("process_cpu_s",
                                                                                  generator.get("cpu_s", 0.0))
        calls = asyncio.run(pgcluster.statement_calls(self.db_url))
        others = max(others, asyncio.run(self._other_sessions()))
        n = max(result["requests"], 1)
        result.update({
            "app_cpu_ms_per_req": round(tree.cpu_seconds * 1000 / n, 3),
            "pg_cpu_ms_per_req": round((pg1 - pg0) * 1000 / n, 3),
            "statements_per_req": round(calls / n, 3), "statements": calls,
            "app_cpu_s": round(tree.cpu_seconds, 3), "pg_cpu_s": round(pg1 - pg0, 3),
            "rss_total_peak_mb": round(tree.rss_total_peak / 2**20, 1),
            "rss_max_process_peak_mb": round(tree.rss_max_process_peak / 2**20, 1),
            "processes": tree.processes_peak, "machine_cpu_s": round(busy1 - busy0, 3),
            "other_cpu_cores": round(max(other, 0.0) / wall, 3), "other_pg_sessions": others,
            "meter_wall_s": round(wall, 3),
        })
        return result


def idle_baseline(meter: Meter, seconds: float = 3.0) -> dict[str, Any]:
    result = meter(lambda: (time.sleep(seconds), {"requests": 1})[1])
    return {"seconds": seconds, "app_cpu_ms_per_s": round(result["app_cpu_s"] * 1000 / seconds, 2),
            "pg_cpu_ms_per_s": round(result["pg_cpu_s"] * 1000 / seconds, 2),
            "statements_per_s": round(result["statements"] / seconds, 2),
            "rss_total_mb": result["rss_total_peak_mb"], "rss_max_process_mb": result["rss_max_process_peak_mb"],
            "processes": result["processes"], "other_cpu_cores": result["other_cpu_cores"]}


def _version(binary: str | None) -> str | None:
    if not binary:
        return None
    result = subprocess.run([binary, "--version"], timeout=10, capture_output=True, text=True, check=False)  # noqa: S603
    return result.stdout.strip() or None


def machine_info(admin_url: str) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))

    async def pg_version() -> str:
        import asyncpg

        conn = await asyncpg.connect(admin_url)
        try:
            return (await conn.fetchval("show server_version")).split()[0]
        finally:
            await conn.close()

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(int(mem) / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "node": _version(shutil.which("node")),
            "postgresql": asyncio.run(pg_version())}
