"""Check that PostGraphile v4/v5 answer the benchmark operations like the Codex server (smoke only, no load).

    .venv/bin/python benchmarks/postgraphile/verify.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--versions v4,v5] [--smoke 2] [--workers 1] [--keep]

Creates a scratch database (``pgb_verify_<random>``, dropped at the end unless --keep), migrates it, seeds
the harness's "small" scale with benchmarks/seed.py plus a few edge cases (storage keys that need URL
escaping, equal thumbnail widths, equal created_at, unlisted/deleted/unpublished items, a revoked and a
granted entitlement), applies schema.sql, starts `codex-graphql serve` and each PostGraphile on spare ports,
sends every operation of benchmarks/workload.py (and a few other viewers) to both and compares
``normalize`` with ``normalize_codex``; every signed URL is verified with the storage key. With --smoke S,
each server then answers each operation for S seconds from 4 concurrent clients (requests/s printed).
--workers N runs every server with N worker processes (uvicorn workers; PostGraphile's node:cluster mode).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

import postgraphile_servers as pgs  # noqa: E402
import seed  # noqa: E402
from workload import BY_KEY, OPERATIONS  # noqa: E402

from codex_graphql.accounts.security import token_hash  # noqa: E402
from codex_graphql.storage.local import LocalStorage  # noqa: E402

SECRET_KEY = "pgb-verify-secret-key-0123456789abcdefghij"
PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def add_edge_cases(conn: asyncpg.Connection, fixture: dict[str, Any]) -> None:
    org_id, owner_id = await conn.fetchrow(
        "select o.id, m.user_id from organization o join organization_membership m on m.organization_id = o.id "
        "where o.slug = $1 and m.role = 'OWNER'", fixture["org_slug"])
    customer_id = await conn.fetchval("select user_id from user_session where token_hash = $1",
                                      token_hash(fixture["customer_token"]))
    newest = await conn.fetchval("select max(created_at) from content where organization_id = $1", org_id)
    tie = newest + timedelta(hours=1)
    rows = [
        # title, status, listed, deleted, created_at, thumbnails
        ("Edge: escaped keys", "PUBLISHED", True, False, tie,
         [{"key": "thumbs/a=b+c@d/w320.jpg", "width": 320, "height": 180},
          {"key": "thumbs/a=b+c@d/w160~x.jpg", "width": 160, "height": 90}]),
        ("Edge: equal widths", "PUBLISHED", True, False, tie,
         [{"key": "thumbs/eq/first.jpg", "width": 160, "height": 90},
          {"key": "thumbs/eq/second.jpg", "width": 160, "height": 91},
          {"key": "thumbs/eq/big.jpg", "width": 640, "height": 360}]),
        ("Edge: unlisted", "PUBLISHED", False, False, tie + timedelta(minutes=1), []),
        ("Edge: deleted", "PUBLISHED", True, True, tie + timedelta(minutes=2), []),
        ("Edge: ready", "READY", True, False, tie + timedelta(minutes=3), []),
        ("Edge: audio, no thumbnails", "PUBLISHED", True, False, tie - timedelta(minutes=1), []),
    ]
    ids = []
    for title, status, listed, deleted, created, thumbnails in rows:
        content_id = uuid.uuid4()
        ids.append(content_id)
        await conn.execute(
            "insert into content (id, organization_id, creator_id, kind, status, title, description, price_cents,"
            " currency, tags, thumbnails, storage_key, mime_type, original_filename, size_bytes, listed,"
            " published_at, deleted_at, created_at, duration_seconds)"
            " values ($1, $2, $3, $4, $5, $6, 'edge case', 499, 'USD', $7, $8::jsonb, $9, 'video/mp4', 'x.mp4', 1000,"
            " $10, $11, $12, $13, 12.5)",
            content_id, org_id, owner_id, "AUDIO" if "audio" in title else "VIDEO", status, title,
            ["edge", "case"], json.dumps(thumbnails), f"media/{content_id}/original=1.mp4", listed,
            created if status == "PUBLISHED" else None, created if deleted else None, created)
    # A granted entitlement on the first edge item, a revoked one on the second.
    await conn.execute(
        "insert into content_entitlement (id, organization_id, user_id, content_id, source, created_at)"
        " values ($1, $2, $3, $4, 'GRANT', now())", uuid.uuid4(), org_id, customer_id, ids[0])
    await conn.execute(
        "insert into content_entitlement (id, organization_id, user_id, content_id, source, revoked_at, created_at)"
        " values ($1, $2, $3, $4, 'GRANT', now(), now())", uuid.uuid4(), org_id, customer_id, ids[1])


async def forget_namespace(redis_url: str, namespace: str) -> None:
    """Delete this run's own keys (its unique namespace) from the shared Redis; nothing else."""
    import redis.asyncio as redis

    client = redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class Servers:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        log = log_dir / f"{name}.log"
        handle = log.open("wb")
        proc = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)  # noqa: S603
        self.procs.append((name, proc, log))

    def stop(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def wait_ready(client: httpx.AsyncClient, url: str, name: str, log: Path, seconds: float = 60,
                     marker: str | None = None) -> None:
    """Until ``url`` answers 200 and, given ``marker``, the log holds it (a PostGraphile cluster is ready)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = await client.post(url, json={"query": "{__typename}"})
            if response.status_code == 200 and (
                    marker is None or marker in await asyncio.to_thread(log.read_text, errors="replace")):
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.3)
    tail = (await asyncio.to_thread(log.read_text))[-3000:]
    raise RuntimeError(f"{name} did not start; log:\n{tail}")


def codex_request(op_key: str, fixture: dict[str, Any], token: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    op = BY_KEY[op_key]
    body = {"query": op.document, "operationName": op.name, "variables": op.variables(fixture)}
    return body, ({"authorization": f"Bearer {token}"} if token else {})


def pg_request(op_key: str, fixture: dict[str, Any], token: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    _, body, headers = pgs.request(op_key, fixture)
    headers = {k: v for k, v in headers.items() if k != "authorization"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return body, headers


def facts(op_key: str, normalized: Any) -> str:
    """What the compared answer holds, so an 'equal' over empty answers shows."""
    if op_key == "storefront" and normalized.get("organization"):
        items = normalized["items"]
        return (f"{len(items)} items, {sum(i['viewer_has_access'] for i in items)} playable, "
                f"{sum(i['thumbnail_url'] is not None for i in items)} thumbnails, next page {normalized['has_next_page']}")
    if op_key == "content_detail" and normalized.get("content"):
        c = normalized["content"]
        return (f"access {c['viewer_has_access']}, {len(c['thumbnails'])} thumbnails, position {c['playback_position']}, "
                f"playback {'signed' if c['playback'] else None}")
    if op_key == "purchase_history" and normalized.get("viewer"):
        items = normalized["viewer"]["purchases"]
        return (f"{len(items)} purchases, {sum(i['status'] == 'REFUNDED' for i in items)} refunded, "
                f"{sum(i['content'] is None for i in items)} without visible content, "
                f"next page {normalized['viewer']['has_next_page']}")
    if op_key == "admin_dashboard" and (normalized.get("organization") or {}).get("analytics"):
        a = normalized["organization"]["analytics"]
        return (f"revenue {a['total_revenue_cents']}, {a['purchase_count']} purchases, {len(a['revenue_by_day'])} days, "
                f"{len(a['top_content'])} top, {len(a['recent_purchases'])} recent")
    return json.dumps(normalized)[:60]


def diff(left: Any, right: Any) -> str:
    import difflib

    a = json.dumps(right, indent=1, sort_keys=True).splitlines()
    b = json.dumps(left, indent=1, sort_keys=True).splitlines()
    return "\n".join(list(difflib.unified_diff(a, b, "codex", "postgraphile", lineterm="", n=2))[:60])


async def smoke(client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                seconds: float, concurrency: int = 4) -> tuple[int, float, int]:
    count = errors = 0
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    async def worker() -> None:
        nonlocal count, errors
        while time.monotonic() < deadline:
            response = await client.post(url, json=body, headers=headers)
            count += 1
            if response.status_code != 200 or "errors" in response.json():
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count, time.monotonic() - started, errors


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--versions", default="v4,v5")
    parser.add_argument("--smoke", type=float, default=0.0, help="seconds of requests per server and operation")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes per server (codex-graphql serve --workers; PostGraphile PGB_WORKERS)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    versions = tuple(v for v in args.versions.split(",") if v)

    pgs.install(versions)
    name = f"pgb_verify_{secrets.token_hex(4)}"
    print(f"scratch database {name}")
    db_url = await seed.create_database(args.admin_url, name)
    servers = Servers()
    failures = 0
    namespace = f"pgb-verify-{name}"
    log_dir = Path(tempfile.mkdtemp(prefix="pgb-verify-"))
    try:
        conn = await asyncpg.connect(db_url)
        try:
            fixture = await seed.seed_into(conn, "small", database_url=db_url)
            await add_edge_cases(conn, fixture)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        pgs.prepare_database(args.admin_url, name)
        pgs.prepare_database(args.admin_url, name)  # idempotent
        if args.keep:
            fixture_file = Path(tempfile.mkdtemp(prefix="pgb-verify-fixture-")) / "fixture.json"
            fixture_file.write_text(json.dumps(fixture, indent=1))
            print(f"fixture written to {fixture_file}")

        ports = {"codex": free_port(), **{v: free_port() for v in versions}}
        codex_env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=args.redis_url,
                         REDIS_NAMESPACE=namespace, SECRET_KEY=SECRET_KEY, PAYMENTS_PROVIDER="local",
                         RATE_LIMIT_ENABLED="false", PUBLIC_BASE_URL=PUBLIC_BASE_URL, LOG_LEVEL="WARNING",
                         DATA_DIR=str(log_dir / "data"))
        servers.start("codex", [str(ROOT / ".venv/bin/codex-graphql"), "serve", "--host", "127.0.0.1",
                                "--port", str(ports["codex"]), "--workers", str(args.workers)], codex_env, log_dir)
        for version in versions:
            argv, env = pgs.command(version, db_url, ports[version], secret_key=SECRET_KEY,
                                    public_base_url=PUBLIC_BASE_URL, workers=args.workers)
            servers.start(version, argv, env, log_dir)
        storage = LocalStorage(root=log_dir / "storage", base_url=PUBLIC_BASE_URL, secret_key=SECRET_KEY)

        async with httpx.AsyncClient(timeout=60) as client:
            urls = {key: f"http://127.0.0.1:{port}/graphql" for key, port in ports.items()}
            cluster = pgs.CLUSTER_READY if args.workers > 1 else None
            for key, proc_log in ((n, log) for n, _, log in servers.procs):
                await wait_ready(client, urls[key], key, proc_log, marker=None if key == "codex" else cluster)

            cases = [(op.key, op.token, op.bearer(fixture)) for op in OPERATIONS]
            cases += [("storefront", "anonymous", None), ("purchase_history", "owner_token", fixture["owner_token"]),
                      ("admin_dashboard", "customer_token", fixture["customer_token"]),
                      ("content_detail", "owner_token", fixture["owner_token"])]
            for op_key, who, token in cases:
                body, headers = codex_request(op_key, fixture, token)
                ours = (await client.post(urls["codex"], json=body, headers=headers)).json()
                expected = pgs.normalize_codex(op_key, ours, storage)
                for version in versions:
                    body, headers = pg_request(op_key, fixture, token)
                    theirs = (await client.post(urls[version], json=body, headers=headers)).json()
                    try:
                        got = pgs.normalize(op_key, theirs, storage)
                    except AssertionError as exc:
                        got = {"error": str(exc)}
                    ok = got == expected
                    failures += not ok
                    size = len(json.dumps(expected))
                    print(f"{'OK  ' if ok else 'DIFF'} {version} {op_key:17} as {who or 'anonymous':15} "
                          f"({size} bytes normalized; {facts(op_key, expected)})")
                    if not ok:
                        print(diff(got, expected))

            if args.smoke > 0:
                print(f"\nsmoke: {args.smoke:g} s per server and operation, 4 concurrent clients, "
                      f"{args.workers} process{'es' if args.workers > 1 else ''} each")
                for op in OPERATIONS:
                    line = [f"{op.key:17}"]
                    for key in ("codex", *versions):
                        if key == "codex":
                            body, headers = codex_request(op.key, fixture, op.bearer(fixture))
                        else:
                            body, headers = pg_request(op.key, fixture, op.bearer(fixture))
                        count, elapsed, errors = await smoke(client, urls[key], body, headers, args.smoke)
                        line.append(f"{key} {count / elapsed:7.1f}/s" + (f" ({errors} errors)" if errors else ""))
                    print("  ".join(line))
    finally:
        servers.stop()
        await forget_namespace(args.redis_url, namespace)  # the Codex server's session cache entries
        if not args.keep:
            shutil.rmtree(log_dir, ignore_errors=True)
            admin = await asyncpg.connect(args.admin_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
            print(f"dropped {name}")
    print("all equal" if not failures else f"{failures} difference(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
