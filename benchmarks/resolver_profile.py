"""CPU per request of the resolver path (the compiled path switched off), and where it goes (not a test).

    .venv/bin/python benchmarks/resolver_profile.py                      # N=200 per document, top-40 profiles
    .venv/bin/python benchmarks/resolver_profile.py --runs 500 --top 60 --no-profile
    .venv/bin/python benchmarks/resolver_profile.py --fast-path          # the same documents, compiled path on

Creates its own database (``codex_bench_resolver_profile`` next to BENCH_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it and seeds the benchmark's ``small`` scale
(``benchmarks/seed.py``: one organization with 200 items, creators, thumbnails, a customer with purchases).
The app from ``create_app`` runs in-process with ``FAST_PATH_ENABLED=false`` and ``RATE_LIMIT_ENABLED=false``
(as ``run.py`` runs the server) and is driven through httpx ``ASGITransport`` with the harness's operations
(``benchmarks/workload.py``: the benchmark shapes and the varied documents, each with its variables and token).

For each document: 20 warm-up requests, then ``--repeat`` rounds of N requests timed with
``time.process_time`` (CPU seconds of this process: the app, httpx and the event loop; PostgreSQL and Redis
run elsewhere) and wall time, reported as the minimum and median round (a shared machine is noisy); then N
more under cProfile, printed top-``--top`` by cumulative and by own time. Each answer is checked to have no
errors and the page size asked for. Redis must be reachable (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.seed import create_database, seed_into  # noqa: E402
from benchmarks.workload import ALL_BY_KEY  # noqa: E402
from codex_graphql.app import create_app  # noqa: E402
from codex_graphql.settings import Settings  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_NAME = "codex_bench_resolver_profile"
DEFAULT_ONLY = ("storefront", "content_detail", "purchase_history", "admin_dashboard")
WARMUP = 20


async def seeded_database(reuse: bool, name: str = DB_NAME) -> tuple[str, dict[str, Any]]:
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    if reuse:
        conn = await asyncpg.connect(url)
        try:
            return url, orjson.loads(await conn.fetchval("select value from resolver_profile_fixture where key = 'fixture'"))
        finally:
            await conn.close()
    url = await create_database(ADMIN_URL, name)
    conn = await asyncpg.connect(url)
    try:
        fixture = await seed_into(conn, "small", database_url=url)
        # Kept beside the data so that --reuse needs no file.
        await conn.execute("create table resolver_profile_fixture (key text primary key, value text)")
        await conn.execute("insert into resolver_profile_fixture values ('fixture', $1)", orjson.dumps(fixture).decode())
    finally:
        await conn.close()
    return url, fixture


async def run(args: argparse.Namespace) -> None:
    url, fixture = await seeded_database(args.reuse, args.database)
    settings = Settings(database_url=url, redis_url=REDIS_URL, redis_namespace=f"bench-{uuid.uuid4().hex[:8]}",
                        environment="test", secret_key="benchmark-secret-key", public_base_url="http://bench",
                        log_json=False, log_level="WARNING", smtp_url=None, rate_limit_enabled=False,
                        fast_path_enabled=args.fast_path,
                        data_dir=Path(tempfile.mkdtemp(prefix="codex-bench-")))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for name in args.only or DEFAULT_ONLY:
                operation = ALL_BY_KEY[name]
                variables = operation.variables(fixture)
                if "first" in variables and args.first is not None:
                    variables["first"] = args.first
                payload = {"query": operation.document, "variables": variables, "operationName": operation.name}
                bearer = operation.bearer(fixture)
                headers = {"authorization": f"Bearer {bearer}"} if bearer else {}

                async def one(payload: dict[str, Any] = payload, headers: dict[str, str] = headers) -> None:
                    response = await http.post("/graphql", json=payload, headers=headers)
                    body = response.json()
                    assert response.status_code == 200 and "errors" not in body, body

                for _ in range(WARMUP):
                    await one()
                rounds = []
                for _ in range(args.repeat):
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(args.runs):
                        await one()
                    rounds.append(((time.process_time() - cpu) / args.runs * 1000,
                                   (time.perf_counter() - wall) / args.runs * 1000))
                cpus = sorted(r[0] for r in rounds)
                print(f"{name}: {args.repeat} x {args.runs} requests, CPU ms/request min {cpus[0]:.2f} "
                      f"median {cpus[len(cpus) // 2]:.2f}, wall ms/request min {min(r[1] for r in rounds):.2f} "
                      f"(fast path {'on' if args.fast_path else 'off'}, variables {variables})", flush=True)
                if args.no_profile:
                    continue
                profiler = cProfile.Profile(time.process_time)  # CPU time: waits on a busy machine excluded
                profiler.enable()
                for _ in range(args.runs):
                    await one()
                profiler.disable()
                if args.dump:
                    profiler.dump_stats(f"{args.dump}-{name}.prof")
                for order in ("cumulative", "tottime"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
                    print(f"--- {name}: top {args.top} by {order} ---")
                    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="requests per document (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed rounds of --runs requests; min and median reported (default %(default)s)")
    parser.add_argument("--first", type=int, help="page size (default: the harness's)")
    parser.add_argument("--top", type=int, default=40, help="profile rows (default %(default)s)")
    parser.add_argument("--only", action="append", choices=tuple(ALL_BY_KEY),
                        help=f"one operation (repeatable; default {', '.join(DEFAULT_ONLY)})")
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only")
    parser.add_argument("--fast-path", action="store_true", help="leave the compiled path on (for comparison)")
    parser.add_argument("--dump", metavar="PREFIX", help="also write PREFIX-<document>.prof (pstats)")
    parser.add_argument("--reuse", action="store_true", help="reuse the database a previous run seeded")
    parser.add_argument("--database", default=DB_NAME,
                        help="name of the database to seed (default %(default)s; runs side by side need their own)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
