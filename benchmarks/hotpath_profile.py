"""CPU per request on the hot path, without load: our server against the raw-SQL server, one client.

Issue 22, items 5 and 6. The harness (``run.py``) measures throughput under load; this script measures
what a request costs the server's CPU, which is what the throughput ratio follows on a saturated
machine, and it does so quietly enough to run beside other work:

* ``cpu`` (default): seeds a fresh database at the ``small`` scale (``seed.py``), starts each server as
  the harness does (``codex-graphql serve`` and ``raw_server.py``, one process each, the harness's
  environment: local storage, the same ``SECRET_KEY``, ``RATE_LIMIT_ENABLED=false``, the persisted
  manifest), sends N sequential requests over one keep-alive connection per operation and divides the
  server process's CPU time (user + system, ``/proc``) by N, less its idle background over the same
  time. ``storefront-persisted`` and ``typename-persisted`` send only the document's hash.
* ``profile``: the same requests through the app in this process (no socket: the ASGI callable with a
  prepared scope), ``time.process_time`` per request and the cProfile top-40 (by own time) of the run.

    .venv/bin/python benchmarks/hotpath_profile.py --requests 2000
    .venv/bin/python benchmarks/hotpath_profile.py --mode profile --ops storefront-persisted --requests 1000

PostgreSQL on 127.0.0.1:5432 as a superuser and Redis on 127.0.0.1:6379 (``--admin-url``, ``--redis-url``);
the database ``codex_hotpath`` is dropped and recreated (``--reuse`` keeps a seeded one).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import http.client
import io
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import asyncpg  # noqa: E402

from benchmarks.seed import create_database, seed_into  # noqa: E402
from benchmarks.workload import BY_KEY, OPERATIONS, VARIED, Operation  # noqa: E402

SECRET_KEY = "codex-benchmark-secret-key-0123456789abcdef"  # as run.py: the servers sign URLs alike
PUBLIC_BASE_URL = "http://127.0.0.1:8000"
DATABASE = "codex_hotpath"
FIXTURE_NAME = "fixture-hotpath.json"
PYTHON = ROOT / ".venv" / "bin" / "python"
CODEX = ROOT / ".venv" / "bin" / "codex-graphql"
# (label, operation key, persisted?)
OPS = {
    "storefront": ("storefront", False),
    "storefront-persisted": ("storefront", True),
    "typename": ("typename", False),
    "typename-persisted": ("typename", True),
    "admin_dashboard": ("admin_dashboard", False),
    "admin_dashboard-persisted": ("admin_dashboard", True),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def document_hash(op: Operation) -> str:
    return hashlib.sha256(op.document.encode()).hexdigest()


def request_of(op: Operation, fixture: dict[str, Any], persisted: bool, raw: bool) -> tuple[str, bytes, dict[str, str]]:
    """Path, body and headers of one request, as run.py builds them."""
    body: dict[str, Any] = {"operationName": op.name, "variables": op.variables(fixture)}
    if persisted:
        body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(op)}}
    else:
        body["query"] = op.document
    token = op.bearer(fixture)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return (f"/raw/{op.key}" if raw else "/graphql"), json.dumps(body, separators=(",", ":")).encode(), headers


# -- data ----------------------------------------------------------------------------------------------

async def prepare(admin_url: str, reuse: bool, work: Path) -> tuple[str, dict[str, Any]]:
    url = admin_url.rpartition("/")[0] + "/" + DATABASE
    fixture_file = work / FIXTURE_NAME
    if reuse and fixture_file.exists():
        return url, json.loads(fixture_file.read_text())
    url = await create_database(admin_url, DATABASE)
    conn = await asyncpg.connect(url)
    try:
        fixture = await seed_into(conn, "small", database_url=url)
    finally:
        await conn.close()
    fixture_file.write_text(json.dumps(fixture))
    return url, fixture


def server_env(db_url: str, redis_url: str, work: Path) -> dict[str, str]:
    manifest = work / "persisted-operations.json"
    manifest.write_text(json.dumps({document_hash(op): op.document for op in (*OPERATIONS, *VARIED)}))
    return dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, REDIS_NAMESPACE=f"codex-hotpath-{os.getpid()}",
                SECRET_KEY=SECRET_KEY, PAYMENTS_PROVIDER="local", RATE_LIMIT_ENABLED="false", LOG_LEVEL="WARNING",
                PUBLIC_BASE_URL=PUBLIC_BASE_URL, DATA_DIR=str(work / "data"), PYTHONUNBUFFERED="1",
                PERSISTED_OPERATIONS_FILE=str(manifest))


# -- cpu mode ------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, body: bytes, headers: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", path, body, headers)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server not ready")


def run_requests(port: int, request: tuple[str, bytes, dict[str, str]], count: int) -> bytes:
    path, body, headers = request
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    last = b""
    for _ in range(count):
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        last = response.read()
        if response.status != 200 or b'"errors"' in last:
            raise RuntimeError(f"HTTP {response.status}: {last[:300]!r}")
    conn.close()
    return last


def measure_server(name: str, argv: list[str], env: dict[str, str], port: int, fixture: dict[str, Any],
                   ops: list[str], count: int, rounds: int) -> dict[str, float]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # noqa: S603
                            cwd=ROOT)
    raw = name == "raw"
    results: dict[str, float] = {}
    try:
        first = request_of(BY_KEY["typename"], fixture, False, raw)
        wait_ready(port, *first, proc)
        # Idle background (the outbox relay, pool upkeep): charged per second and subtracted.
        before, started = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(2.0)
        idle_per_s = (cpu_seconds(proc.pid) - before) / (time.monotonic() - started)
        for label in ops:
            key, persisted = OPS[label]
            if raw and persisted:
                continue
            request = request_of(BY_KEY[key], fixture, persisted, raw)
            run_requests(port, request, max(200, count // 5))  # warm-up: plans, caches, pools
            best = float("inf")
            for _ in range(rounds):
                before, started = cpu_seconds(proc.pid), time.monotonic()
                run_requests(port, request, count)
                spent = cpu_seconds(proc.pid) - before - idle_per_s * (time.monotonic() - started)
                best = min(best, spent / count)
            results[label] = best * 1000
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def cpu_mode(args: argparse.Namespace, db_url: str, fixture: dict[str, Any], work: Path) -> None:
    env = server_env(db_url, args.redis_url, work)
    table: dict[str, dict[str, float]] = {}
    for name in args.servers:
        port = free_port()
        if name == "codex":
            argv = [str(CODEX), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        else:
            argv = [str(PYTHON), str(BENCH / "raw_server.py"), "--database-url", db_url, "--port", str(port)]
        table[name] = measure_server(name, argv, env, port, fixture, args.ops, args.requests, args.rounds)
    print(f"\nserver CPU ms per request (best of {args.rounds} x {args.requests} sequential requests, idle "
          "background subtracted):")
    print(f"{'operation':<24}" + "".join(f"{name:>12}" for name in args.servers)
          + ("   codex/raw CPU" if {"codex", "raw"} <= set(args.servers) else ""))
    for label in args.ops:
        raw_label = label.removesuffix("-persisted")
        cells = "".join(f"{table[name].get(label, float('nan')):>12.3f}" for name in args.servers)
        ratio = ""
        if {"codex", "raw"} <= set(args.servers) and label in table["codex"]:
            ratio = f"   {table['raw'][raw_label] / table['codex'][label]:>6.2f}x"
        print(f"{label:<24}{cells}{ratio}")


# -- profile mode --------------------------------------------------------------------------------------

async def one(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """One request through the ASGI app, as uvicorn would hand it over; the response body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(sent)


async def profile_mode(args: argparse.Namespace, db_url: str, fixture: dict[str, Any], work: Path) -> None:
    os.environ.update(server_env(db_url, args.redis_url, work))
    from codex_graphql.settings import Settings

    for name in args.servers:
        if name == "raw":
            from benchmarks.raw_server import create_raw_app

            app = create_raw_app(db_url, Settings())
        else:
            from codex_graphql.app import create_app

            app = create_app(Settings())
        await profile_app(name, app, args, fixture)


async def profile_app(name: str, app: Any, args: argparse.Namespace, fixture: dict[str, Any]) -> None:
    async with app.router.lifespan_context(app):
        for label in args.ops:
            key, persisted = OPS[label]
            if name == "raw" and persisted:
                continue
            path, body, headers = request_of(BY_KEY[key], fixture, persisted, name == "raw")
            scope_headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode()),
                             *((k.lower().encode(), v.encode()) for k, v in headers.items())]
            request = (path, body, scope_headers)

            for _ in range(max(200, args.requests // 5)):
                answer = await one(app, *request)
            if b'"errors"' in answer:
                raise RuntimeError(answer[:300])
            profiler = cProfile.Profile() if args.cprofile else None
            spent = float("inf")
            for _ in range(1 if profiler else args.rounds):
                started = time.process_time()
                if profiler:
                    profiler.enable()
                for _ in range(args.requests):
                    await one(app, *request)
                if profiler:
                    profiler.disable()
                spent = min(spent, (time.process_time() - started) / args.requests)
            print(f"\n== {name} {label}: {spent * 1000:.3f} ms CPU per request in-process"
                  f"{' (under cProfile)' if profiler else f' (best of {args.rounds})'}")
            if profiler:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("cpu", "profile"), default="cpu")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated, of: " + ", ".join(OPS))
    parser.add_argument("--servers", default="codex,raw", help="codex, raw or both")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="the best of this many runs counts (not under cProfile)")
    parser.add_argument("--no-cprofile", dest="cprofile", action="store_false",
                        help="profile mode: the CPU figure only")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime", help="profile mode: pstats order (tottime, cumulative, ...)")
    parser.add_argument("--admin-url", default=os.environ.get("HOTPATH_ADMIN_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("HOTPATH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--reuse", action="store_true", help="reuse the database seeded by an earlier run")
    args = parser.parse_args(argv)
    args.ops = [op for op in args.ops.split(",") if op]
    args.servers = [s for s in args.servers.split(",") if s]
    unknown = [op for op in args.ops if op not in OPS] + [s for s in args.servers if s not in ("codex", "raw")]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    work = Path(tempfile.gettempdir()) / "codex-hotpath"
    work.mkdir(exist_ok=True)
    db_url, fixture = asyncio.run(prepare(args.admin_url, args.reuse, work))
    if args.mode == "cpu":
        cpu_mode(args, db_url, fixture, work)
    else:
        import uvloop

        uvloop.run(profile_mode(args, db_url, fixture, work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
