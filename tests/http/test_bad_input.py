"""Bad client input through the real app: NUL bytes in every kind of string argument, forged and
out-of-range cursors on every connection, out-of-range dates. Each must be refused as the client's
mistake (``BAD_USER_INPUT``, or a payload ``UserError`` for mutations), never a masked
``INTERNAL_SERVER_ERROR`` or an HTTP 5xx, and must change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
import websockets

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import Factory, GraphQLClient
from tests.support.commerce import insert_content
from tests.support.live_server import live_server

NUL = "a\x00b"
SOME_UUID = "6f1c1c1e-8a8e-4d7b-9a36-5e3c7ef3b0a1"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def customer_cursor(field: str, value: Any, user_id: str = SOME_UUID) -> str:
    return b64(json.dumps([field, value, user_id]))


# Cursors a client could forge: not base64, base64 of garbage, impossible or out-of-range instants
# (years 0 and 99999, offsets that leave datetime's range once normalized to UTC), ids that are not
# UUIDs, NUL bytes inside and outside the encoding, and a very long one.
BAD_CURSORS = {
    "not-base64": "!!!not base64!!!",
    "garbage": b64("garbage"),
    "no-separator": b64("2024-01-01T00:00:00+00:00"),
    "year-0": b64(f"0000-01-01T00:00:00+00:00|{SOME_UUID}"),
    "year-99999": b64(f"99999-01-01T00:00:00+00:00|{SOME_UUID}"),
    "year-1-east": b64(f"0001-01-01T00:00:00+14:00|{SOME_UUID}"),
    "year-9999-west": b64(f"9999-12-31T23:59:59-14:00|{SOME_UUID}"),
    "naive": b64(f"2024-01-01T00:00:00|{SOME_UUID}"),
    "not-uuid": b64("2024-01-01T00:00:00+00:00|not-a-uuid"),
    "huge-int-id": b64(f"2024-01-01T00:00:00+00:00|{10**40}"),
    "nul-inside": b64(f"2024-01-01T00:00:00+00:00|{SOME_UUID}\x00"),
    "nul-outside": "abc\x00def",
    "non-utf8": base64.urlsafe_b64encode(b"\xff\xfe\xfd|x").decode(),
    "long": "A" * 20_000,
}

# Cursors of the customer list (JSON [order, value, user id]).
BAD_CUSTOMER_CURSORS = {
    **BAD_CURSORS,
    "json-not-list": b64(json.dumps({"a": 1})),
    "total-huge": customer_cursor("TOTAL_SPENT", 10**40),
    "total-float": customer_cursor("TOTAL_SPENT", 1.5),
    "last-year-9999-west": customer_cursor("LAST_PURCHASE_AT", "9999-12-31T23:59:59-14:00"),
    "last-year-1-east": customer_cursor("LAST_PURCHASE_AT", "0001-01-01T00:00:00+14:00"),
    "last-year-0": customer_cursor("LAST_PURCHASE_AT", "0000-01-01T00:00:00+00:00"),
    "user-not-uuid": customer_cursor("LAST_PURCHASE_AT", "2024-01-01T00:00:00+00:00", "nope"),
    "user-huge-int": b64(json.dumps(["LAST_PURCHASE_AT", "2024-01-01T00:00:00+00:00", 10**40])),
}
EMAIL_CURSORS = {"email-nul": customer_cursor("EMAIL", NUL), "email-not-string": customer_cursor("EMAIL", 5)}

# Every connection that takes `after`, reached the way an admin tool would.
CONNECTIONS = {
    "contents": "query($s:String!,$a:String){organization(slug:$s){contents(first:5,after:$a){nodes{id}}}}",
    "purchases": "query($s:String!,$a:String){organization(slug:$s){purchases(first:5,after:$a){nodes{id}}}}",
    "auditLog": "query($s:String!,$a:String){organization(slug:$s){auditLog(first:5,after:$a){nodes{id}}}}",
    "members": "query($s:String!,$a:String){organization(slug:$s){members(first:5,after:$a){nodes{role}}}}",
    "invitations": "query($s:String!,$a:String){organization(slug:$s){invitations(first:5,after:$a){nodes{id}}}}",
    "viewer.purchases": "query($s:String!,$a:String){viewer{purchases(first:5,after:$a){nodes{id}}}}",
    "customer.purchases": ("query($s:String!,$a:String){organization(slug:$s){customers(first:5){nodes{"
                           "purchases(first:5,after:$a){nodes{id}}}}}}"),
    "reviews": "query($c:ID!,$a:String){content(id:$c){reviews(first:5,after:$a){nodes{id}}}}",
    "moderationReviews": "query($c:ID!,$a:String){content(id:$c){moderationReviews(first:5,after:$a){nodes{id}}}}",
}
CUSTOMERS = ("query($s:String!,$a:String,$f:CustomerOrderField!){organization(slug:$s){"
             "customers(first:5,after:$a,orderBy:{field:$f,direction:DESC}){nodes{email}}}}")


class World:
    slug: str
    owner_token: str
    customer_token: str
    content_id: str


@pytest.fixture
async def world(factory: Factory, db: Any) -> World:
    owner = await factory.user()
    w = World()
    w.slug = f"bad-{uuid.uuid4().hex[:8]}"
    org = await factory.organization(owner, slug=w.slug)
    customer = await factory.user()
    w.content_id = await insert_content(db, org, owner.user_id, "Bad input film", 0)
    await factory.gql.ok("mutation($c: ID!) { claimFreeContent(input: {contentId: $c}) { errors { code } } }",
                         {"c": w.content_id}, customer.token)
    member = await factory.user()
    await factory.member(org, member, OrgRole.MEMBER)
    w.owner_token, w.customer_token = owner.token, customer.token
    return w


def assert_bad_user_input(body: dict[str, Any]) -> None:
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert codes and set(codes) == {"BAD_USER_INPUT"}, body


async def refused(gql: GraphQLClient, query: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    response = await gql.raw(query, variables, token)
    assert response.status_code < 500, response.text
    body = response.json()
    assert_bad_user_input(body)
    return body


@pytest.mark.parametrize("connection", sorted(CONNECTIONS))
async def test_forged_cursors_are_bad_user_input(gql: GraphQLClient, world: World, connection: str) -> None:
    for name, cursor in BAD_CURSORS.items():
        response = await gql.raw(CONNECTIONS[connection], {"s": world.slug, "c": world.content_id, "a": cursor},
                                 world.owner_token)
        assert response.status_code < 500, (name, response.text)
        body = response.json()
        codes = {e["extensions"]["code"] for e in body.get("errors", [])}
        assert codes == {"BAD_USER_INPUT"}, (connection, name, body)


@pytest.mark.parametrize("order", ["LAST_PURCHASE_AT", "TOTAL_SPENT", "JOINED_AT", "EMAIL"])
async def test_forged_customer_cursors_are_bad_user_input(gql: GraphQLClient, world: World, order: str) -> None:
    cursors = {**BAD_CUSTOMER_CURSORS, **EMAIL_CURSORS}
    for name, cursor in cursors.items():
        response = await gql.raw(CUSTOMERS, {"s": world.slug, "a": cursor, "f": order}, world.owner_token)
        assert response.status_code < 500, (name, response.text)
        body = response.json()
        codes = {e["extensions"]["code"] for e in body.get("errors", [])}
        assert codes == {"BAD_USER_INPUT"}, (order, name, body)


# NUL in every kind of string argument, as a variable and as a literal in the document.
NUL_QUERIES = {
    "slug": ("query($v:String!){organization(slug:$v){id}}", {}),
    "contents.search": ("query($s:String!,$v:String){organization(slug:$s){contents(filter:{search:$v}){nodes{id}}}}", {}),
    "contents.tag": ("query($s:String!,$v:String){organization(slug:$s){contents(filter:{tag:$v}){nodes{id}}}}", {}),
    "customers.search": ("query($s:String!,$v:String){organization(slug:$s){customers(filter:{search:$v}){nodes{email}}}}",
                         {}),
    "cursor": ("query($s:String!,$v:String){organization(slug:$s){contents(after:$v){nodes{id}}}}", {}),
    "node.id": ("query($v:ID!){node(id:$v){id}}", {}),
    "content.id": ("query($v:ID!){content(id:$v){id}}", {}),
    "auditLog.actorId": ("query($s:String!,$v:ID){organization(slug:$s){auditLog(filter:{actorId:$v}){nodes{id}}}}", {}),
}
NUL_MUTATIONS = {
    "register.email": ("mutation($v:String!){register(input:{email:$v,password:\"long enough password\"}){errors{code}}}",
                       {}),
    "register.name": ("mutation($v:String!){register(input:{email:\"nul-name@example.com\",password:\"long enough "
                      "password\",name:$v}){errors{code}}}", {}),
    "login.email": ("mutation($v:String!){login(input:{email:$v,password:\"x\"}){errors{code}}}", {}),
    "requestPasswordReset.email": ("mutation($v:String!){requestPasswordReset(input:{email:$v}){errors{code}}}", {}),
    "createOrganization.slug": ("mutation($v:String!){createOrganization(input:{name:\"N\",slug:$v}){errors{code}}}", {}),
    "createOrganization.name": ("mutation($v:String!){createOrganization(input:{name:$v,slug:\"nul-org\"}){errors{code}}}",
                                {}),
    "createContent.title": ("mutation($v:String!){createContent(input:{kind:VIDEO,title:$v,filename:\"a.mp4\","
                            "mimeType:\"video/mp4\",sizeBytes:10}){errors{code}}}", {}),
    "createContent.tags": ("mutation($v:String!){createContent(input:{kind:VIDEO,title:\"t\",filename:\"a.mp4\","
                           "mimeType:\"video/mp4\",sizeBytes:10,tags:[$v]}){errors{code}}}", {}),
    "updateContent.description": ("mutation($c:ID!,$v:String!){updateContent(input:{contentId:$c,description:$v})"
                                  "{errors{code}}}", {"c": None}),
}


def _literal(query: str) -> str:
    """The same operation with the NUL value written into the document (JSON escaping is GraphQL's too)."""
    return query.replace("$v", json.dumps(NUL))


@pytest.mark.parametrize("case", sorted(NUL_QUERIES) + sorted(NUL_MUTATIONS))
@pytest.mark.parametrize("where", ["variable", "literal"])
async def test_nul_bytes_are_bad_user_input(gql: GraphQLClient, world: World, admin_db: Any, case: str,
                                            where: str) -> None:
    query, extra = {**NUL_QUERIES, **NUL_MUTATIONS}[case]
    variables = {"s": world.slug, "v": NUL, **{k: world.content_id for k in extra}}
    if where == "literal":
        query = query.replace("($v:String!)", "").replace("($v:ID!)", "").replace(",$v:String!)", ")")
        query = query.replace(",$v:String)", ")").replace(",$v:ID)", ")")
        query = _literal(query)
        variables.pop("v")
    before = await _snapshot(admin_db)
    await refused(gql, query, variables, world.owner_token)
    assert await _snapshot(admin_db) == before


async def _snapshot(admin_db: Any) -> tuple[int, ...]:
    return tuple([await admin_db.fetchval(f"select count(*) from {table}")
                  for table in ("user_account", "organization", "content", "user_session", "email_token")])


# Out-of-range and inverted dates. Years 0 and 10000 are not dates at all; instants in years 1 and 9999
# are, but leave datetime's range once normalized to UTC; `from` after `to` is inverted.
ANALYTICS = "query($s:String!,$r:DateRange){organization(slug:$s){analytics(range:$r){totalRevenueCents revenueByDay{day}}}}"
BAD_RANGES = {
    "year-10000": {"from": "10000-01-01", "to": "10000-01-02"},
    "year-0": {"from": "0000-01-01", "to": "0001-01-02"},
    "inverted": {"from": "2024-02-01", "to": "2024-01-01"},
    "too-long": {"from": "2000-01-01", "to": "2024-01-01"},
    "not-a-date": {"from": "yesterday", "to": "2024-01-01"},
    "datetime-not-date": {"from": "2024-01-01T00:00:00", "to": "2024-01-02"},
    "nul": {"from": "2024-01-01\x00", "to": "2024-01-02"},
}
AUDIT = "query($s:String!,$f:AuditLogFilter){organization(slug:$s){auditLog(filter:$f){nodes{id}}}}"
BAD_AUDIT_FILTERS = {
    "year-10000": {"from": "10000-01-01T00:00:00+00:00"},
    "year-0": {"to": "0000-01-01T00:00:00+00:00"},
    "year-1-east": {"from": "0001-01-01T00:00:00+14:00"},
    "year-9999-west": {"to": "9999-12-31T23:59:59-14:00"},
    "not-a-datetime": {"from": "tomorrow"},
    "nul": {"from": "2024-01-01T00:00:00+00:00\x00"},
}


@pytest.mark.parametrize("case", sorted(BAD_RANGES))
async def test_analytics_bad_ranges_are_bad_user_input(gql: GraphQLClient, world: World, case: str) -> None:
    await refused(gql, ANALYTICS, {"s": world.slug, "r": BAD_RANGES[case]}, world.owner_token)


@pytest.mark.parametrize("case", sorted(BAD_AUDIT_FILTERS))
async def test_audit_log_bad_instants_are_bad_user_input(gql: GraphQLClient, world: World, case: str) -> None:
    await refused(gql, AUDIT, {"s": world.slug, "f": BAD_AUDIT_FILTERS[case]}, world.owner_token)


async def test_good_edge_inputs_still_work(gql: GraphQLClient, world: World) -> None:
    """The checks refuse only what cannot be stored: ordinary edge values keep working."""
    data = await gql.ok(ANALYTICS, {"s": world.slug, "r": {"from": "2024-01-01", "to": "2024-01-01"}},
                        world.owner_token)
    assert len(data["organization"]["analytics"]["revenueByDay"]) == 1
    for first, last in (("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")):  # valid, if unusual, days
        data = await gql.ok(ANALYTICS, {"s": world.slug, "r": {"from": first, "to": last}}, world.owner_token)
        assert [d["day"] for d in data["organization"]["analytics"]["revenueByDay"]] == [first, last]
    data = await gql.ok(AUDIT, {"s": world.slug, "f": {"from": "2024-01-01T00:00:00+14:00",
                                                        "to": "2030-01-01T00:00:00-14:00"}}, world.owner_token)
    assert data["organization"]["auditLog"]["nodes"] is not None
    data = await gql.ok(NUL_QUERIES["contents.search"][0], {"s": world.slug, "v": "\\u0000 is spelled out"},
                        world.owner_token)
    assert data["organization"]["contents"]["nodes"] == []


CHECKOUT = ("mutation($c:ID!,$u:String!){startCheckout(input:{contentId:$c,successUrl:$u,cancelUrl:$u,"
            "idempotencyKey:\"bad-url\"}){errors{code field} checkoutUrl}}")


@pytest.mark.parametrize("url", ["http://[::1", "http://[not-an-ip]/x", "javascript:alert(1)", "//elsewhere.example"])
async def test_unparsable_redirect_urls_are_payload_errors(gql: GraphQLClient, world: World, admin_db: Any,
                                                           url: str) -> None:
    before = await admin_db.fetchval("select count(*) from checkout_session")
    data = (await gql(CHECKOUT, {"c": world.content_id, "u": url}, world.customer_token))["data"]["startCheckout"]
    assert data["checkoutUrl"] is None
    assert data["errors"] == [{"code": "INVALID_INPUT", "field": ["input", "successUrl"]}], data
    assert await admin_db.fetchval("select count(*) from checkout_session") == before


async def test_nul_over_websocket_is_refused_before_subscribing(settings: Any, factory: Factory) -> None:
    """The WebSocket transport coerces with the same scalars: the subscription is refused with the NUL
    message, and the connection stays usable."""
    owner = await factory.user()
    org = await factory.organization(owner)
    subscription = "subscription($o: ID!) { purchaseEvents(organizationId: $o) { type } }"
    app = create_app(settings)
    async with app.router.lifespan_context(app), live_server(app) as address:
        ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {owner.token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        for number, value in enumerate((NUL, to_global_id("Organization", org) + "\x00")):
            await ws.send(json.dumps({"id": str(number), "type": "subscribe",
                                      "payload": {"query": subscription, "variables": {"o": value}}}))
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message["type"] == "error" and message["id"] == str(number), message
            assert "NUL" in message["payload"][0]["message"], message
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"
        await ws.close()
