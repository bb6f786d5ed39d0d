"""``Offering.stats`` by every caller (issue 19, item 6): ANALYTICS_READ in the offering's organization sees the
figures; anonymous, a customer, staff of another organization and staff without the permission get an error and
nothing; and a page of offerings reads its figures in one statement, whatever the page's size."""

from __future__ import annotations

from typing import Any

from codex_graphql.authz import OrgRole
from tests.offerings.support import book, grant, published_event
from tests.support import assert_authz_matrix, make_actors, statements

STATS = """query($id: ID!) { node(id: $id) { ... on Offering { stats { confirmedBookings seatsTaken creditsEarned
  fillRate } } } }"""
PAGE = """query($slug: String!, $first: Int!) { organization(slug: $slug) { offerings(first: $first) {
  nodes { id stats { seatsTaken fillRate } } } } }"""


async def test_stats_by_every_caller(gql: Any, db: Any, admin_db: Any, factory: Any) -> None:
    # ADMIN holds ANALYTICS_READ; a CREATOR does not.
    actors = await make_actors(factory, with_role=OrgRole.ADMIN, without_role=OrgRole.CREATOR)
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=4, creditPrice=2)
    await grant(db, actors.org, actors.customer.user_id, 5)
    assert (await book(gql, actors.customer.token, offering["id"], session["id"]))["errors"] == []

    async def snapshot() -> Any:
        return await admin_db.fetch("select id, status, credits_spent from booking order by id")

    results = await assert_authz_matrix(gql, actors, STATS, {"id": offering["id"]}, path=["node", "stats"],
                                        allowed={"staff_with_permission"}, snapshot=snapshot)
    assert results["staff_with_permission"]["data"]["node"]["stats"] == {
        "confirmedBookings": 1, "seatsTaken": 1, "creditsEarned": 2, "fillRate": 0.25}


async def test_a_page_of_offerings_reads_its_figures_in_one_statement(app: Any, gql: Any, factory: Any) -> None:
    owner = await factory.user()
    await factory.organization(owner, slug="figures")
    for n in range(6):
        await published_event(gql, owner.token, capacity=3, title=f"Workshop {n}")
    counts = []
    for first in (2, 6):
        async with statements(app) as seen:
            data = await gql.ok(PAGE, {"slug": "figures", "first": first}, owner.token)
        assert len(data["organization"]["offerings"]["nodes"]) == first
        assert all(n["stats"] == {"seatsTaken": 0, "fillRate": 0.0} for n in data["organization"]["offerings"]["nodes"])
        counts.append(len([s for s in seen if "content_sales_summary" in s]))
    assert counts == [1, 1]
