"""Organization.customers: values recomputed from the purchase rows, stable cursor pagination for every
order and direction (ties broken by user id), filters, a customer's purchases and owned content (grants
included), bad cursors, and a statement count independent of the page size."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from codex_graphql.relay import to_global_id
from tests.support import statements
from tests.support.analytics import add_purchase, expected_customers, purchase_rows, raw_id, refund
from tests.support.commerce import insert_content

PAGE = """query($s: String!, $first: Int, $after: String, $order: CustomerOrder, $filter: CustomerFilter) {
  organization(slug: $s) { customers(first: $first, after: $after, orderBy: $order, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id email name joinedAt purchaseCount totalSpentCents lastPurchaseAt } } } } }"""
DETAIL = """query($s: String!, $f: CustomerFilter, $pf: Int, $pa: String) { organization(slug: $s) {
  customers(first: 10, filter: $f) { nodes { email purchases(first: $pf, after: $pa) { totalCount
    pageInfo { hasNextPage endCursor } nodes { id kind status amountCents } } ownedContent { title } } } } }"""
GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) { errors { code } } }"""


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=UTC)


@pytest.fixture
async def crm(factory, db, admin_db, gql) -> dict[str, Any]:
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="crm")
    film = await insert_content(db, org, owner.user_id, "Film", 1000)
    course = await insert_content(db, org, owner.user_id, "Course", 1500)
    people = {}
    for name in ("ann", "ben", "cy", "dee", "eve"):
        people[name] = await factory.user(email=f"{name}@example.com", name=name.title() + " Doe")
    # Two people joined at the same instant: JOINED_AT ties are broken by user id.
    await admin_db.execute("update user_account set created_at = '2025-06-01T00:00:00Z' where id = any($1::uuid[])",
                           [people["ben"].user_id, people["cy"].user_id])
    f, c, o = raw_id(film), raw_id(course), owner.user_id
    ann1 = await add_purchase(db, org, people["ann"].user_id, f, o, at=at(1), amount=1100, tax=100)
    await add_purchase(db, org, people["ann"].user_id, c, o, at=at(3), amount=500)
    await add_purchase(db, org, people["ben"].user_id, c, o, at=at(2), amount=1500)  # ties ann on total spent
    dee = await add_purchase(db, org, people["dee"].user_id, f, o, at=at(4), amount=2000)
    await refund(db, org, dee, at(5))  # dee's total is 0, like cy's grant and eve's free claim
    await add_purchase(db, org, people["eve"].user_id, c, o, at=at(6), kind="FREE")
    await admin_db.execute(
        "insert into content_entitlement (id, organization_id, user_id, content_id, source, source_id) "
        "values ($1, $2, $3, $4, 'PURCHASE', $5)", uuid.uuid4(), org, people["ann"].user_id, f, ann1)
    # A grant through the app appears among customers.
    await gql.ok(GRANT, {"i": {"contentId": film, "userId": people["cy"].global_id}}, owner.token)
    # Another organization's buyer and sales stay out.
    rival = await factory.user(name="Rival")
    rival_org = await factory.organization(rival, slug="crm-rival")
    rival_item = raw_id(await insert_content(db, rival_org, rival.user_id, "Rival", 999))
    await add_purchase(db, rival_org, people["ann"].user_id, rival_item, rival.user_id, at=at(7), amount=999)
    return {"owner": owner, "org": org, "people": people, "film": film, "course": course}


async def expected(admin_db: Any, crm: dict[str, Any]) -> list[dict[str, Any]]:
    rows = await purchase_rows(admin_db, crm["org"])
    sums = expected_customers(rows)
    users = {r["id"]: r for r in await admin_db.fetch("select id, email, created_at from user_account")}
    return [{"user_id": u, "email": users[u]["email"], "joined": users[u]["created_at"], **v} for u, v in sums.items()]


KEYS = {"LAST_PURCHASE_AT": "last", "TOTAL_SPENT": "spent", "JOINED_AT": "joined", "EMAIL": "email"}


async def test_every_order_paginates_stably_and_the_numbers_match(crm, gql, admin_db):
    customers = await expected(admin_db, crm)
    assert len(customers) == 5
    token = crm["owner"].token
    for field, key in KEYS.items():
        for direction in ("ASC", "DESC"):
            want = sorted(customers, key=lambda c: (c[key], c["user_id"]), reverse=direction == "DESC")
            seen, after = [], None
            while True:
                data = (await gql.ok(PAGE, {"s": "crm", "first": 2, "after": after,
                                            "order": {"field": field, "direction": direction}}, token))
                connection = data["organization"]["customers"]
                assert connection["totalCount"] == 5
                seen += [e["node"] for e in connection["edges"]]
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                after = connection["pageInfo"]["endCursor"]
            assert [n["id"] for n in seen] == [to_global_id("User", c["user_id"]) for c in want], (field, direction)
            for node, c in zip(seen, want, strict=True):
                assert node["email"] == c["email"] and node["purchaseCount"] == c["count"]
                assert node["totalSpentCents"] == c["spent"]
                assert datetime.fromisoformat(node["lastPurchaseAt"]) == c["last"]
                assert datetime.fromisoformat(node["joinedAt"]) == c["joined"]
    by_email = {c["email"]: c for c in customers}
    assert by_email["ann@example.com"]["spent"] == 1000 + 500  # net of tax
    assert by_email["dee@example.com"]["spent"] == 0 and by_email["dee@example.com"]["count"] == 1
    # Default order: latest purchase first (cy's grant is the newest).
    data = await gql.ok(PAGE, {"s": "crm", "first": 10}, token)
    assert data["organization"]["customers"]["edges"][0]["node"]["email"] == "cy@example.com"


async def test_filters(crm, gql):
    token = crm["owner"].token

    async def emails(filter: dict[str, Any]) -> list[str]:
        data = await gql.ok(PAGE, {"s": "crm", "first": 10, "filter": filter, "order": {"field": "EMAIL", "direction": "ASC"}},
                            token)
        connection = data["organization"]["customers"]
        assert connection["totalCount"] == len(connection["edges"])
        return [e["node"]["email"] for e in connection["edges"]]

    assert await emails({"search": "ANN"}) == ["ann@example.com"]
    assert await emails({"search": "doe"}) == [f"{n}@example.com" for n in ("ann", "ben", "cy", "dee", "eve")]
    assert await emails({"search": "%"}) == []  # wildcards are literal
    assert await emails({"purchasedContentId": crm["film"]}) == ["ann@example.com", "cy@example.com", "dee@example.com"]
    assert await emails({"purchasedContentId": crm["course"], "search": "b"}) == ["ben@example.com"]
    assert await emails({"purchasedContentId": to_global_id("User", uuid.uuid4())}) == []


async def test_customer_purchases_and_owned_content(crm, gql):
    token = crm["owner"].token
    data = await gql.ok(DETAIL, {"s": "crm", "f": {"search": "ann@"}, "pf": 1}, token)
    ann = data["organization"]["customers"]["nodes"][0]
    assert ann["ownedContent"] == [{"title": "Film"}]
    page = ann["purchases"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
    assert [p["amountCents"] for p in page["nodes"]] == [500]
    data = await gql.ok(DETAIL, {"s": "crm", "f": {"search": "ann@"}, "pf": 1, "pa": page["pageInfo"]["endCursor"]}, token)
    rest = data["organization"]["customers"]["nodes"][0]["purchases"]
    assert [p["amountCents"] for p in rest["nodes"]] == [1100] and not rest["pageInfo"]["hasNextPage"]
    data = await gql.ok(DETAIL, {"s": "crm", "f": {"search": "cy@"}, "pf": 5}, token)
    cy = data["organization"]["customers"]["nodes"][0]
    assert [(p["kind"], p["status"], p["amountCents"]) for p in cy["purchases"]["nodes"]] == [("GRANT", "COMPLETED", 0)]
    assert cy["ownedContent"] == [{"title": "Film"}]
    data = await gql.ok(DETAIL, {"s": "crm", "f": {"search": "dee@"}, "pf": 5}, token)
    dee = data["organization"]["customers"]["nodes"][0]
    assert dee["ownedContent"] == [] and dee["purchases"]["nodes"][0]["status"] == "REFUNDED"


async def test_bad_cursors_are_refused(crm, gql):
    token = crm["owner"].token
    data = await gql.ok(PAGE, {"s": "crm", "first": 1, "order": {"field": "EMAIL", "direction": "ASC"}}, token)
    email_cursor = data["organization"]["customers"]["pageInfo"]["endCursor"]
    for after, order in (("garbage", None), (email_cursor, {"field": "TOTAL_SPENT", "direction": "ASC"})):
        body = await gql(PAGE, {"s": "crm", "first": 1, "after": after, "order": order}, token)
        assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


async def test_statement_count_does_not_grow_with_the_page(crm, gql, app):
    token = crm["owner"].token
    await gql.ok(DETAIL, {"s": "crm", "pf": 3}, token)  # warm the session cache
    counts = {}
    for first in (1, 5):
        query = DETAIL.replace("customers(first: 10", f"customers(first: {first}")
        async with statements(app) as seen:
            data = await gql.ok(query, {"s": "crm", "pf": 3}, token)
        assert len(data["organization"]["customers"]["nodes"]) == first
        counts[first] = len(seen)
    assert counts[1] == counts[5], counts
