"""Offerings (issue 19, item 1): createOffering as a DRAFT with typed validation errors and nothing created,
updateOffering, addOfferingSession's refusals, publishOffering only with a session to come,
``Organization.offerings`` (drafts for staff only, filters by type and dates), ``node(id:)`` hiding drafts from
customers, and the authorization matrix of create, update and publish (refusals change nothing)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.offerings.support import (
    ADD_SESSION,
    CREATE,
    LIST,
    NODE,
    OMIT,
    PUBLISH,
    UPDATE,
    add_session,
    codes,
    create_offering,
    iso,
    oid,
    publish,
    soon,
)
from tests.support import Actors, assert_authz_matrix, make_actors
from tests.support.reviews import without


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory, with_role=OrgRole.CREATOR)


async def offering_rows(admin_db: Any) -> list[Any]:
    return await admin_db.fetch("select id, status, title, capacity, time_zone, currency, updated_at, published_at "
                                "from offering order by id")


async def category(admin_db: Any, organization_id: uuid.UUID, name: str) -> str:
    category_id = uuid.uuid4()
    await admin_db.execute("insert into category (id, organization_id, name, slug) values ($1, $2, $3, $3)",
                           category_id, organization_id, name)
    return to_global_id("Category", category_id)


async def test_create_validates_every_field_and_creates_nothing_when_refused(gql: Any, admin_db: Any,
                                                                             actors: Actors) -> None:
    token = actors.staff_with.token
    mine = await category(admin_db, actors.org, "yoga")
    foreign = await category(admin_db, actors.other_org, "foreign")
    base = {"type": "EVENT", "title": "Workshop", "capacity": 10}
    refused = [
        ({"title": "  "}, "INVALID_INPUT", "title"),
        ({"capacity": 0}, "INVALID_INPUT", "capacity"),
        ({"capacity": None}, "INVALID_INPUT", "capacity"),
        ({"timeZone": "Mars/Olympus"}, "INVALID_INPUT", "timeZone"),
        ({"currency": "EURO"}, "INVALID_INPUT", "currency"),
        ({"priceCents": -1}, "INVALID_INPUT", "priceCents"),
        ({"creditPrice": 0}, "INVALID_INPUT", "creditPrice"),
        ({"categoryIds": [to_global_id("Category", uuid.uuid4())]}, "NOT_FOUND", "categoryIds"),
        ({"categoryIds": [mine, foreign]}, "NOT_FOUND", "categoryIds"),
    ]
    for change, code, field in refused:
        payload = (await gql(CREATE, {"input": {**base, **change}}, token))["data"]["createOffering"]
        assert payload["offering"] is None, (change, payload)
        assert codes(payload) == [code], (change, payload)
        assert field in payload["errors"][0]["field"], (change, payload)
    assert await offering_rows(admin_db) == []
    assert await admin_db.fetchval("select count(*) from offering_category") == 0

    created = await create_offering(gql, token, categoryIds=[mine], currency="usd", location="Hall 1", online=True)
    assert created["status"] == "DRAFT" and created["publishedAt"] is None
    assert (created["title"], created["capacity"], created["currency"], created["timeZone"]) == (
        "Live workshop", 10, "USD", "Europe/Berlin")
    assert created["categoryIds"] == [mine] and created["sessions"] == []
    [row] = await offering_rows(admin_db)
    assert row["status"] == "DRAFT" and row["id"] == oid(created["id"])


async def test_update_add_sessions_and_publish(gql: Any, admin_db: Any, actors: Actors) -> None:
    token = actors.staff_with.token
    offering = await create_offering(gql, token, title="Draft title")
    ident = offering["id"]

    updated = (await gql.ok(UPDATE, {"input": {"offeringId": ident, "title": "Pottery night", "capacity": 12,
                                               "cancellationHours": 48, "location": None}}, token))["updateOffering"]
    assert updated["offering"]["title"] == "Pottery night" and updated["offering"]["capacity"] == 12
    assert updated["offering"]["cancellationHours"] == 48 and updated["offering"]["location"] is None
    assert updated["offering"]["creditPrice"] == 3  # left out: unchanged
    before = await offering_rows(admin_db)
    bad = (await gql(UPDATE, {"input": {"offeringId": ident, "title": "New", "timeZone": "Mars/Olympus"}},
                     token))["data"]["updateOffering"]
    assert codes(bad) == ["INVALID_INPUT"] and bad["offering"] is None
    assert await offering_rows(admin_db) == before  # the valid title of a refused update is not kept either

    # Publishing needs a session still to come.
    refused = (await gql(PUBLISH, {"input": {"offeringId": ident}}, token))["data"]["publishOffering"]
    assert codes(refused) == ["INVALID_STATE"] and refused["offering"] is None

    start = soon(5)
    session_errors = [
        ({"startsAt": iso(start), "endsAt": iso(start - timedelta(hours=1))}, "INVALID_INPUT", "endsAt"),
        ({"startsAt": iso(start), "endsAt": iso(start)}, "INVALID_INPUT", "endsAt"),
        ({"startsAt": iso(soon(-1)), "endsAt": iso(soon(-1, hours=2))}, "INVALID_INPUT", "startsAt"),
        ({"startsAt": iso(start), "endsAt": iso(start + timedelta(hours=2)), "capacity": 0}, "INVALID_INPUT",
         "capacity"),
    ]
    for values, code, field in session_errors:
        payload = (await gql(ADD_SESSION, {"input": {"offeringId": ident, **values}}, token))["data"][
            "addOfferingSession"]
        assert codes(payload) == [code] and field in payload["errors"][0]["field"], (values, payload)
    assert await admin_db.fetchval("select count(*) from offering_session") == 0

    first = await add_session(gql, token, ident, start)
    assert first["capacity"] == 12 and first["seatsTaken"] == 0  # the offering's capacity by default
    again = (await gql(ADD_SESSION, {"input": {"offeringId": ident, "startsAt": iso(start),
                                               "endsAt": iso(start + timedelta(hours=3))}}, token))["data"]
    assert codes(again["addOfferingSession"]) == ["ALREADY_EXISTS"]
    small = await add_session(gql, token, ident, soon(6), capacity=4)
    assert small["capacity"] == 4
    assert await admin_db.fetchval("select count(*) from offering_session") == 2

    published = await publish(gql, token, ident)
    assert published["status"] == "PUBLISHED" and published["publishedAt"] is not None
    assert (await publish(gql, token, ident))["publishedAt"] == published["publishedAt"]  # again: no change

    service = await create_offering(gql, token, type="SERVICE", capacity=OMIT, title="Coaching")
    assert service["capacity"] == 1
    payload = (await gql(ADD_SESSION, {"input": {"offeringId": service["id"], "startsAt": iso(start),
                                                 "endsAt": iso(start + timedelta(hours=1))}}, token))["data"]
    assert codes(payload["addOfferingSession"]) == ["INVALID_STATE"]
    payload = (await gql(PUBLISH, {"input": {"offeringId": service["id"]}}, token))["data"]["publishOffering"]
    assert codes(payload) == ["INVALID_STATE"]  # no availability yet


async def test_listing_and_node_hide_drafts_from_customers(gql: Any, actors: Actors) -> None:
    token = actors.staff_with.token
    draft = await create_offering(gql, token, title="Draft event")
    early = await create_offering(gql, token, title="Early event")
    await add_session(gql, token, early["id"], soon(2))
    await publish(gql, token, early["id"])
    late = await create_offering(gql, token, title="Late program", type="PROGRAM")
    await add_session(gql, token, late["id"], soon(20))
    await add_session(gql, token, late["id"], soon(21))
    await publish(gql, token, late["id"])

    def titles(data: dict[str, Any]) -> list[str]:
        return [n["title"] for n in data["organization"]["offerings"]["nodes"]]

    async def listing(viewer: str | None, **filter_: Any) -> list[str]:
        data = await gql.ok(LIST, {"slug": actors.org_slug, "filter": filter_ or None}, viewer)
        assert data["organization"]["offerings"]["totalCount"] == len(titles(data))
        return titles(data)

    assert await listing(token) == ["Late program", "Early event", "Draft event"]
    assert await listing(actors.staff_without.token) == ["Late program", "Early event", "Draft event"]
    for viewer in (None, actors.customer.token, actors.other_staff.token):
        assert await listing(viewer) == ["Late program", "Early event"]
    assert await listing(actors.customer.token, type="PROGRAM") == ["Late program"]
    assert await listing(actors.customer.token, type="COHORT") == []
    assert await listing(actors.customer.token, to=iso(soon(10))) == ["Early event"]
    assert await listing(actors.customer.token, **{"from": iso(soon(10))}) == ["Late program"]
    assert await listing(actors.customer.token, **{"from": iso(soon(1)), "to": iso(soon(30))}) == [
        "Late program", "Early event"]
    assert await listing(token, **{"from": iso(soon(40))}) == []

    for viewer in (None, actors.customer.token, actors.other_staff.token):
        assert (await gql.ok(NODE, {"id": draft["id"]}, viewer))["node"] is None
        assert (await gql.ok(NODE, {"id": early["id"]}, viewer))["node"] == {
            "id": early["id"], "title": "Early event", "status": "PUBLISHED"}
    assert (await gql.ok(NODE, {"id": draft["id"]}, token))["node"]["status"] == "DRAFT"


async def test_authorization_matrix_of_create_update_and_publish(gql: Any, admin_db: Any, factory: Any,
                                                                 actors: Actors) -> None:
    async def snapshot() -> Any:
        return await offering_rows(admin_db), await admin_db.fetch("select id, offering_id from offering_session")

    # Staff of another organization hold the permissions in their own (active) organization: their
    # createOffering lands there, and naming this organization's offering is NOT_FOUND (checked below).
    matrix = without(actors, "other_org_staff")
    create_input = {"input": {"type": "EVENT", "title": "Matrix", "capacity": 5}}
    results = await assert_authz_matrix(gql, matrix, CREATE, create_input, path=["createOffering"],
                                        allowed={"staff_with_permission"}, snapshot=snapshot)
    created = results["staff_with_permission"]["data"]["createOffering"]["offering"]
    assert created["status"] == "DRAFT"
    [row] = await admin_db.fetch("select organization_id, created_by from offering")
    assert (row["organization_id"], row["created_by"]) == (actors.org, actors.staff_with.user_id)

    ident = created["id"]
    await assert_authz_matrix(gql, matrix, UPDATE, {"input": {"offeringId": ident, "title": "Renamed"}},
                              path=["updateOffering"], allowed={"staff_with_permission"}, snapshot=snapshot)
    assert await admin_db.fetchval("select title from offering") == "Renamed"

    await add_session(gql, actors.staff_with.token, ident, soon(4))
    before = await snapshot()
    other = actors.other_staff.token
    for query, variables, name in ((UPDATE, {"input": {"offeringId": ident, "title": "Theirs"}}, "updateOffering"),
                                   (PUBLISH, {"input": {"offeringId": ident}}, "publishOffering"),
                                   (ADD_SESSION, {"input": {"offeringId": ident, "startsAt": iso(soon(9)),
                                                            "endsAt": iso(soon(9, hours=1))}}, "addOfferingSession")):
        payload = (await gql(query, variables, other))["data"][name]
        assert codes(payload) == ["NOT_FOUND"], (name, payload)
    assert await snapshot() == before
    await assert_authz_matrix(gql, matrix, PUBLISH, {"input": {"offeringId": ident}}, path=["publishOffering"],
                              allowed={"staff_with_permission"}, snapshot=snapshot)
    assert await admin_db.fetchval("select status from offering") == "PUBLISHED"
    theirs = (await gql.ok(CREATE, create_input, other))["createOffering"]["offering"]
    assert await admin_db.fetchval("select organization_id from offering where id = $1",
                                   oid(theirs["id"])) == actors.other_org

    # Another creator of the organization holds CONTENT_MANAGE but manages only their own offerings.
    colleague = await factory.user()
    await factory.member(actors.org, colleague, OrgRole.CREATOR)
    payload = (await gql(UPDATE, {"input": {"offeringId": ident, "title": "Hijack"}}, colleague.token))["data"]
    assert codes(payload["updateOffering"]) == ["NOT_ALLOWED"]
    assert await admin_db.fetchval("select title from offering where id = $1", oid(ident)) == "Renamed"
