"""Explicit organization choice: the X-Codex-Organization header per HTTP request and the
``organization`` key of connection_init per WebSocket. Naming an organization the caller is not a
member of is FORBIDDEN (4403 on a WebSocket), never a fallback to another organization."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import websockets

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support.commerce import insert_content
from tests.support.live_server import live_server

VIEWER = "{ viewer { activeOrganization { slug } } }"
STOREFRONT = "query($s: String!) { organization(slug: $s) { name contents(first: 5) { totalCount } } }"
CREATE = """mutation { createContent(input: {title: "Header test", kind: AUDIO, priceCents: 100, filename: "t.mp3",
  mimeType: "audio/mpeg", sizeBytes: 12345}) { errors { code } content { id } } }"""
GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code } purchase { id } } }"""
SUBSCRIBE = """subscription($org: ID!) { purchaseEvents(organizationId: $org) { type purchase { contentTitle } } }"""


def header(value: str) -> dict[str, str]:
    return {"x-codex-organization": value}


def assert_forbidden(body: dict[str, Any]) -> None:
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN", body
    assert "not a member" in error["message"]


@pytest.fixture
async def orgs(factory):
    """An owner of two organizations ("first" active by default), a stranger's organization, a customer."""
    owner = await factory.user()
    first, second, foreign = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("first", "second", "foreign"))
    first_id = await factory.organization(owner, slug=first)
    second_id = await factory.organization(owner, slug=second)
    stranger = await factory.user()
    foreign_id = await factory.organization(stranger, slug=foreign)
    customer = await factory.user()
    return {"owner": owner, "stranger": stranger, "customer": customer, "first": (first_id, first),
            "second": (second_id, second), "foreign": (foreign_id, foreign)}


async def test_member_picks_any_of_their_organizations_by_slug_or_id(gql, orgs):
    owner = orgs["owner"]
    second_id, second = orgs["second"]
    for value in (second, second.upper(), f"  {second} ", to_global_id("Organization", second_id), str(second_id)):
        data = await gql.ok(VIEWER, token=owner.token, headers=header(value))
        assert data["viewer"]["activeOrganization"] == {"slug": second}, value
    # Without the header the session's organization (the first) stays active: the header is per request.
    assert (await gql.ok(VIEWER, token=owner.token))["viewer"]["activeOrganization"] == {"slug": orgs["first"][1]}
    assert (await gql.ok(VIEWER, token=owner.token, headers=header("")))["viewer"]["activeOrganization"] == \
        {"slug": orgs["first"][1]}


async def test_naming_a_foreign_or_unknown_organization_is_forbidden_not_a_fallback(gql, orgs):
    owner = orgs["owner"]
    foreign_id, foreign = orgs["foreign"]
    for value in (foreign, to_global_id("Organization", foreign_id), str(foreign_id), "no-such-org",
                  to_global_id("Organization", uuid.uuid4()), to_global_id("Content", orgs["second"][0]), "%%junk%%"):
        assert_forbidden(await gql(VIEWER, token=owner.token, headers=header(value)))


async def test_anonymous_callers_and_customers_naming_an_organization_are_forbidden(gql, orgs):
    _, first = orgs["first"]
    for token in (None, orgs["customer"].token):
        assert_forbidden(await gql(STOREFRONT, {"s": first}, token, headers=header(first)))
        # The storefront itself needs no header: the organization is the `slug` argument.
        data = await gql.ok(STOREFRONT, {"s": first}, token)
        assert data["organization"]["contents"]["totalCount"] == 0
    # A session token that is no longer valid is an anonymous caller: refused as well.
    assert_forbidden(await gql(VIEWER, token="not-a-session", headers=header(first)))


async def test_a_refused_mutation_changes_nothing(gql, orgs, admin_db):
    owner = orgs["owner"]
    before = await admin_db.fetchval("select count(*) from content")
    body = await gql(CREATE, token=owner.token, headers=header(orgs["foreign"][1]))
    assert_forbidden(body)
    assert await admin_db.fetchval("select count(*) from content") == before
    # The stranger is staff of "foreign", so their own header works for them, and only in their organization.
    created = await gql.ok(CREATE, token=orgs["stranger"].token, headers=header(orgs["foreign"][1]))
    assert created["createContent"]["content"]["id"]
    assert await admin_db.fetchval("select count(*) from content where organization_id = $1", orgs["foreign"][0]) == 1
    assert await admin_db.fetchval("select count(*) from content") == before + 1


async def test_refusal_status_follows_the_response_media_type(http, orgs):
    body = {"query": VIEWER}
    headers = {"authorization": f"Bearer {orgs['owner'].token}", **header(orgs["foreign"][1])}
    spec = await http.post("/graphql", json=body, headers={**headers, "accept": "application/graphql-response+json"})
    assert spec.status_code == 403
    assert spec.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in spec.json() and spec.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    legacy = await http.post("/graphql", json=body, headers={**headers, "accept": "application/json"})
    assert legacy.status_code == 200 and legacy.json()["data"] is None
    assert legacy.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # GET queries are refused the same way.
    got = await http.get("/graphql", params={"query": VIEWER}, headers={**headers, "accept": "application/json"})
    assert got.status_code == 200 and got.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- WebSocket: connection_init {"organization": ...} ------------------------------------------------


async def connect(base: str, payload: dict[str, Any]) -> Any:
    ws = await websockets.connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def acked(base: str, payload: dict[str, Any]) -> Any:
    ws = await connect(base, payload)
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    return ws


async def refused(base: str, payload: dict[str, Any]) -> None:
    ws = await connect(base, payload)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert closed.value.rcvd.reason == "Forbidden"


async def next_message(ws: Any, timeout: float) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] not in ("ping", "pong"):
            return message


async def subscribe(ws: Any, organization_id: uuid.UUID) -> None:
    await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {
        "query": SUBSCRIBE, "variables": {"org": to_global_id("Organization", organization_id)}}}))


@pytest.mark.timeout(90)
async def test_websocket_connection_watches_the_organization_it_names(app, gql, db, factory, orgs):
    owner = orgs["owner"]
    first_id, first = orgs["first"]
    second_id, second = orgs["second"]
    auth = f"Bearer {owner.token}"
    title = "Second org film"
    content = await insert_content(db, second_id, owner.user_id, title, 900)
    customer = orgs["customer"]
    async with live_server(app) as base:
        # One connection per organization, both on one session.
        first_ws = await acked(base, {"authorization": auth, "organization": first})
        second_ws = await acked(base, {"authorization": auth, "organization": to_global_id("Organization", second_id)})
        default_ws = await acked(base, {"authorization": auth})
        await subscribe(first_ws, first_id)
        await subscribe(second_ws, second_id)
        await subscribe(default_ws, second_id)  # the session's organization is the first: refused
        message = await next_message(default_ws, 5)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN", message
        await asyncio.sleep(0.5)

        granted = await gql.ok(GRANT, {"i": {"contentId": content, "userId": customer.global_id}}, owner.token,
                               headers=header(second))
        assert granted["grantContentAccess"]["purchase"]["id"]
        message = await next_message(second_ws, 15)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["purchaseEvents"] == {"type": "COMPLETED", "purchase": {"contentTitle": title}}
        with pytest.raises(TimeoutError):
            await next_message(first_ws, 1.5)  # the first organization saw nothing
        for ws in (first_ws, second_ws, default_ws):
            await ws.close()

        # Wrong choices close the connection with 4403 Forbidden.
        member = await factory.user()
        await factory.member(second_id, member, OrgRole.MEMBER)
        for payload in (
            {"authorization": auth, "organization": orgs["foreign"][1]},
            {"authorization": auth, "organization": "no-such-org"},
            {"authorization": auth, "organization": 42},
            {"organization": first},  # anonymous
            {"authorization": f"Bearer {customer.token}", "organization": first},  # a customer
            {"authorization": f"Bearer {member.token}", "organization": first},  # staff of another organization
        ):
            await refused(base, payload)
        # ... while the member may choose their own organization.
        ws = await acked(base, {"authorization": f"Bearer {member.token}", "organization": second})
        await ws.close()
