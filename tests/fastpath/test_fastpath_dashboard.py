"""The compiled dashboard (``Organization.analytics``, analytics/compiled.py): one statement per request
whatever the list sizes, limits written into the statement so PostgreSQL keeps a generic plan instead of
planning every execution again, and ``revenueByDay`` built by PostgreSQL under the document's own keys,
equal to normal execution."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from codex_graphql.db import TenantScope, register_scope_key, set_connection_scope
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    OPERATIONS,
    compare_any,
    fast_path,
    resolvers_only,
    viewers,
    world,
)
from tests.support import statements

DASHBOARD = (OPERATIONS / "admin_dashboard.graphql").read_text()
HOME = (OPERATIONS / "varied" / "dashboard_home.graphql").read_text()
SPAN = {"from": "2026-05-25", "to": "2026-06-10"}
LIMITS = """query($slug: String!, $range: DateRange, $top: Int!, $recent: Int!) { organization(slug: $slug) {
  analytics(range: $range) { customerCount topContent(limit: $top) { revenueCents content { title } }
    recentPurchases(limit: $recent) { id amountCents } } } }"""
# Aliases inside revenueByDay (keys PostgreSQL writes), two of them, and parts of the statement left out.
SHAPES = [
    """query($slug: String!, $range: DateRange) { organization(slug: $slug) { analytics(range: $range) {
      a: revenueByDay { d: day r: revenueCents } b: revenueByDay { purchases __typename refunds }
      n: purchaseCount purchaseCount } } }""",
    """query($slug: String!) { organization(slug: $slug) { analytics { revenueThisMonthCents fromDay } } }""",
    """query($slug: String!) { organization(slug: $slug) { analytics { toDay __typename } } }""",
    """query($slug: String!, $range: DateRange) { organization(slug: $slug) { analytics(range: $range) {
      refundCount customerCount recentPurchases(limit: 3) { createdAt } } } }""",
]


async def test_the_dashboard_costs_one_statement_whatever_the_list_sizes(app, gql, world):  # noqa: F811
    owner = world["owner"].token
    await gql.ok(DASHBOARD, {"slug": "shop"}, owner)  # the compiled path's connection takes the owner's scope
    for document, variables in ((DASHBOARD, {"slug": "shop", "range": SPAN}), (HOME, {"slug": "shop", "range": SPAN}),
                                (LIMITS, {"slug": "shop", "top": 1, "recent": 1}),
                                (LIMITS, {"slug": "shop", "top": 50, "recent": 50})):
        async with statements(app) as seen:
            await gql.ok(document, variables, owner)
        # The organization's row with every figure, best seller and latest purchase, in one statement.
        assert len(seen) == 1, seen
        assert "FROM organization o" in seen[0] and "FROM analytics_totals" in seen[0]


async def test_limits_are_literals_and_postgresql_keeps_a_generic_plan(app, gql, world, database_url):  # noqa: F811
    owner = world["owner"].token
    await gql.ok(DASHBOARD, {"slug": "shop"}, owner)
    sent: list[Any] = []
    fast = fast_path(app)
    fast.query_loggers.append(sent.append)
    try:
        await gql.ok(LIMITS, {"slug": "shop", "top": 3, "recent": 2}, owner)
        await gql.ok(DASHBOARD, {"slug": "shop", "range": SPAN}, owner)
    finally:
        fast.query_loggers.remove(sent.append)
    analytics = [query for query in sent if "FROM analytics_totals" in query.query]
    assert len(analytics) == 2
    assert [re.findall(r"LIMIT (\S+)\)", query.query) for query in analytics] == [["3", "2"], ["5", "10"]]
    # With `LIMIT $n` the generic plan was costed for 10% of the rows and never chosen: every execution was
    # planned again. Now the plan cache settles on the generic plan after PostgreSQL's five custom ones.
    conn = await asyncpg.connect(database_url)
    try:
        key = await register_scope_key(conn)
        organization = await conn.fetchval("select id from organization where slug = 'shop'")
        await set_connection_scope(conn, key, TenantScope(world["owner"].user_id, organization))
        query = analytics[1]
        prepared = await conn.prepare(query.query)
        answers = [await prepared.fetchrow(*query.args) for _ in range(8)]
        assert all(answer == answers[0] for answer in answers)
        plans = await conn.fetchrow("select generic_plans, custom_plans from pg_prepared_statements "
                                    "where statement = $1", query.query)
        assert plans["generic_plans"] >= 2, dict(plans)
    finally:
        await conn.close()


async def test_dashboard_shapes_match_the_resolvers(app, gql, resolvers_only, world):  # noqa: F811
    for document in SHAPES:
        assert fast_path(app).plan(document, None) is not None, document
    for token in viewers(world).values():
        for document in SHAPES:
            for span in (None, SPAN, {"from": "2026-06-01", "to": "2026-06-01"}):
                variables: dict[str, Any] = {"slug": "shop", **({"range": span} if span else {})}
                if "$range" not in document:
                    variables.pop("range", None)
                await compare_any(app, gql, resolvers_only, document, variables, token)
    owner = (await gql.ok(SHAPES[0], {"slug": "shop", "range": SPAN}, world["owner"].token))["organization"]["analytics"]
    assert len(owner["a"]) == 17 and set(owner["a"][0]) == {"d", "r"} and owner["a"][0]["d"] == "2026-05-25"
    assert list(owner["b"][0]) == ["purchases", "__typename", "refunds"] and owner["b"][0]["__typename"] == "RevenueDay"
    assert sum(day["purchases"] for day in owner["b"]) == owner["n"] == owner["purchaseCount"] == 8


# Selections that leave parts of the statement out (no range, no month, no figure at all), and lists whose
# records carry a jsonb column (content.thumbnails: read as text inside the records, parsed back).
PARTIAL = [
    "analytics { fromDay toDay __typename }",
    "analytics { fromDay }",
    "analytics { toDay }",
    "analytics { revenueThisMonthCents }",
    "analytics { customerCount __typename }",
    "analytics(range: $range) { toDay revenueThisMonthCents }",
    "analytics { recentPurchases { id content { thumbnailUrl thumbnails { url width } } } }",
    "analytics(range: $range) { topContent(limit: 20) { content { title thumbnailUrl thumbnails { width } } } fromDay }",
]


@pytest.mark.parametrize("selection", PARTIAL)
async def test_partial_selections_bind_exactly_their_parameters_and_match_the_resolvers(
        app, gql, resolvers_only, world, caplog, selection):  # noqa: F811
    document = ("query($slug: String!, $range: DateRange) { organization(slug: $slug) { " + selection + " } }"
                if "$range" in selection else "query($slug: String!) { organization(slug: $slug) { " + selection + " } }")
    assert fast_path(app).plan(document, None) is not None
    owner = world["owner"].token
    sent: list[Any] = []
    fast = fast_path(app)
    fast.query_loggers.append(sent.append)
    try:
        for span in ((None, SPAN) if "$range" in document else (None,)):
            variables: dict[str, Any] = {"slug": "shop", **({"range": span} if span else {})}
            body = await compare_any(app, gql, resolvers_only, document, variables, owner)
            assert "errors" not in body and body["data"]["organization"]["analytics"], body
    finally:
        fast.query_loggers.remove(sent.append)
    # Answered by the compiled statement (not the resolvers after a failure), sent as many values as it declares.
    assert not [r.getMessage() for r in caplog.get_records("call") if r.levelname == "ERROR"]
    analytics = [query for query in sent if "WITH viewer AS" in query.query]
    assert analytics, sent
    for query in analytics:
        assert len(query.args) == len(set(re.findall(r"\$(\d+)", query.query))), query.query
    if "thumbnails" in selection:
        items = body["data"]["organization"]["analytics"]
        contents = [row["content"] for row in items.get("recentPurchases") or items["topContent"]]
        assert any(content["thumbnails"] for content in contents), contents
