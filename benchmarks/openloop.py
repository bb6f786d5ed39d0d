"""Open-loop load at a fixed arrival rate, latency corrected for coordinated omission.

    .venv/bin/python benchmarks/openloop.py --url http://127.0.0.1:8000/graphql --body-file body.json \\
        [--header 'Authorization: Bearer …'] --rate 400 --duration 20 [--connections 64] [--max-connections 512]

wrk2 is not packaged, so this stands in for it. Request i is due at ``start + i / rate`` whatever
happened to the earlier ones; its latency is measured from that scheduled time, not from when a socket
was free to send it, so a server that stalls is charged for every request that should have gone out
meanwhile (the coordinated-omission correction). Requests go over a pool of keep-alive HTTP/1.1
connections (asyncio protocols on uvloop, responses parsed by httptools); when no connection is idle a
new one is opened, up to ``--max-connections``, then requests queue (the queueing counts in latency).

A response counts as an error unless it is 200 without a GraphQL ``"errors":[`` in its body; requests
still unanswered ``--drain`` seconds after the last was due count as timeouts. The generator reports
its own CPU (``generator_cpu_util``: fraction of one core over the run) and how late it sent
(``send_lag_*``): both must stay small for the latencies to be the server's.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is installed with uvicorn[standard]
    uvloop = None

ERROR_MARK = b'"errors":['
LUA = Path(__file__).resolve().parent / "wrk" / "post.lua"


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


class Connection(asyncio.Protocol):
    def __init__(self, generator: OpenLoop) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.current: tuple[int, float] | None = None  # (request index, scheduled time)
        self.chunks: list[bytes] = []
        self.got_bytes = False
        self.alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.alive = True

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self.generator.lost(self)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.chunks = []

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        ok = status == 200 and ERROR_MARK not in b"".join(self.chunks)
        keep = self.parser.should_keep_alive()
        request, self.current, self.got_bytes = self.current, None, False
        self.generator.completed(self, request, status, ok)
        if not keep:
            self.transport.close()  # type: ignore[union-attr]

    def send(self, request: tuple[int, float], payload: bytes) -> None:
        self.current = request
        self.got_bytes = False
        self.transport.write(payload)  # type: ignore[union-attr]


class OpenLoop:
    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        body = Path(args.body_file).read_bytes()
        headers = [f"POST {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1",
                   f"Host: {url.netloc}", "Content-Type: application/json", "Accept: application/json",
                   f"Content-Length: {len(body)}", *args.header]
        self.payload = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
        self.rate, self.duration, self.drain = args.rate, args.duration, args.drain
        self.min_connections, self.max_connections = args.connections, args.max_connections
        self.total = max(1, int(round(args.rate * args.duration)))
        self.idle: list[Connection] = []  # LIFO: the least recently used drift to the bottom
        self.opening = 0
        self.connections: set[Connection] = set()
        self.queue: deque[tuple[int, float]] = deque()
        self.latencies: list[float] = []
        self.done_at: list[float] = []
        self.send_lags: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = self.connect_errors = self.retries = self.max_queue = self.opened = 0
        self.outstanding = 0
        self.all_done: asyncio.Event | None = None
        self.retried: set[int] = set()

    # -- connections -----------------------------------------------------------------------------
    async def _open(self) -> Connection | None:
        self.opening += 1
        try:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(lambda: Connection(self), self.host, self.port)
        except OSError:
            self.connect_errors += 1
            return None
        finally:
            self.opening -= 1
        self.opened += 1
        self.connections.add(conn)
        return conn

    async def _open_and_serve(self) -> None:
        conn = await self._open()
        if conn is None:
            if self.queue:  # no new connection: fail one queued request rather than hang forever
                self._finish(self.queue.popleft(), 0, False)
            return
        self._release(conn)

    def _release(self, conn: Connection) -> None:
        if not conn.alive:
            return
        if self.queue:
            conn.send(self.queue.popleft(), self.payload)
        else:
            self.idle.append(conn)

    def lost(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        request = conn.current
        if request is None:
            return
        conn.current = None
        if not conn.got_bytes and request[0] not in self.retried:
            # A keep-alive connection the server closed just as we wrote: send again (once); the
            # latency still runs from the scheduled time.
            self.retried.add(request[0])
            self.retries += 1
            self._dispatch(request)
        else:
            self._finish(request, 0, False)

    # -- requests ----------------------------------------------------------------------------------
    def _dispatch(self, request: tuple[int, float]) -> None:
        while self.idle:
            conn = self.idle.pop()
            if conn.alive:
                conn.send(request, self.payload)
                return
        self.queue.append(request)
        self.max_queue = max(self.max_queue, len(self.queue))
        if len(self.connections) + self.opening < self.max_connections:
            asyncio.get_running_loop().create_task(self._open_and_serve())

    def completed(self, conn: Connection, request: tuple[int, float] | None, status: int, ok: bool) -> None:
        if request is not None:
            self._finish(request, status, ok)
        if conn.parser.should_keep_alive():
            self._release(conn)

    def _finish(self, request: tuple[int, float], status: int, ok: bool) -> None:
        now = time.perf_counter()
        self.latencies.append(now - request[1])
        self.done_at.append(now)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if not ok:
            self.errors += 1
        self.outstanding -= 1
        if self.outstanding == 0 and self.all_done is not None:
            self.all_done.set()

    async def run(self) -> dict[str, object]:
        self.all_done = asyncio.Event()
        for conn in await asyncio.gather(*(self._open() for _ in range(self.min_connections))):
            if conn is not None:
                self.idle.append(conn)
        interval = 1.0 / self.rate
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter() + 0.01
        self.outstanding = self.total
        for i in range(self.total):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            self.send_lags.append(max(0.0, time.perf_counter() - due))
            self._dispatch((i, due))
        sent_at = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_done.wait(), timeout=self.drain)
        finished = time.perf_counter()
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        for conn in list(self.connections):
            conn.transport.close()  # type: ignore[union-attr]
        cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        return self._report(start, sent_at, finished, cpu)

    def _report(self, start: float, sent_at: float, finished: float, cpu: float) -> dict[str, object]:
        lat = sorted(self.latencies)
        lags = sorted(self.send_lags)
        ms = (lambda v: None if v is None else round(v * 1000, 3))  # noqa: E731
        completed = len(lat)
        return {
            "rate": self.rate, "duration_s": self.duration, "scheduled": self.total,
            "completed": completed, "timeouts": self.total - completed, "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "achieved_rps": round(completed / max(finished - start, 1e-9), 2),
            # Answers that arrived while requests were still being sent, per second of sending: about the
            # rate when the server keeps up, its capacity when it does not.
            "window_rps": round(sum(1 for t in self.done_at if t <= sent_at) / max(sent_at - start, 1e-9), 2),
            "send_window_s": round(sent_at - start, 3), "wall_s": round(finished - start, 3),
            "latency_ms": {"p50": ms(percentile(lat, 50)), "p90": ms(percentile(lat, 90)),
                           "p95": ms(percentile(lat, 95)), "p99": ms(percentile(lat, 99)),
                           "p99_9": ms(percentile(lat, 99.9)), "max": ms(lat[-1] if lat else None),
                           "mean": ms(sum(lat) / completed if completed else None)},
            "send_lag_ms": {"p50": ms(percentile(lags, 50)), "p99": ms(percentile(lags, 99)),
                            "max": ms(lags[-1] if lags else None)},
            "connections_opened": self.opened, "connect_errors": self.connect_errors,
            "max_queue": self.max_queue, "retries": self.retries,
            "generator_cpu_s": round(cpu, 3), "generator_cpu_util": round(cpu / max(finished - start, 1e-9), 3),
        }


# -- driving wrk and this generator from benchmarks/run.py -------------------------------------------

def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(port: int, path: str, files: tuple[Path, Path], connections: int, threads: int,
            duration: float, script: Path = LUA) -> dict[str, Any]:
    """A closed-loop run: ``connections`` keep-alive connections each sending the next request as soon
    as the previous answer arrives. ``files``: the request body and a file of headers (the arguments of
    ``script``; wrk/mix.lua takes a file of requests instead)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
            "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}{path}", "--", str(files[0]),
            str(files[1])]
    cpu0 = children_cpu()
    result = subprocess.run(argv, timeout=duration + 60, text=True, capture_output=True, check=False)  # noqa: S603
    cpu = children_cpu() - cpu0
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout[-1500:]}{result.stderr[-1500:]}")
    data = json.loads(line[len("WRK_JSON "):])
    seconds = data["duration_us"] / 1e6
    errors = sum(data[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status",
                                   "errors_timeout", "graphql_errors"))
    return {
        "requests": data["requests"], "errors": errors, "rps": round(data["requests"] / seconds, 1),
        "latency_ms": {p: round(data[f"latency_{p}_us"] / 1000, 3)
                       for p in ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")},
        "generator": {"tool": "wrk", "threads": threads, "connections": connections,
                      "cpu_s": round(cpu, 3), "cpu_util": round(cpu / seconds, 3)},
        "wall_s": round(seconds, 3), "wrk": data,
    }


def run_openloop(port: int, path: str, files: tuple[Path, Path], rate: float, duration: float,
                 connections: int) -> dict[str, Any]:
    """An open-loop run of this generator in its own process (its CPU is not the harness's)."""
    headers = [a for line in files[1].read_text().splitlines() if line for a in ("--header", line)]
    argv = [sys.executable, __file__, "--url", f"http://127.0.0.1:{port}{path}",
            "--body-file", str(files[0]), *headers, "--rate", f"{rate:.3f}", "--duration", str(duration),
            "--connections", str(connections), "--max-connections", "1024", "--drain", "15"]
    cpu0 = children_cpu()
    result = subprocess.run(argv, timeout=duration + 90, text=True, capture_output=True, check=False)  # noqa: S603
    process_cpu = children_cpu() - cpu0
    if result.returncode != 0:
        raise RuntimeError(f"openloop failed ({result.returncode}): {result.stderr[-2000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["requests"] = data["completed"]
    data["errors"] = data["errors"] + data["timeouts"]
    data["rps"] = data["achieved_rps"]
    data["generator"] = {"tool": "openloop.py", "cpu_s": data["generator_cpu_s"],
                         "cpu_util": data["generator_cpu_util"], "send_lag_ms": data["send_lag_ms"],
                         "connections_opened": data["connections_opened"], "max_queue": data["max_queue"],
                         "process_cpu_s": round(process_cpu, 3)}
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections opened up front")
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for answers after the last send")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    run = uvloop.run if uvloop is not None else asyncio.run
    report = run(OpenLoop(args).run())
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
