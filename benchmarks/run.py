"""Side-by-side benchmark: this server (ad hoc, persisted, and with its compiled path off), the raw-SQL limit
and PostGraphile v4/v5.

    .venv/bin/python benchmarks/run.py --scale small --duration 20 --connections 32 \\
        --servers codex,raw,codex-resolvers,postgraphile-v4,postgraphile-v5 --workers 2

Starts the benchmark cluster (pgcluster.py), seeds or reuses the database, then one server at a time (raw
first: the reference for answers and arrival rates); refuses to time a server whose answers differ; per
operation a warm-up, a closed-loop wrk run and open-loop runs (openloop.py) with the server's CPU,
PostgreSQL's CPU, statements and peak RSS per run (procstats.Meter); the varied documents
(operations/varied/) and the mixed workload (mix.py) in the closed loop; our server again with
FAST_PATH_ENABLED=false (``codex-resolvers``: every field through the resolvers, as for a document the
compiled path cannot answer) on the operations of --resolver-ops; the raw server's first operation again
at the end of its runs (the noise figure). Writes
benchmarks/results/<timestamp>-<scale>.json and the block between the harness markers in
benchmarks/README.md (report.py). The README's "Side-by-side harness" section describes it all.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import answers  # noqa: E402
import mix  # noqa: E402
import pgcluster  # noqa: E402
import procstats  # noqa: E402
import report  # noqa: E402
from harness_setup import ensure_seeded, ensure_wrk  # noqa: E402
from openloop import run_openloop, run_wrk  # noqa: E402
from pagesizes import page_size_check  # noqa: E402
from workload import ALL_BY_KEY, DATA_DIR, OPERATIONS, VARIED, Operation, select_operations  # noqa: E402

RESULTS_DIR = BENCH / "results"
WORK_DIR = DATA_DIR / "harness"
PYTHON = ROOT / ".venv" / "bin" / "python"
CODEX = ROOT / ".venv" / "bin" / "codex-graphql"
# Our server and the raw server sign playback/receipt URLs with the same key and base URL, so their
# answers match up to expiry and signature (which the comparison normalizes away).
SECRET_KEY = "codex-benchmark-secret-key-0123456789abcdef"
PUBLIC_BASE_URL = "http://127.0.0.1:8000"
# Our server keeps each resolved session in memory for SESSION_LOCAL_CACHE_SECONDS (codex_graphql/settings.py,
# default 5 s; it inherits the harness's environment); PostGraphile gets the same window (PGB_SESSION_CACHE_MS).
SESSION_CACHE_MS = round(float(os.environ.get("SESSION_LOCAL_CACHE_SECONDS") or 5.0) * 1000)
ALL_SERVERS = ("codex", "raw", "codex-resolvers", "postgraphile-v4", "postgraphile-v5")
# Our server with the compiled path switched off (settings.fast_path_enabled): every field of every document
# through the resolvers, the path a document the compiled path cannot answer takes (issue 22, item 3).
RESOLVERS = "codex-resolvers"

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes ---------------------------------------------------------------------------------------

_LIVE: list[Server] = []


class Server:
    """A server under test, in its own process group so that stopping it stops all its children."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.name, self.port, self.log_path = name, port, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as handle:
            self.popen = subprocess.Popen(  # noqa: S603
                argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True)
        _LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self in _LIVE:
            _LIVE.remove(self)
        if self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # stragglers left in the group
            os.killpg(self.popen.pid, signal.SIGKILL)


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(argv: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, timeout=timeout, text=True, capture_output=True, check=False, **kwargs)  # noqa: S603


# -- HTTP ---------------------------------------------------------------------------------------------

def post(port: int, request: Request, timeout: float = 30.0) -> tuple[int, bytes]:
    path, body, headers = request
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                       "Accept": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(server: Server, request: Request, timeout: float, log_marker: str | None = None) -> None:
    """Until ``request`` answers 200 and, given ``log_marker``, the server's log holds it (a PostGraphile
    cluster: all workers listen; before that, every connection would go to the workers already up)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.popen.returncode}:\n{server.log_tail()}")
        try:
            status, body = post(server.port, request, timeout=5.0)
            if status == 200 and (log_marker is None or log_marker in server.log_path.read_text(errors="replace")):
                return
            last = f"HTTP {status}: {body[:300]!r}" if status != 200 else f"no {log_marker!r} in the log yet"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s ({last}):\n{server.log_tail()}")


# -- what each variant sends --------------------------------------------------------------------------

def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _auth(op: Operation, fixture: dict[str, Any]) -> dict[str, str]:
    token = op.bearer(fixture)
    return {"Authorization": f"Bearer {token}"} if token else {}


def document_hash(op: Operation) -> str:
    return hashlib.sha256(op.document.encode()).hexdigest()


def graphql_request(op: Operation, fixture: dict[str, Any], variables: dict[str, Any] | None = None,
                    path: str = "/graphql") -> Request:
    body = {"query": op.document, "operationName": op.name, "variables": variables or op.variables(fixture)}
    return path, _dumps(body), _auth(op, fixture)


def persisted_request(op: Operation, fixture: dict[str, Any], variables: dict[str, Any] | None = None) -> Request:
    body = {"operationName": op.name, "variables": variables or op.variables(fixture),
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_hash(op)}}}
    return "/graphql", _dumps(body), _auth(op, fixture)


def raw_request(op: Operation, fixture: dict[str, Any], variables: dict[str, Any] | None = None) -> Request:
    return graphql_request(op, fixture, variables, path=f"/raw/{op.key}")


def postgraphile_request(op: Operation, fixture: dict[str, Any]) -> Request:
    import postgraphile_servers as pgs

    path, body, headers = pgs.request(op.key, fixture)
    if not isinstance(body, bytes):
        body = body.encode() if isinstance(body, str) else _dumps(body)
    return path, body, dict(headers or {})


@dataclass(frozen=True)
class Variant:
    key: str  # codex-adhoc, codex-persisted, codex-resolvers, raw, postgraphile-v4/v5 (report.LABELS)
    server: str
    build: Callable[..., Request]
    compare: str  # "raw" (normalize both sides with the raw server's normalizer) or "postgraphile"


VARIANTS = (
    Variant("raw", "raw", raw_request, "raw"),
    Variant("codex-adhoc", "codex", graphql_request, "raw"),
    Variant("codex-persisted", "codex", persisted_request, "raw"),
    Variant(RESOLVERS, RESOLVERS, graphql_request, "raw"),  # its own process: FAST_PATH_ENABLED=false
    Variant("postgraphile-v4", "postgraphile-v4", postgraphile_request, "postgraphile"),
    Variant("postgraphile-v5", "postgraphile-v5", postgraphile_request, "postgraphile"),
)


def selected_variants(servers: list[str]) -> list[Variant]:
    wanted = set()
    for name in servers:
        wanted |= {"codex-adhoc", "codex-persisted"} if name == "codex" else {name}
    wanted.add("raw")  # always: the reference answers and arrival rates come from it
    unknown = wanted - {v.key for v in VARIANTS}
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    return [v for v in VARIANTS if v.key in wanted]


# -- answers --------------------------------------------------------------------------------------------

_STORAGE: list[Any] = []


def _verifying_storage() -> Any:
    """The local storage backend with the servers' key: compare.normalize checks every signed URL with it."""
    if not _STORAGE:
        from codex_graphql.storage.local import LocalStorage

        _STORAGE.append(LocalStorage(root=WORK_DIR / "storage", base_url=PUBLIC_BASE_URL, secret_key=SECRET_KEY))
    return _STORAGE[0]


# -- load -------------------------------------------------------------------------------------------------

def write_request_files(variant: Variant, op: Operation, request: Request) -> tuple[Path, Path]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    body_file = WORK_DIR / f"{variant.key}-{op.key}.body"
    header_file = WORK_DIR / f"{variant.key}-{op.key}.headers"
    body_file.write_bytes(request[1])
    header_file.write_text("".join(f"{name}: {value}\n" for name, value in request[2].items()))
    return body_file, header_file


# -- setup ----------------------------------------------------------------------------------------------

def persisted_manifest() -> Path:
    path = WORK_DIR / "persisted-operations.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({document_hash(op): op.document for op in (*OPERATIONS, *VARIED)}, indent=1))
    return path


def server_command(name: str, db_url: str, port: int, args: argparse.Namespace,
                   namespace: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=args.redis_url, REDIS_NAMESPACE=namespace,
               SECRET_KEY=SECRET_KEY, PAYMENTS_PROVIDER="local", RATE_LIMIT_ENABLED="false", LOG_LEVEL="WARNING",
               PUBLIC_BASE_URL=PUBLIC_BASE_URL, DATA_DIR=str(WORK_DIR / "data"), PYTHONUNBUFFERED="1")
    if "codex-persisted" in args.variant_keys:
        env["PERSISTED_OPERATIONS_FILE"] = str(persisted_manifest())
    if name in ("codex", RESOLVERS):  # the same server and environment; the compiled path on, or off
        env["FAST_PATH_ENABLED"] = "false" if name == RESOLVERS else "true"
        return [str(CODEX), "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(args.workers)], env
    if name == "raw":
        return [str(PYTHON), str(BENCH / "raw_server.py"), "--database-url", db_url, "--port", str(port),
                "--workers", str(args.workers)], env
    import postgraphile_servers as pgs

    # The same key, base URL and process count as our server, and its session-cache window (see
    # SESSION_CACHE_MS): a node:cluster primary with args.workers workers, each with its own pool and cache.
    argv, extra = pgs.command(name.removeprefix("postgraphile-"), db_url, port, secret_key=SECRET_KEY,
                              public_base_url=PUBLIC_BASE_URL, session_cache_ms=SESSION_CACHE_MS,
                              workers=args.workers)
    return list(argv), {**os.environ, **(extra or {})}


def postgraphile_versions(version: str) -> dict[str, str | None]:
    import postgraphile_servers as pgs

    package = pgs.ROOT / version / "node_modules" / "postgraphile" / "package.json"
    node = run([pgs.node_binary(version), "--version"], timeout=10).stdout.strip()
    return {"node": node or None, "postgraphile": json.loads(package.read_text()).get("version")
            if package.exists() else None}


# -- the run -------------------------------------------------------------------------------------------

def variant_operations(variant: Variant, ops: list[Operation],
                       args: argparse.Namespace) -> tuple[list[Operation], list[Operation]]:
    """The operations this variant times, and those whose answers it must get right first (the mix's
    components too). PostGraphile has equivalents of the benchmark shapes only; codex-resolvers runs the
    operations of --resolver-ops (those also in --ops)."""
    if variant.compare == "postgraphile":
        left_out = [op.key for op in ops if op.folder]
        if left_out or args.mixed:
            log(f"{variant.key}: skipping {', '.join(left_out + (['mixed'] if args.mixed else []))}: PostGraphile "
                "has no equivalent of the varied documents (no branding, palette, filters or node fragments "
                "written for its schema)")
        timed = [op for op in ops if not op.folder]
        return timed, timed
    timed = args.resolver_ops if variant.key == RESOLVERS else ops
    extra = [op for op in mix.components() if runs_mix(variant, args) and op.key not in {o.key for o in timed}]
    return timed, timed + extra


def runs_mix(variant: Variant, args: argparse.Namespace) -> bool:
    return variant.compare == "raw" and (args.resolver_mixed if variant.key == RESOLVERS else args.mixed)


def mixed_workload(variant: Variant, port: int, fixture: dict[str, Any], meter: procstats.Meter, bad: list[str],
                   ctx: dict[str, Any], args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The closed-loop run of the mix (mix.py): 80 % benchmark shapes, 20 % varied documents."""
    wrong = sorted({op.key for op in mix.components()} & set(bad))
    if wrong:
        log(f"{variant.key:16} mixed: NOT timed (answers differ: {', '.join(wrong)})")
        return
    mix.mixed_run(variant.build, fixture, port, WORK_DIR, variant.key, args.connections, args.wrk_threads,
                  args.warmup, run_wrk)
    procstats.settle(meter.root)  # the warm-up's backlog first
    closed = meter(lambda: mix.mixed_run(variant.build, fixture, port, WORK_DIR, variant.key, args.connections,
                                         args.wrk_threads, args.duration, run_wrk))
    closed.update(variant=variant.key, server=variant.server, op="mixed", kind="closed")
    out["runs"].append(closed)
    log(f"{variant.key:16} {'mixed':17} closed: {closed['rps']:8.1f} req/s, p50 {closed['latency_ms']['p50']} ms, "
        f"app {closed['app_cpu_ms_per_req']} ms/req, {closed['statements_per_req']} stmts/req, "
        f"{closed['errors']} errors")
    procstats.settle(meter.root)


def noise_run(port: int, fixture: dict[str, Any], meter: procstats.Meter, ctx: dict[str, Any],
              args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The raw server's first timed operation (storefront when run) again: the machine's noise figure."""
    first = ctx["noise_first"]
    if not first:
        return
    key = "storefront" if "storefront" in first else next(iter(first))
    op = ALL_BY_KEY[key]
    request = raw_request(op, fixture)
    files = write_request_files(VARIANTS[0], op, request)
    again = meter(lambda: run_wrk(port, request[0], files, args.connections, args.wrk_threads, args.duration))
    again.update(variant="raw", server="raw", op=key, kind="noise")
    out["runs"].append(again)
    out["noise"] = mix.noise(first[key], again)
    log(f"noise: raw {key} {first[key]['rps']:.1f} then {again['rps']:.1f} req/s, spread "
        f"{out['noise']['spread']:.1%}")


def bench_server(name: str, variants: list[Variant], ops: list[Operation], ctx: dict[str, Any],
                 args: argparse.Namespace, out: dict[str, Any]) -> None:
    fixture, db_url = ctx["fixture"], ctx["fixture"]["database_url"]
    port = free_port()
    argv, env = server_command(name, db_url, port, args, ctx["namespace"])
    server = Server(name, argv, env, port, WORK_DIR / "logs" / f"{ctx['stamp']}-{name}.log")
    log(f"{name}: starting on port {port} (pid {server.pid})")
    try:
        marker = None
        if name.startswith("postgraphile-") and args.workers > 1:
            import postgraphile_servers as pgs

            marker = pgs.CLUSTER_READY
        wait_ready(server, variants[0].build(OPERATIONS[0], fixture), timeout=args.start_timeout,
                   log_marker=marker)
        pids = procstats.tree_pids(server.pid)
        out["processes"][name] = len(pids)
        log(f"{name}: ready, {len(pids)} processes ({', '.join(map(str, pids))})")
        meter = procstats.Meter(server.pid, db_url, args.pg_datadir)
        for variant in variants:
            variant_ops, checked = variant_operations(variant, ops, args)
            checks = answers.check_answers(variant, lambda r: post(port, r), checked, fixture,
                                           ctx["reference"], _verifying_storage())
            out["checks"][variant.key] = checks
            bad = [key for key, check in checks.items() if not check["equal"]]
            for key in bad:
                log(f"{variant.key} {key}: answer differs from the raw server's\n{checks[key]['diff']}")
            if bad and variant.key == "raw":
                raise RuntimeError(f"the raw server (the reference) failed on {', '.join(bad)}")
            if bad and not args.skip_mismatched_ops:
                log(f"{variant.key}: NOT timed (answers differ: {', '.join(bad)})")
                out["skipped"][variant.key] = bad
                continue
            for op in variant_ops:
                if op.key in bad:
                    continue
                request = variant.build(op, fixture)
                files = write_request_files(variant, op, request)
                run_wrk(port, request[0], files, args.connections, args.wrk_threads, args.warmup)
                # The warm-up's backlog (up to --connections requests, a second's work for a slow server such
                # as codex-resolvers) is served before the idle baseline and the timed run, not during them.
                procstats.settle(server.pid)
                if name not in out["idle"]:
                    out["idle"][name] = procstats.idle_baseline(meter)
                closed = meter(lambda r=request, f=files: run_wrk(port, r[0], f, args.connections,
                                                              args.wrk_threads, args.duration))
                closed.update(variant=variant.key, server=name, op=op.key, kind="closed")
                out["runs"].append(closed)
                log(f"{variant.key:16} {op.key:17} closed: {closed['rps']:8.1f} req/s, p50 "
                    f"{closed['latency_ms']['p50']} ms, app {closed['app_cpu_ms_per_req']} ms/req, PG "
                    f"{closed['pg_cpu_ms_per_req']} ms/req, {closed['statements_per_req']} stmts/req, "
                    f"{closed['errors']} errors")
                procstats.settle(server.pid)
                if variant.key == "raw" and op.key not in ctx["noise_first"]:
                    ctx["noise_first"][op.key] = closed
                if op.folder and not args.open_varied:
                    continue  # varied documents: closed loop only, unless --open-varied
                if variant.key == "raw":
                    ctx["rates"][op.key] = [round(f * closed["rps"], 1) for f in args.open_fractions]
                for fraction, rate in zip(args.open_fractions, ctx["rates"].get(op.key, []), strict=False):
                    if rate > args.open_overload * closed["rps"]:
                        # Far past this server's capacity the queue only grows for the whole run and the
                        # backlog outlives it; the closed loop has already measured the capacity.
                        out["runs"].append({"variant": variant.key, "server": name, "op": op.key, "kind": "open",
                                            "fraction": fraction, "rate": rate, "skipped": "over capacity"})
                        log(f"{variant.key:16} {op.key:17} open {rate:.0f}/s: skipped, over "
                            f"{args.open_overload:g}x its closed-loop {closed['rps']:.0f} req/s")
                        continue
                    opened = meter(lambda r=request, f=files, rate=rate: run_openloop(
                        port, r[0], f, rate, args.open_duration, args.connections))
                    opened.update(variant=variant.key, server=name, op=op.key, kind="open", fraction=fraction)
                    out["runs"].append(opened)
                    lat = opened["latency_ms"]
                    log(f"{variant.key:16} {op.key:17} open {rate:.0f}/s: p50 {lat['p50']} p95 {lat['p95']} "
                        f"p99 {lat['p99']} ms, {opened['errors']} errors, generator "
                        f"{opened['generator']['cpu_util']:.0%} of a core")
                    procstats.settle(server.pid)
            if runs_mix(variant, args):
                mixed_workload(variant, port, fixture, meter, bad, ctx, args, out)
            if variant.key in ("codex-adhoc", "raw") and args.page_sizes:
                if name not in out["idle"]:
                    out["idle"][name] = procstats.idle_baseline(meter)
                out["page_size"] += page_size_check(variant, port, fixture, meter,
                                                    out["idle"][name]["statements_per_s"])
        if name == "raw" and args.noise:
            noise_run(port, fixture, meter, ctx, args, out)
    finally:
        server.stop()
        log(f"{name}: stopped")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("small", "medium", "large"))
    parser.add_argument("--servers", default=",".join(ALL_SERVERS),
                        help="comma list of codex (both modes), codex-adhoc, codex-persisted, codex-resolvers "
                             "(compiled path off), raw, postgraphile-v4, postgraphile-v5; raw always runs")
    parser.add_argument("--ops", default="benchmark,varied,mixed",
                        help="comma list of operation keys, `benchmark` (operations/*.graphql), `varied` "
                             "(operations/varied/, closed loop only) and `mixed` (80 %% benchmark shapes, 20 %% "
                             "varied, closed loop; benchmarks/mix.py)")
    parser.add_argument("--open-varied", action="store_true", help="open-loop runs for the varied documents too")
    parser.add_argument("--resolver-ops", default="benchmark",
                        help="what codex-resolvers (FAST_PATH_ENABLED=false) runs, as --ops and among them: operation "
                             "keys, `benchmark`, `varied`, `mixed` (default: benchmark)")
    parser.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True,
                        help="run the raw server's first operation again after its other runs (the noise figure)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per closed-loop run")
    parser.add_argument("--open-duration", type=float, default=None, help="seconds per open-loop run "
                        "(default: --duration)")
    parser.add_argument("--open-fractions", default="0.5,0.8",
                        help="open-loop rates as fractions of the raw server's saturation req/s ('' for none)")
    parser.add_argument("--open-overload", type=float, default=1.5,
                        help="skip an open-loop rate above this multiple of the server's closed-loop req/s")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of wrk before each operation")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of every server: our server and the raw server (uvicorn), "
                             "PostGraphile (node:cluster)")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--skip-mismatched-ops", action="store_true",
                        help="time the operations whose answers match even if others differ")
    parser.add_argument("--page-sizes", action=argparse.BooleanOptionalAction, default=True,
                        help="statements per request vs page size (codex ad hoc and raw)")
    parser.add_argument("--readme", action=argparse.BooleanOptionalAction, default=True,
                        help="write the results table into benchmarks/README.md")
    parser.add_argument("--pg-port", type=int, default=pgcluster.DEFAULT_PORT)
    parser.add_argument("--pg-datadir", type=Path, default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--time-limit", type=float, default=240.0, help="minutes for the whole run (default 240)")
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default benchmarks/results/…)")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    keys = [k.strip() for k in args.ops.split(",") if k.strip()]
    args.ops, args.mixed, unknown = select_operations(keys)
    if unknown or not (args.ops or args.mixed):
        parser.error(f"unknown operation(s): {', '.join(unknown) or '(none given)'}")
    chosen, mixed, unknown = select_operations([k.strip() for k in args.resolver_ops.split(",") if k.strip()])
    if unknown:
        parser.error(f"unknown operation(s) in --resolver-ops: {', '.join(unknown)}")
    args.resolver_ops = [op for op in args.ops if op.key in {c.key for c in chosen}]
    args.resolver_mixed = mixed and args.mixed
    args.open_fractions = [float(f) for f in args.open_fractions.split(",") if f.strip()]
    args.open_duration = args.open_duration or args.duration
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    atexit.register(lambda: [server.stop(timeout=5.0) for server in list(_LIVE)])
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    signal.signal(signal.SIGALRM, _on_signal)
    signal.alarm(int(args.time_limit * 60))  # the whole run, setup included, then servers are stopped
    variants = selected_variants(args.servers)
    if any(v.key == RESOLVERS for v in variants) and not (args.resolver_ops or args.resolver_mixed):
        log(f"{RESOLVERS}: not run (nothing of --resolver-ops is in --ops)")
        variants = [v for v in variants if v.key != RESOLVERS]
    args.variant_keys = {v.key for v in variants}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    wrk_version = ensure_wrk()
    log("starting the benchmark PostgreSQL (benchmarks/pgcluster.py)")
    admin_url = pgcluster.start(port=args.pg_port, datadir=args.pg_datadir)
    fixture = ensure_seeded(args.scale, admin_url, args.reseed)
    postgraphile: dict[str, Any] = {}
    if any(v.compare == "postgraphile" for v in variants):
        import postgraphile_servers as pgs

        log("PostGraphile: install and prepare the database")
        pgs.install()
        pgs.prepare_database(admin_url, fixture["database_name"])
        postgraphile = {v.key: postgraphile_versions(v.key.removeprefix("postgraphile-")) for v in variants
                        if v.compare == "postgraphile"}
    ctx = {"fixture": fixture, "stamp": stamp, "namespace": f"codex-bench-{stamp}", "reference": {}, "rates": {},
           "noise_first": {}}
    out: dict[str, Any] = {
        "meta": {"started": stamp, "scale": args.scale, "command": " ".join([".venv/bin/python", *sys.argv]),
                 "machine": procstats.machine_info(admin_url), "wrk": wrk_version, "database": fixture["database_name"],
                 "counts": fixture.get("counts"), "duration_s": args.duration, "open_duration_s": args.open_duration,
                 "connections": args.connections, "wrk_threads": args.wrk_threads, "workers": args.workers,
                 "open_fractions": args.open_fractions, "open_overload": args.open_overload, "warmup_s": args.warmup,
                 "ops": [op.key for op in args.ops] + (["mixed"] if args.mixed else []),
                 "varied": [op.key for op in VARIED], "variants": [v.key for v in variants],
                 "resolver_ops": [op.key for op in args.resolver_ops] + (["mixed"] if args.resolver_mixed else []),
                 "postgraphile": postgraphile, "postgraphile_session_cache_ms": SESSION_CACHE_MS},
        "checks": {}, "skipped": {}, "idle": {}, "processes": {}, "runs": [], "page_size": [], "errors": {},
        "noise": None}
    order = [s for s in ("raw", "codex", RESOLVERS, "postgraphile-v4", "postgraphile-v5")
             if any(v.server == s for v in variants)]
    try:
        for name in order:
            try:
                bench_server(name, [v for v in variants if v.server == name], args.ops, ctx, args, out)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                if name == "raw":
                    raise
                log(f"{name}: FAILED: {exc}")
                out["errors"][name] = str(exc)[-3000:]
    finally:
        out["meta"]["rates"] = ctx["rates"]
        out["meta"]["finished"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        report.annotate(out)  # x_raw on every closed-loop run; the resolver path's summary
        path = args.output or RESULTS_DIR / f"{stamp}-{args.scale}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1, default=str))
        log(f"results: {path}")
    if args.readme:
        report.update_readme(out, path)
        log("benchmarks/README.md updated")
    print(report.render(out, path))
    return 1 if out["errors"] or out["skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
