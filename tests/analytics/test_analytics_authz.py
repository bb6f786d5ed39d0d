"""Who may read analytics, customers and Content.stats (authorization matrices); views recorded when
playback URLs are issued (deduplicated per viewer, item and hour) under row-level security; and the
statement count of Content.stats in a list (the same for 5 items as for 40)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.authz import OrgRole
from codex_graphql.db import TenantScope, utcnow
from tests.support import assert_authz_matrix, make_actors, statements
from tests.support import commerce as commerce_support
from tests.support.analytics import add_purchase, raw_id
from tests.support.commerce import insert_content

shop = commerce_support.shop

ANALYTICS = """query($s: String!) { organization(slug: $s) { analytics(range: {from: "2026-01-01", to: "2026-01-31"}) {
  totalRevenueCents customerCount recentPurchases { id } } } }"""
CUSTOMERS = """query($s: String!) { organization(slug: $s) { customers(first: 5) { totalCount
  nodes { email totalSpentCents } } } }"""
STATS = "query($id: ID!) { content(id: $id) { title stats { purchases revenueCents refunds views uniqueViewers } } }"
PLAY = "query($id: ID!) { content(id: $id) { playback { url } } }"
LIST_STATS = """query($s: String!, $n: Int!) { organization(slug: $s) { contents(first: $n) {
  nodes { id stats { purchases revenueCents refunds views uniqueViewers } } } } }"""


@pytest.mark.parametrize("with_role", [OrgRole.OWNER, OrgRole.ADMIN])
async def test_analytics_customers_and_stats_matrices(factory, db, gql, with_role):
    actors = await make_actors(factory, with_role=with_role, without_role=OrgRole.MEMBER)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Film", 1999)
    await add_purchase(db, actors.org, actors.customer.user_id, raw_id(item), actors.staff_with.user_id,
                       at=utcnow(), amount=1999)
    results = await assert_authz_matrix(gql, actors, ANALYTICS, {"s": actors.org_slug},
                                        path=["organization", "analytics"], allowed={"staff_with_permission"})
    assert results["staff_with_permission"]["data"]["organization"]["analytics"]["customerCount"] == 1
    results = await assert_authz_matrix(gql, actors, CUSTOMERS, {"s": actors.org_slug},
                                        path=["organization", "customers"], allowed={"staff_with_permission"})
    assert results["staff_with_permission"]["data"]["organization"]["customers"]["nodes"] == [
        {"email": actors.customer.email, "totalSpentCents": 1999}]
    results = await assert_authz_matrix(gql, actors, STATS, {"id": item}, path=["content", "stats"],
                                        allowed={"staff_with_permission"})
    assert results["staff_with_permission"]["data"]["content"]["stats"]["revenueCents"] == 1999
    # Nothing leaked to the others: the published item itself stays visible, its stats do not.
    assert results["customer"]["data"]["content"] == {"title": "Film", "stats": None}


async def test_views_count_once_per_viewer_per_hour(shop, gql, admin_db, db):
    buyer = await shop.factory.user(name="Bea")
    await shop.buy(buyer)
    stats = lambda: shop.gql.ok(STATS, {"id": shop.paid}, shop.owner.token)  # noqa: E731
    assert (await stats())["content"]["stats"] == {"purchases": 1, "revenueCents": 1999, "refunds": 0, "views": 0,
                                                   "uniqueViewers": 0}
    for _ in range(3):
        assert (await shop.gql.ok(PLAY, {"id": shop.paid}, buyer.token))["content"]["playback"]["url"]
    assert (await stats())["content"]["stats"]["views"] == 1
    await shop.gql.ok(PLAY, {"id": shop.paid}, shop.owner.token)  # staff previews count too
    assert (await stats())["content"]["stats"] == {"purchases": 1, "revenueCents": 1999, "refunds": 0,
                                                        "views": 2, "uniqueViewers": 2}
    # A view in an earlier hour is another view by the same viewer.
    content_id = raw_id(shop.paid)
    await admin_db.execute("insert into content_view (content_id, user_id, hour, organization_id) values ($1, $2, $3, $4)",
                           content_id, buyer.user_id, (utcnow() - timedelta(hours=2)).replace(minute=0, second=0,
                                                                                               microsecond=0), shop.org)
    assert (await stats())["content"]["stats"] == {"purchases": 1, "revenueCents": 1999, "refunds": 0,
                                                        "views": 3, "uniqueViewers": 2}
    # No access, no URL, no view.
    stranger = await shop.factory.user(name="Stranger")
    body = await shop.gql(PLAY, {"id": shop.paid}, stranger.token)
    assert body["data"]["content"]["playback"] is None
    assert await admin_db.fetchval("select count(*) from content_view where user_id = $1", stranger.user_id) == 0

    # Row-level security: a viewer reads only their own views and writes only as themselves.
    async with db.transaction(TenantScope(user_id=buyer.user_id)) as session:
        seen = (await session.execute(text("select user_id from content_view"))).scalars().all()
    assert set(seen) == {buyer.user_id} and len(seen) == 2
    async with db.transaction(TenantScope(user_id=stranger.user_id)) as session:
        assert (await session.execute(text("select count(*) from content_view"))).scalar_one() == 0
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(TenantScope(user_id=stranger.user_id)) as session:
            await session.execute(text(
                "insert into content_view (content_id, user_id, hour, organization_id) values (:c, :u, now(), :o)"),
                {"c": content_id, "u": buyer.user_id, "o": shop.org})
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:  # staff scope reads all of them
        assert (await session.execute(text("select count(*) from content_view"))).scalar_one() == 3


async def test_stats_statement_count_does_not_grow_with_the_page(factory, db, admin_db, app, gql):
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="counted-stats")
    buyer = await factory.user(name="Buyer")
    ids = [uuid.uuid4() for _ in range(40)]
    now = utcnow()
    await admin_db.executemany(
        "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key, mime_type, "
        "original_filename, size_bytes, published_at, created_at) values ($1, $2, $3, 'VIDEO', 'PUBLISHED', 'T', 100, "
        "'k', 'video/mp4', 'a.mp4', 1, $4, $4)",
        [(content_id, org, owner.user_id, now - timedelta(minutes=n)) for n, content_id in enumerate(ids)])
    for content_id in ids[::3]:
        await add_purchase(db, org, buyer.user_id, content_id, owner.user_id, at=now, amount=100)
    await admin_db.executemany(
        "insert into content_view (content_id, user_id, hour, organization_id) values ($1, $2, date_trunc('hour', now()), $3)",
        [(content_id, buyer.user_id, org) for content_id in ids[::2]])
    await gql.ok(LIST_STATS, {"s": "counted-stats", "n": 1}, owner.token)  # warm the session cache
    counts = {}
    for n in (5, 40):
        async with statements(app) as seen:
            data = await gql.ok(LIST_STATS, {"s": "counted-stats", "n": n}, owner.token)
        nodes = data["organization"]["contents"]["nodes"]
        assert len(nodes) == n
        for index, node in enumerate(nodes):
            assert node["stats"] == {"purchases": int(index % 3 == 0), "revenueCents": 100 * (index % 3 == 0),
                                     "refunds": 0, "views": int(index % 2 == 0), "uniqueViewers": int(index % 2 == 0)}
        counts[n] = len(seen)
    assert counts[5] == counts[40], counts
