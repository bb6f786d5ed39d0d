"""The dashboard in one statement: ``Organization.analytics`` read inside the organization root's statement
(``fastpath.tables``: a follow-up as a ``LEFT JOIN LATERAL`` behind its guard), with the answers, errors and
nulls of normal execution for every viewer and every range, no analytics SQL run for a viewer the guard
refuses, "today" taken in the organization's zone, and the follow-up next to a connection in a second
statement over the row's id."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg

from codex_graphql.analytics.service import local_today
from codex_graphql.db import TenantScope, register_scope_key, set_connection_scope
from tests.fastpath.test_fastpath_dashboard import DASHBOARD, HOME, SPAN
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    compare_any,
    fast_path,
    resolvers_only,
    viewers,
    world,
)
from tests.support import statements

ANALYTICS_TABLES = ("purchase_daily_stats", "analytics_totals", "content_sales_summary", "purchase p")


# No range (the last 30 days), one day, the longest range allowed, and ranges the resolvers refuse: one day
# too long, reversed, half a range (an invalid variable), the first and last days there are.
LONGEST = {"from": "2024-03-12", "to": (date(2024, 3, 12) + timedelta(days=999)).isoformat()}
RANGES: list[dict[str, Any] | None] = [
    None, SPAN, {"from": "2026-06-01", "to": "2026-06-01"}, LONGEST,
    {"from": "2024-03-11", "to": LONGEST["to"]}, {"from": "2026-06-10", "to": "2026-06-01"}, {"from": "2026-06-01"},
    {"from": "0001-01-01", "to": "0001-01-03"}, {"from": "9999-12-30", "to": "9999-12-31"},
]


async def test_dashboards_match_the_resolvers_for_every_viewer_and_range(app, gql, resolvers_only, world):  # noqa: F811
    for document in (DASHBOARD, HOME):
        assert fast_path(app).plan(document, None) is not None
    seen_errors: set[str] = set()
    for who, token in viewers(world).items():
        for span in RANGES:
            for document in (DASHBOARD, HOME):
                variables = {"slug": "shop", **({"range": span} if span else {})}
                body = await compare_any(app, gql, resolvers_only, document, variables, token)
                seen_errors.update(error["extensions"]["code"] for error in body.get("errors", ()))
                if who == "owner" and span in (None, SPAN, LONGEST):
                    assert "errors" not in body and body["data"]["organization"]["analytics"], (span, body)
        # An unknown organization: null, whoever asks and whatever the range.
        await compare_any(app, gql, resolvers_only, DASHBOARD, {"slug": "nowhere", "range": SPAN}, token)
    # The cases the resolvers phrase were all reached: refused viewers, anonymous, and refused ranges.
    assert {"FORBIDDEN", "UNAUTHENTICATED", "BAD_USER_INPUT"} <= seen_errors, seen_errors


async def test_one_statement_for_the_owner_and_for_refused_viewers(app, gql, world):  # noqa: F811
    for who in ("owner", "creator", "other_org_owner", "customer", "anonymous"):
        token = viewers(world)[who]
        await gql.raw(DASHBOARD, {"slug": "shop"}, token)  # the connection takes the viewer's scope
        async with statements(app) as seen:
            body = (await gql.raw(DASHBOARD, {"slug": "shop", "range": SPAN}, token)).json()
        compiled = [sql for sql in seen if "LEFT JOIN LATERAL" in sql]
        assert len(compiled) == 1 and "FROM analytics_totals" in compiled[0], (who, seen)
        if who == "owner":
            assert seen == compiled and "errors" not in body, (seen, body)
        else:  # the statement answered the row without its analytics; the resolvers then phrased the error
            assert body["data"]["organization"] is None or body["data"]["organization"]["analytics"] is None, body
            assert body["errors"][0]["path"] == ["organization", "analytics"], body


async def test_no_analytics_sql_runs_for_a_viewer_the_guard_refuses(app, gql, world, database_url):  # noqa: F811
    sent: dict[str, Any] = {}
    fast = fast_path(app)
    for who in ("owner", "creator", "other_org_owner", "customer", "anonymous"):
        queries: list[Any] = []
        fast.query_loggers.append(queries.append)
        try:
            await gql.raw(DASHBOARD, {"slug": "shop", "range": SPAN}, viewers(world)[who])
        finally:
            fast.query_loggers.remove(queries.append)
        [sent[who]] = [query for query in queries if "FROM analytics_totals" in query.query]
    conn = await asyncpg.connect(database_url)
    try:
        key = await register_scope_key(conn)
        shop = await conn.fetchval("select id from organization where slug = 'shop'")
        for who, query in sent.items():
            allowed = next(arg for arg in query.args if isinstance(arg, list))  # where the guard can hold
            assert (shop in allowed) is (who == "owner"), (who, allowed)
            user = world[{"other_org_owner": "other_owner"}.get(who, who)].user_id if who != "anonymous" else None
            await set_connection_scope(conn, key, TenantScope(user, shop if who == "owner" else None))
            plan = [row[0] for row in await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + query.query,
                                                        *query.args)]
            scans = [line for line in plan if any(f" on {table}" in line for table in ANALYTICS_TABLES)]
            assert scans, plan
            if who == "owner":
                assert any("never executed" not in line for line in scans), plan
            else:
                assert all("never executed" in line for line in scans), (who, plan)
    finally:
        await conn.close()


async def test_today_is_the_organizations_own(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    """At any hour one of these zones is on another day than UTC: the default range (the last 30 days to
    today) and this month follow the zone as the resolvers do."""
    document = """query($slug: String!, $range: DateRange) { organization(slug: $slug) { analytics(range: $range) {
      fromDay toDay revenueThisMonthCents totalRevenueCents revenueByDay { day revenueCents } } } }"""
    owner = world["owner"].token
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"):
        await admin_db.execute("update organization set timezone = $1 where slug = 'shop'", zone)
        today = local_today(zone)
        for span in (None, SPAN):
            variables = {"slug": "shop", **({"range": span} if span else {})}
            body = await compare_any(app, gql, resolvers_only, document, variables, owner)
            assert body["data"]["organization"]["analytics"]["toDay"] == (SPAN["to"] if span else today.isoformat())
            async with statements(app) as seen:
                assert await gql.ok(document, variables, owner) == body["data"]
            assert len(seen) == 1, seen


async def test_two_analytics_in_one_statement_and_next_to_a_connection(app, gql, resolvers_only, world):  # noqa: F811
    aliases = """query($slug: String!, $a: DateRange, $b: DateRange) { organization(slug: $slug) { name
      a: analytics(range: $a) { fromDay totalRevenueCents topContent(limit: 2) { revenueCents } }
      b: analytics(range: $b) { toDay purchaseCount recentPurchases(limit: 3) { amountCents } } } }"""
    beside = """query($slug: String!, $range: DateRange) { organization(slug: $slug) {
      contents(first: 2) { totalCount nodes { title } } analytics(range: $range) { totalRevenueCents toDay } } }"""
    for document in (aliases, beside):
        assert fast_path(app).plan(document, None) is not None
    owner = world["owner"].token
    await gql.raw(beside, {"slug": "shop"}, owner)
    async with statements(app) as seen:
        body = await compare_any(app, gql, resolvers_only, aliases,
                                 {"slug": "shop", "a": SPAN, "b": {"from": "2026-06-01", "to": "2026-06-02"}}, owner)
    figures = body["data"]["organization"]
    assert len(seen) == 1 and figures["a"]["fromDay"] == SPAN["from"] and figures["b"]["toDay"] == "2026-06-02", seen
    async with statements(app) as seen:
        body = await compare_any(app, gql, resolvers_only, beside, {"slug": "shop", "range": SPAN}, owner)
    # The connection's rows repeat the organization's: the analytics follow over its id, in one more statement.
    assert len(seen) == 2 and "WHERE o.id = $" in seen[1] and body["data"]["organization"]["analytics"], seen
    for token in viewers(world).values():
        for document, variables in ((aliases, {"slug": "shop", "a": SPAN, "b": {"from": "2026-06-02", "to": "2026-06-01"}}),
                                    (beside, {"slug": "shop", "range": SPAN}), (beside, {"slug": "shop"})):
            await compare_any(app, gql, resolvers_only, document, variables, token)


async def test_a_range_the_resolvers_refuse_runs_no_compiled_statement(app, gql, world):  # noqa: F811
    owner = world["owner"].token
    await gql.ok(DASHBOARD, {"slug": "shop"}, owner)
    for span in ({"from": "2026-06-10", "to": "2026-06-01"}, {"from": "2024-03-11", "to": LONGEST["to"]}):
        async with statements(app) as seen:
            body = (await gql.raw(DASHBOARD, {"slug": "shop", "range": span}, owner)).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert not [sql for sql in seen if "LEFT JOIN LATERAL" in sql], seen  # the resolvers answered the root
