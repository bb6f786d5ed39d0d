"""Analytics latency at 10k, 100k and 1M purchases (not part of the test suite).

    .venv/bin/python benchmarks/analytics_bench.py                 # 10k, 100k, 1M; writes benchmarks/README.md
    .venv/bin/python benchmarks/analytics_bench.py --sizes 10000,100000 --runs 200

Creates its own database (``codex_bench_analytics`` on BENCH_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it with alembic, and grows one organization's
purchases to each size. Purchases are bulk loaded with COPY (asyncpg ``copy_records_to_table``) with
the summary triggers disabled, then the summaries are rebuilt in SQL (``analytics_rebuild``) — the same
function ops would use after any bulk import. Each measurement runs the full ``Organization.analytics``
query (30-day range, every field) through the real Starlette/strawberry app in-process (httpx
ASGITransport) as the signed-in owner, so it includes authentication, the RLS transaction set-up and
serialization; Redis must be reachable (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from codex_graphql.accounts.security import hash_password  # noqa: E402
from codex_graphql.app import create_app  # noqa: E402
from codex_graphql.settings import Settings  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_NAME = "codex_bench_analytics"
PASSWORD = "benchmark password 1"
CUSTOMERS = 50_000
CONTENTS = 200
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- analytics-bench:begin -->", "<!-- analytics-bench:end -->"

QUERY = """query($s: String!, $r: DateRange) { organization(slug: $s) { analytics(range: $r) {
  totalRevenueCents revenueThisMonthCents customerCount purchaseCount refundCount
  topContent(limit: 5) { content { id title } purchases revenueCents }
  recentPurchases(limit: 10) { id kind status amountCents createdAt }
  revenueByDay { day revenueCents purchases refunds } } } }"""

COLUMNS = ("id", "organization_id", "user_id", "content_id", "creator_id", "content_title", "kind", "status",
           "amount_cents", "tax_cents", "currency", "creator_share_cents", "created_at", "updated_at", "refunded_at")


def db_url(name: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + name


async def create_database() -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DB_NAME}")
    finally:
        await admin.close()
    url = db_url(DB_NAME)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["skip_logging"] = True
    await asyncio.to_thread(command.upgrade, config, "head")
    return url


async def seed_base(conn: asyncpg.Connection) -> dict[str, Any]:
    owner_id, org_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "insert into user_account (id, email, name, password_hash, platform_role, email_verified_at) "
        "values ($1, 'owner@bench.example', 'Owner', $2, 'CUSTOMER', now())", owner_id, await hash_password(PASSWORD))
    await conn.execute("insert into organization (id, slug, name, timezone) values ($1, 'bench', 'Bench', "
                       "'America/New_York')", org_id)
    await conn.execute("insert into organization_membership (id, organization_id, user_id, role) values ($1, $2, $3, 'OWNER')",
                       uuid.uuid4(), org_id, owner_id)
    users = [uuid.uuid4() for _ in range(CUSTOMERS)]
    await conn.copy_records_to_table("user_account", columns=("id", "email", "name", "password_hash", "platform_role"),
                                     records=[(u, f"c{n}@bench.example", f"Customer {n}", "x", "CUSTOMER")
                                              for n, u in enumerate(users)])
    contents = [(uuid.uuid4(), random.choice([0, 499, 999, 1999, 4999])) for _ in range(CONTENTS)]  # noqa: S311
    await conn.copy_records_to_table(
        "content", columns=("id", "organization_id", "creator_id", "kind", "status", "title", "price_cents", "storage_key",
                            "mime_type", "original_filename", "size_bytes", "published_at"),
        records=[(c, org_id, owner_id, "VIDEO", "PUBLISHED", f"Item {n}", price, f"k/{c}", "video/mp4", "a.mp4", 1,
                  datetime.now(UTC)) for n, (c, price) in enumerate(contents)])
    return {"owner": owner_id, "org": org_id, "users": users, "contents": contents}


def purchase_records(base: dict[str, Any], count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    records = []
    for _ in range(count):
        content_id, price = rng.choice(base["contents"])
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        roll = rng.random()
        kind = "GRANT" if roll < 0.03 else ("FREE" if price == 0 else "PAID")
        amount = price if kind == "PAID" else 0
        tax = amount * rng.choice([0, 0, 0, 8, 20]) // 100
        amount += tax
        refunded = kind == "PAID" and rng.random() < 0.04
        refunded_at = min(now, created + timedelta(days=rng.randrange(0, 30))) if refunded else None
        records.append((uuid.uuid4(), base["org"], rng.choice(base["users"]), content_id, base["owner"], "Item", kind,
                        "REFUNDED" if refunded else "COMPLETED", amount, tax, "USD", 0, created, created, refunded_at))
    return records


async def bulk_load(conn: asyncpg.Connection, base: dict[str, Any], count: int, rng: random.Random) -> float:
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("ALTER TABLE purchase DISABLE TRIGGER analytics_purchase_inserted")
        chunk = 100_000
        for offset in range(0, count, chunk):
            await conn.copy_records_to_table("purchase", columns=COLUMNS,
                                             records=purchase_records(base, min(chunk, count - offset), rng))
        await conn.execute("ALTER TABLE purchase ENABLE TRIGGER analytics_purchase_inserted")
        # The rebuild function checks the transaction's organization (it runs as the tables' owner).
        await conn.execute("select set_config('codex.organization_id', $1, true)", str(base["org"]))
        await conn.execute("select analytics_rebuild($1)", base["org"])
    await conn.execute("ANALYZE")
    return time.perf_counter() - started


async def check_numbers(conn: asyncpg.Connection, org: uuid.UUID, data: dict[str, Any], tz: str,
                        start: str, end: str) -> None:
    """The summaries agree with a full scan of the purchase table."""
    revenue = await conn.fetchval(
        "select coalesce(sum(amount_cents - tax_cents) filter (where (created_at at time zone $2)::date between $3 and $4), 0)"
        " - coalesce(sum(amount_cents - tax_cents) filter (where status = 'REFUNDED' and "
        "(refunded_at at time zone $2)::date between $3 and $4), 0) from purchase where organization_id = $1",
        org, tz, datetime.fromisoformat(start).date(), datetime.fromisoformat(end).date())
    assert data["totalRevenueCents"] == revenue, (data["totalRevenueCents"], revenue)
    customers = await conn.fetchval("select count(distinct user_id) from purchase where organization_id = $1", org)
    assert data["customerCount"] == customers, (data["customerCount"], customers)


async def measure(url: str, runs: int) -> dict[str, Any]:
    settings = Settings(database_url=url, redis_url=REDIS_URL, redis_namespace=f"bench-{uuid.uuid4().hex[:8]}",
                        environment="test", secret_key="benchmark-secret-key", public_base_url="http://bench",
                        log_json=False, smtp_url=None, data_dir=Path(tempfile.mkdtemp(prefix="codex-bench-")))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post("/graphql", json={"query": "mutation($e:String!,$p:String!){login(input:{email:$e,"
                                                      "password:$p}){token errors{code}}}",
                                                      "variables": {"e": "owner@bench.example", "p": PASSWORD}})
            token = login.json()["data"]["login"]["token"]
            headers = {"authorization": f"Bearer {token}"}
            end = datetime.now(UTC).date()
            variables = {"s": "bench", "r": {"from": (end - timedelta(days=29)).isoformat(), "to": end.isoformat()}}
            body: dict[str, Any] = {}
            for _ in range(10):  # warm-up: caches, pool, plans
                body = (await http.post("/graphql", json={"query": QUERY, "variables": variables}, headers=headers)).json()
            assert "errors" not in body, body
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                response = await http.post("/graphql", json={"query": QUERY, "variables": variables}, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
    timings.sort()
    return {"p50": statistics.median(timings), "p95": timings[int(len(timings) * 0.95) - 1], "max": timings[-1],
            "data": body["data"]["organization"]["analytics"], "range": variables["r"]}


def write_readme(rows: list[dict[str, Any]], command_line: str) -> None:
    table = ["| purchases | bulk load + summary rebuild (s) | analytics p50 (ms) | p95 (ms) | max (ms) | runs |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r['size']:,} | {r['load']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | {r['runs']} |")
    block = "\n".join([BEGIN, f"Command: `{command_line}`", "",
                       f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL and the app on one machine.", "",
                       *table, END])
    text = README.read_text() if README.exists() else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="cumulative purchase counts")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rng = random.Random(42)  # noqa: S311 (reproducible data, not secrets)
    url = await create_database()
    rows = []
    conn = await asyncpg.connect(url)
    try:
        base = await seed_base(conn)
        loaded = 0
        for size in sizes:
            load = await bulk_load(conn, base, size - loaded, rng)
            loaded = size
            result = await measure(url, args.runs)
            await check_numbers(conn, base["org"], result["data"], "America/New_York",
                                result["range"]["from"], result["range"]["to"])
            rows.append({"size": size, "load": load, "runs": args.runs, **result})
            print(f"{size:>9,} purchases: load {load:6.1f}s  p50 {result['p50']:6.1f} ms  p95 {result['p95']:6.1f} ms  "
                  f"max {result['max']:6.1f} ms", flush=True)
    finally:
        await conn.close()
        if not args.keep:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            await admin.close()
    if not args.no_readme:
        write_readme(rows, "python benchmarks/analytics_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
