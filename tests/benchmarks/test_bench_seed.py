"""The benchmark seed (benchmarks/seed.py): the small scale seeded into the test database serves every
benchmark operation (benchmarks/operations/, variables from benchmarks/workload.py) through the real
app with the answers the harness relies on, and the generator is deterministic."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import pytest

from benchmarks import seed, workload
from codex_graphql.relay import decode_id


def digest(rows: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def generated(scale: str) -> tuple[dict[str, Any], dict[str, str]]:
    data = seed.Generator(scale, "fixed-hash")
    batches = list(data.purchase_batches())
    digests = {name: digest(getattr(data, name)) for name in ("orgs_rows", "users", "members", "content", "sessions")}
    digests["purchases"] = digest([row for rows, _ in batches for row in rows])
    digests["entitlements"] = digest([row for _, rows in batches for row in rows])
    return data.fixture("db", "url"), digests


@pytest.fixture
async def bench(admin_db, database_url) -> dict[str, Any]:
    return await seed.seed_into(admin_db, "small", database_url=database_url)


def day_entry(day: date, row: Any) -> dict[str, Any]:
    if row is None:
        return {"day": day.isoformat(), "revenueCents": 0, "purchases": 0, "refunds": 0}
    return {"day": day.isoformat(), "revenueCents": row["gross"] - row["refunded"], "purchases": row["purchases"],
            "refunds": row["refunds"]}


async def run(gql, key: str, fixture: dict[str, Any]) -> dict[str, Any]:
    operation = workload.BY_KEY[key]
    return await gql.ok(operation.document, operation.variables(fixture), operation.bearer(fixture))


async def test_seeded_small_scale_serves_every_benchmark_operation(bench, gql, admin_db, database_url):
    assert bench["database_url"] == database_url
    assert bench["counts"] == {"orgs": 1, "content": 200, "customers": 1000, "purchases": 5000}
    for table, count in (("organization", 1), ("content", 200), ("purchase", 5000)):
        assert await admin_db.fetchval(f"select count(*) from {table}") == count
    customer = await admin_db.fetchrow("select id, email_verified_at from user_account where email = $1",
                                       bench["customer_email"])
    owner_verified = await admin_db.fetchval("select email_verified_at from user_account where email = $1",
                                             bench["owner_email"])
    assert customer["email_verified_at"] is not None and owner_verified is not None
    assert await admin_db.fetchval("select count(*) from purchase where user_id = $1 and status = 'COMPLETED'",
                                   customer["id"]) >= 45
    org = await admin_db.fetchrow("select id, timezone from organization where slug = $1", bench["org_slug"])

    assert await run(gql, "typename", bench) == {"__typename": "Query"}

    storefront = (await run(gql, "storefront", bench))["organization"]["contents"]
    nodes = [edge["node"] for edge in storefront["edges"]]
    assert len(nodes) == 50 and storefront["pageInfo"]["hasNextPage"]
    newest = await admin_db.fetch(
        "select id from content where organization_id = $1 and status = 'PUBLISHED' and listed and deleted_at is null "
        "order by created_at desc, id desc limit 50", org["id"])
    assert [decode_id(n["id"], "Content") for n in nodes] == [r["id"] for r in newest]
    assert sum(n["viewerHasAccess"] for n in nodes) == 10
    assert all(n["creator"] and n["creator"]["name"] for n in nodes)
    assert any(n["thumbnailUrl"] for n in nodes) and any(n["kind"] == "AUDIO" for n in nodes)

    detail = (await run(gql, "content_detail", bench))["content"]
    assert detail["id"] == bench["entitled_content_id"] and detail["kind"] == "VIDEO"
    assert detail["viewerHasAccess"] and detail["playback"]["url"] and detail["playbackPosition"] == 42.5
    assert [(t["width"], t["height"]) for t in detail["thumbnails"]] == [(320, 180), (1280, 720)]
    assert detail["creator"]["name"] and detail["tags"]

    history = (await run(gql, "purchase_history", bench))["viewer"]["purchases"]
    assert len(history["edges"]) == 20 and history["pageInfo"]["hasNextPage"]
    newest_purchases = await admin_db.fetch(
        "select id from purchase where user_id = $1 order by created_at desc, id desc limit 20", customer["id"])
    assert [decode_id(e["node"]["id"], "Purchase") for e in history["edges"]] == [r["id"] for r in newest_purchases]
    assert all(e["node"]["content"] and e["node"]["organization"]["slug"] == "bench" for e in history["edges"])

    analytics = (await run(gql, "admin_dashboard", bench))["organization"]["analytics"]
    start, end = (date.fromisoformat(bench["dashboard_range"][k]) for k in ("from", "to"))
    assert (analytics["fromDay"], analytics["toDay"]) == (start.isoformat(), end.isoformat())
    days = await admin_db.fetch(
        """select d, sum(n_p)::int as purchases, sum(g)::bigint as gross, sum(n_r)::int as refunds, sum(r)::bigint as refunded
           from (select (created_at at time zone $2)::date as d, 1 as n_p, amount_cents - tax_cents as g, 0 as n_r, 0 as r
                 from purchase where organization_id = $1
                 union all
                 select (refunded_at at time zone $2)::date, 0, 0, 1, amount_cents - tax_cents
                 from purchase where organization_id = $1 and status = 'REFUNDED') x
           where d between $3 and $4 group by d""", org["id"], org["timezone"], start, end)
    by_day = {r["d"]: r for r in days}
    assert analytics["totalRevenueCents"] == sum(r["gross"] - r["refunded"] for r in days) > 0
    assert analytics["purchaseCount"] == sum(r["purchases"] for r in days) > 0
    assert analytics["refundCount"] == sum(r["refunds"] for r in days) > 0
    expected_days = [day_entry(start + timedelta(days=n), by_day.get(start + timedelta(days=n))) for n in range(30)]
    assert analytics["revenueByDay"] == expected_days
    month = await admin_db.fetchval(
        """select coalesce(sum(amount_cents - tax_cents) filter (where (created_at at time zone $2)::date >= m), 0)
                - coalesce(sum(amount_cents - tax_cents) filter (where status = 'REFUNDED'
                                                                 and (refunded_at at time zone $2)::date >= m), 0)
           from purchase, (select date_trunc('month', now() at time zone $2)::date as m) month
           where organization_id = $1""", org["id"], org["timezone"])
    assert analytics["revenueThisMonthCents"] == month
    assert analytics["customerCount"] == await admin_db.fetchval(
        "select count(distinct user_id) from purchase where organization_id = $1", org["id"])
    top = await admin_db.fetch(
        """select content_id, count(*) as purchases,
                  coalesce(sum(amount_cents - tax_cents) filter (where status = 'COMPLETED'), 0) as revenue
           from purchase where organization_id = $1 group by content_id
           order by revenue desc, purchases desc, content_id limit 5""", org["id"])
    assert [(decode_id(t["content"]["id"], "Content"), t["purchases"], t["revenueCents"])
            for t in analytics["topContent"]] == [(r["content_id"], r["purchases"], r["revenue"]) for r in top]
    recent = await admin_db.fetch("select id from purchase where organization_id = $1 "
                                  "order by created_at desc, id desc limit 10", org["id"])
    assert [decode_id(p["id"], "Purchase") for p in analytics["recentPurchases"]] == [r["id"] for r in recent]

    # Deterministic: the generator, run again, produces the seeded fixture and the seeded purchases.
    again, digests = generated("small")
    assert {k: v for k, v in bench.items() if k not in ("database_name", "database_url")} == \
        {k: v for k, v in again.items() if k not in ("database_name", "database_url")}
    assert digests == generated("small")[1]
    regenerated = {row[0] for rows, _ in seed.Generator("small", "h").purchase_batches() for row in rows}
    assert {r["id"] for r in await admin_db.fetch("select id from purchase")} == regenerated


def test_scales_differ_and_keep_their_shape():
    small, medium = seed.Generator("small", "h"), seed.Generator("medium", "h")
    assert small.customer_token != medium.customer_token and small.owner_token != medium.owner_token
    assert len({row[0] for row in medium.orgs_rows}) == 20 and len(medium.content) == 20_000
    assert len(medium.customers) == 10_000 and len({org.slug for org in medium.orgs}) == 20
    bench_orgs = {row[1] for row in (p for p, _ in medium.bench_rows)}
    assert len(bench_orgs) >= 5  # the bench customer buys from several organizations
    assert sum(1 for p, _ in medium.bench_rows if p[7] == "COMPLETED") >= 45
