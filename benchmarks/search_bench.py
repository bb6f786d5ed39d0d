"""Search latency at 100k items (not part of the test suite).

    .venv/bin/python benchmarks/search_bench.py                      # 100,000 items, 100 runs per query
    .venv/bin/python benchmarks/search_bench.py --items 20000 --runs 50 --no-readme

Creates its own database (``codex_bench_search`` on BENCH_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it with alembic and seeds one organization with
``--items`` content items in SQL (``generate_series`` over a generated vocabulary: 4-word titles, 20-word
descriptions, two tags, 200 creators; every tenth item an article with a 300-word body; 5% drafts, 5% unlisted).
The search triggers are off while the rows go in; ``codex_search_refresh(org, NULL, NULL)`` then builds every
vector in one statement (what ops would run after a bulk import), and the trigger cost is measured apart by
inserting ``--trigger-items`` more items with the triggers on.

Each query runs the whole ``organization(slug:) { search(query:, first: 20) { ... } }`` request through the real
Starlette/strawberry app in-process (httpx ASGITransport: authentication, the RLS transaction, the statement,
serialization), anonymously or as the signed-in owner (staff: drafts and unlisted items too); p50/p95/max over
``--runs`` runs after 10 warm-up runs. Redis must be reachable (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/0). Results go to benchmarks/results/<time>-search.json and, between markers, to
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codex_graphql.accounts.security import hash_password  # noqa: E402
from codex_graphql.app import create_app  # noqa: E402
from codex_graphql.settings import Settings  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_NAME = "codex_bench_search"
PASSWORD = "benchmark password 1"
OWNER_EMAIL = "owner@search.bench.example"
SLUG = "search-bench"
CREATORS = 200
VOCABULARY = 3000
README = ROOT / "benchmarks" / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- search-bench:begin -->", "<!-- search-bench:end -->"

QUERY = """query($s: String!, $q: String!) { organization(slug: $s) { search(query: $q, first: 20) {
  pageInfo { hasNextPage endCursor } edges { node { rank headline content { id title kind priceCents } } } } } }"""
COUNTED = """query($s: String!, $q: String!) { organization(slug: $s) { search(query: $q, first: 20) {
  totalCount edges { node { rank content { id title } } } } } }"""

# (label, query text, who, document): the seed puts "yoga" in 1% of titles, "lesson" in a third of them,
# "meditation" in 5% of descriptions, "zanzibar" in one title; "yogaa" is a typo of a title word (the fallback
# answers), "medtation" one of a description word (no fallback there: nothing found, the cost of a miss).
CASES = (
    ("selective word (1%)", "yoga", "anonymous", QUERY),
    ("broad word (33%)", "lesson", "anonymous", QUERY),
    ("two words (AND)", "yoga lesson", "anonymous", QUERY),
    ("description word (5%)", "meditation", "anonymous", QUERY),
    ("phrase", '"morning yoga"', "anonymous", QUERY),
    ("one item", "zanzibar", "anonymous", QUERY),
    ("typo, fallback", "yogaa", "anonymous", QUERY),
    ("typo in description word", "medtation", "anonymous", QUERY),
    ("staff, selective word", "yoga", "owner", QUERY),
    ("staff, broad word", "lesson", "owner", QUERY),
    ("selective + totalCount", "yoga", "anonymous", COUNTED),
    ("broad + totalCount", "lesson", "anonymous", COUNTED),
)


def db_url(name: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + name


def vocabulary(rng: random.Random, size: int = VOCABULARY) -> list[str]:
    """Pronounceable made-up words (4 to 9 letters), distinct, none of the words the cases look for."""
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
        words.add(word[: rng.randint(4, 9)])
    reserved = {"yoga", "lesson", "meditation", "zanzibar", "morning"}
    return sorted(words - reserved)


async def create_database(name: str = DB_NAME) -> str:
    from alembic import command
    from alembic.config import Config

    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = db_url(name)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["skip_logging"] = True
    await asyncio.to_thread(command.upgrade, config, "head")
    return url


# $1 org, $2 vocabulary, $3 creators, $4 first number, $5 last number, $6 the one item titled Zanzibar.
# Deterministic per item number g.
ITEMS = """
INSERT INTO content (id, organization_id, creator_id, kind, status, title, description, tags, price_cents,
                     storage_key, mime_type, original_filename, size_bytes, listed, published_at, created_at)
SELECT gen_random_uuid(), $1, ($3::uuid[])[(1 + g % array_length($3::uuid[], 1))::int],
       CASE WHEN g % 10 = 0 THEN 'ARTICLE' ELSE 'VIDEO' END,
       CASE WHEN g % 20 = 7 THEN 'READY' ELSE 'PUBLISHED' END,
       concat_ws(' ', CASE WHEN g % 100 = 0 THEN 'Morning yoga' END, CASE WHEN g % 3 = 0 THEN 'lesson' END,
                 CASE WHEN g = $6 THEN 'Zanzibar' END,
                 ($2::text[])[(1 + (g * 7919) % array_length($2::text[], 1))::int], ($2::text[])[(1 + (g * 104729) % array_length($2::text[], 1))::int],
                 ($2::text[])[(1 + (g * 1299709) % array_length($2::text[], 1))::int], ($2::text[])[(1 + (g * 15485863) % array_length($2::text[], 1))::int]),
       (SELECT string_agg(($2::text[])[(1 + ((g * 31 + w) * 2654435761) % array_length($2::text[], 1))::int], ' ')
          FROM generate_series(1, 20) w) || CASE WHEN g % 20 = 3 THEN ' A guided meditation.' ELSE '' END,
       ARRAY[($2::text[])[(1 + (g * 37) % 50)::int], ($2::text[])[(1 + (g * 101) % 200)::int]]::varchar(40)[],
       (g % 4) * 500,
       CASE WHEN g % 10 = 0 THEN '' ELSE 'k/' || g END, 'video/mp4', 'a.mp4', 1,
       g % 20 <> 13, now(), now() - make_interval(secs => g)
  FROM generate_series($4::bigint, $5::bigint) g
RETURNING id"""

BODIES = """
INSERT INTO article_body (content_id, organization_id, document, html, excerpt_html, plain_text, word_count,
                          reading_minutes)
SELECT c.id, c.organization_id, '{"type": "doc"}', '<p>…</p>', '', t.body, 300, 2
  FROM content c
 CROSS JOIN LATERAL (SELECT string_agg(($2::text[])[(1 + ((hashtext(c.id::text)::bigint + w * 7) & 2147483647)
                                        % array_length($2::text[], 1))::int], ' ') AS body
                       FROM generate_series(1, 300) w) t
 WHERE c.id = ANY ($3::uuid[]) AND c.organization_id = $1 AND c.kind = 'ARTICLE'"""

TRIGGERS = (("content", "codex_search_content_inserted"), ("article_body", "codex_search_body_written"))


async def seed(conn: asyncpg.Connection, items: int, *, trigger_items: int = 0, seed_value: int = 42) -> dict[str, Any]:
    """One organization with ``items`` items indexed in bulk, then ``trigger_items`` more through the triggers."""
    rng = random.Random(seed_value)  # noqa: S311 (reproducible data, not secrets)
    words = vocabulary(rng)
    owner_id, org_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "insert into user_account (id, email, name, password_hash, platform_role, email_verified_at) "
        "values ($1, $2, 'Owner', $3, 'CUSTOMER', now())", owner_id, OWNER_EMAIL, await hash_password(PASSWORD))
    await conn.execute("insert into organization (id, slug, name) values ($1, $2, 'Search bench')", org_id, SLUG)
    await conn.execute("insert into organization_membership (id, organization_id, user_id, role) "
                       "values ($1, $2, $3, 'OWNER')", uuid.uuid4(), org_id, owner_id)
    creators = [uuid.uuid4() for _ in range(CREATORS)]
    await conn.copy_records_to_table(
        "user_account", columns=("id", "email", "name", "password_hash", "platform_role"),
        records=[(c, f"creator{n}@search.bench.example", f"{rng.choice(words).title()} {rng.choice(words).title()}",
                  "x", "CUSTOMER") for n, c in enumerate(creators)])
    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with conn.transaction():
        for table, trigger in TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        inserted = [r["id"] for r in await conn.fetch(ITEMS, org_id, words, creators, 1, items, (items + 1) // 2)]
        await conn.execute(BODIES, org_id, words, inserted)
        for table, trigger in TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    timings["insert_s"] = time.perf_counter() - started
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("select set_config('codex.organization_id', $1, true)", str(org_id))
        await conn.execute("select codex_search_refresh($1, NULL, NULL)", org_id)
    timings["vectors_s"] = time.perf_counter() - started
    if trigger_items:
        started = time.perf_counter()
        async with conn.transaction():
            inserted = [r["id"] for r in await conn.fetch(ITEMS, org_id, words, creators, items + 1,
                                                          items + trigger_items, 0)]
            await conn.execute(BODIES, org_id, words, inserted)
        timings["trigger_ms_per_item"] = (time.perf_counter() - started) * 1000 / trigger_items
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE")
    timings["analyze_s"] = time.perf_counter() - started
    counts = dict(await conn.fetchrow(
        "select (select count(*) from content) as items, (select count(*) from article_body) as articles, "
        "(select count(*) from content_search_public) as public_rows, "
        "(select count(*) from content_search_staff) as staff_rows"))
    return {"org": org_id, "owner": owner_id, "timings": timings, "counts": counts}


async def measure(url: str, runs: int, cases: tuple[tuple[str, str, str, str], ...] = CASES,
                  warmup: int = 10) -> list[dict[str, Any]]:
    settings = Settings(database_url=url, redis_url=REDIS_URL, redis_namespace=f"bench-{uuid.uuid4().hex[:8]}",
                        environment="test", secret_key="benchmark-secret-key", public_base_url="http://bench",
                        log_json=False, smtp_url=None, data_dir=Path(tempfile.mkdtemp(prefix="codex-bench-")),
                        rate_limit_enabled=False)  # latency, not the request budget: hundreds of requests a second
    app = create_app(settings)
    results = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post("/graphql", json={"query": "mutation($e:String!,$p:String!){login(input:{email:$e,"
                                                      "password:$p}){token errors{code}}}",
                                                      "variables": {"e": OWNER_EMAIL, "p": PASSWORD}})
            token = login.json()["data"]["login"]["token"]
            for label, words, who, document in cases:
                headers = {"authorization": f"Bearer {token}"} if who == "owner" else {}
                payload = {"query": document, "variables": {"s": SLUG, "q": words}}
                body: dict[str, Any] = {}
                for _ in range(warmup):  # caches, pool, plans
                    body = (await http.post("/graphql", json=payload, headers=headers)).json()
                assert "errors" not in body, body
                timings = []
                for _ in range(runs):
                    started = time.perf_counter()
                    response = await http.post("/graphql", json=payload, headers=headers)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200 and "errors" not in response.json(), response.text[:500]
                timings.sort()
                found = body["data"]["organization"]["search"]
                results.append({"case": label, "query": words, "viewer": who, "runs": runs,
                                "p50_ms": statistics.median(timings),
                                "p95_ms": timings[math.ceil(len(timings) * 0.95) - 1], "max_ms": timings[-1],
                                "hits_on_page": len(found["edges"]), "total": found.get("totalCount")})
    return results


def write_results(summary: dict[str, Any], command_line: str, readme: bool) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}-search.json"
    path.write_text(json.dumps({"command": command_line, **summary}, indent=2, default=str) + "\n")
    if not readme:
        return path
    counts, timings = summary["counts"], summary["timings"]
    lines = [BEGIN, f"Command: `{command_line}` (raw figures: `benchmarks/results/{path.name}`)", "",
             f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL and the app on one 2-core machine. "
             f"{counts['items']:,} items ({counts['articles']:,} articles), {counts['public_rows']:,} public and "
             f"{counts['staff_rows']:,} staff-only vectors. Bulk insert {timings['insert_s']:.1f} s, every vector "
             f"built in one `codex_search_refresh` {timings['vectors_s']:.1f} s, "
             f"{timings.get('trigger_ms_per_item', float('nan')):.2f} ms per item inserted with the triggers on.", "",
             "| case | query | viewer | p50 (ms) | p95 (ms) | max (ms) | hits on page | totalCount |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in summary["results"]:
        total = "" if r["total"] is None else f"{r['total']:,}"
        lines.append(f"| {r['case']} | `{r['query']}` | {r['viewer']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['max_ms']:.1f} | {r['hits_on_page']} | {total} |")
    lines.append(END)
    block = "\n".join(lines)
    text = README.read_text() if README.exists() else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--trigger-items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = await create_database()
    conn = await asyncpg.connect(url)
    try:
        seeded = await seed(conn, args.items, trigger_items=args.trigger_items)
        print(f"seeded: {seeded['counts']} {seeded['timings']}", flush=True)
        results = await measure(url, args.runs)
        for r in results:
            print(f"{r['case']:<28} p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms "
                  f" hits {r['hits_on_page']:>3} total {r['total']}", flush=True)
    finally:
        await conn.close()
        if not args.keep:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            await admin.close()
    path = write_results({"counts": seeded["counts"], "timings": seeded["timings"], "results": results},
                         "python benchmarks/search_bench.py " + " ".join(sys.argv[1:]), not args.no_readme)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
