"""Setting up a harness run (benchmarks/run.py): wrk installed, the benchmark database seeded or reused."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from workload import DATA_DIR

BENCH = Path(__file__).resolve().parent
PYTHON = BENCH.parent / ".venv" / "bin" / "python"


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(argv: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, timeout=timeout, text=True, capture_output=True, check=False, **kwargs)  # noqa: S603


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        log("installing wrk (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            result = run(argv, timeout=600, env=env)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed: {result.stderr[-1500:]}")
    return run(["wrk", "--version"], timeout=10).stdout.split(" [", 1)[0].strip()


async def _database_ok(url: str, counts: dict[str, Any]) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        for key, table in (("orgs", "organization"), ("content", "content"), ("purchases", "purchase")):
            if isinstance(counts.get(key), int):
                found = await conn.fetchval(f"select count(*) from {table}")  # noqa: S608 (constant names)
                if found != counts[key]:
                    log(f"fixture count mismatch: {table} has {found} rows, the fixture says {counts[key]}")
                    return False
        await conn.execute("create extension if not exists pg_stat_statements")
        return True
    finally:
        await conn.close()


def _migrated(url: str) -> None:
    """A reused database brought to the code's latest migration (nothing when it is there already): the servers
    read the schema the checkout's models describe, whatever revision the database was seeded at."""
    result = run([str(PYTHON), "-m", "codex_graphql.cli", "migrate"], timeout=600,
                 env=dict(os.environ, DATABASE_URL=url))
    if result.returncode != 0:
        raise SystemExit(f"migrating the reused database failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def ensure_seeded(scale: str, admin_url: str, reseed: bool) -> dict[str, Any]:
    path = DATA_DIR / f"fixture-{scale}.json"
    cluster = admin_url.rsplit("/", 1)[0]
    if path.exists() and not reseed:
        fixture = json.loads(path.read_text())
        same_cluster = fixture.get("database_url", "").startswith(cluster + "/")
        if fixture.get("scale") == scale and same_cluster and \
                asyncio.run(_database_ok(fixture["database_url"], fixture.get("counts") or {})):
            log(f"reusing seeded database {fixture['database_name']} ({path.name})")
            _migrated(fixture["database_url"])
            return fixture
        log(f"{path.name} does not match the benchmark cluster: seeding again")
    log(f"seeding scale {scale} (benchmarks/seed.py)")
    started = time.monotonic()
    argv = [str(PYTHON), str(BENCH / "seed.py"), "--scale", scale, "--admin-url", admin_url]
    result = run(argv, timeout=3 * 3600)
    if result.returncode != 0:
        raise SystemExit(f"seed.py failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    fixture = json.loads(path.read_text())
    if not asyncio.run(_database_ok(fixture["database_url"], {})):
        raise SystemExit(f"seeded database {fixture['database_url']} is not reachable")
    log(f"seeded in {time.monotonic() - started:.0f}s")
    return fixture
