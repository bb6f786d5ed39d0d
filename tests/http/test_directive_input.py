"""A variable with a default sent as an explicit null where a non-null value is needed (``@skip(if: $c)``,
``@include(if: $c)``, a non-null argument or input field): the client's mistake. It is answered like a
variable that fails coercion (a request error with ``extensions.code`` BAD_USER_INPUT, no ``data`` and a
400 under ``application/graphql-response+json``, ``"data": null`` and 200 under ``application/json``),
never a masked INTERNAL_SERVER_ERROR, and nothing runs. The same over the WebSocket transport.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets

from codex_graphql.app import create_app
from codex_graphql.authz import PlatformRole
from codex_graphql.graphql_http import GRAPHQL_RESPONSE_JSON, JSON
from codex_graphql.relay import to_global_id
from tests.support import Factory, Person
from tests.support.live_server import live_server

SKIP_ROOT = "query Q($c: Boolean = false) { organization(slug: \"x\") { name } viewer @skip(if: $c) { id } }"
SKIP_NESTED = "query Q($c: Boolean = false, $s: String!) { organization(slug: $s) { id name @skip(if: $c) } }"
INCLUDE_NESTED = ("query Q($c: Boolean = true, $s: String!) { organization(slug: $s) { id "
                  "... on Organization { name @include(if: $c) } } }")
IN_FRAGMENT = ("query Q($c: Boolean = false, $s: String!) { organization(slug: $s) { ...F } } "
               "fragment F on Organization { id ... @skip(if: $c) { name } }")
FIELD_ARGUMENT = "query Q($s: String = \"nope\") { organization(slug: $s) { name } }"
THE_BRIEF = "query Q($c: Boolean = false) { organization(slug: \"x\") { name @skip(if: $c) } }"
CREATE = ("mutation M($c: Boolean = false, $s: String!) { createOrganization(input: {name: \"Made\", slug: $s}) {"
          " errors { code } organization { slug name @skip(if: $c) } } }")
CREATE_NAME = ("mutation M($n: String = \"Made\", $s: String!) { createOrganization(input: {name: $n, slug: $s}) {"
               " errors { code } organization { slug } } }")


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any], accept: str,
               token: str | None = None) -> httpx.Response:
    http.cookies.clear()  # each call is its own caller
    headers = {"accept": accept}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def assert_refused(http: httpx.AsyncClient, query: str, variables: dict[str, Any], variable: str,
                         token: str | None = None) -> None:
    """BAD_USER_INPUT naming the variable, as a request error under both response types."""
    strict = await post(http, query, variables, GRAPHQL_RESPONSE_JSON, token)
    assert strict.status_code == 400, strict.text
    body = strict.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert f"Variable '${variable}' was sent as null" in error["message"], body
    assert "path" not in error and error["locations"], body
    legacy = await post(http, query, variables, JSON, token)
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["data"] is None
    assert [e["extensions"]["code"] for e in legacy.json()["errors"]] == ["BAD_USER_INPUT"], legacy.text


@pytest.fixture
async def owner_and_slug(factory: Factory) -> tuple[Person, str]:
    owner = await factory.user()
    slug = f"dir-{uuid.uuid4().hex[:8]}"
    await factory.organization(owner, slug=slug, name="Directive Org")
    return owner, slug


async def test_null_skip_variable_at_the_root_is_bad_user_input(http: httpx.AsyncClient) -> None:
    await assert_refused(http, SKIP_ROOT, {"c": None}, "c")
    await assert_refused(http, THE_BRIEF, {"c": None}, "c")


@pytest.mark.parametrize("query", [SKIP_NESTED, INCLUDE_NESTED, IN_FRAGMENT], ids=["skip", "include", "fragment"])
async def test_null_condition_variable_nested_is_bad_user_input(http: httpx.AsyncClient,
                                                               owner_and_slug: tuple[Person, str], query: str) -> None:
    owner, slug = owner_and_slug
    await assert_refused(http, query, {"c": None, "s": slug}, "c", owner.token)


async def test_null_variable_in_a_non_null_argument_is_bad_user_input(http: httpx.AsyncClient) -> None:
    await assert_refused(http, FIELD_ARGUMENT, {"s": None}, "s")


async def test_defaulted_condition_variables_still_work(http: httpx.AsyncClient,
                                                        owner_and_slug: tuple[Person, str]) -> None:
    owner, slug = owner_and_slug
    cases = [
        (SKIP_NESTED, {"s": slug}, True), (SKIP_NESTED, {"s": slug, "c": True}, False),
        (SKIP_NESTED, {"s": slug, "c": False}, True),
        (INCLUDE_NESTED, {"s": slug}, True), (INCLUDE_NESTED, {"s": slug, "c": False}, False),
        (IN_FRAGMENT, {"s": slug}, True), (IN_FRAGMENT, {"s": slug, "c": True}, False),
    ]
    for query, variables, named in cases:
        response = await post(http, query, variables, GRAPHQL_RESPONSE_JSON, owner.token)
        assert response.status_code == 200, (variables, response.text)
        body = response.json()
        assert "errors" not in body, (query, variables, body)
        organization = body["data"]["organization"]
        assert organization["id"]
        assert ("name" in organization) is named, (query, variables, body)
        if named:
            assert organization["name"] == "Directive Org"
    response = await post(http, SKIP_ROOT, {}, GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200 and response.json()["data"] == {"organization": None, "viewer": None}
    # A null variable in a nullable position is an ordinary value.
    response = await post(http, "query($a: String = \"x\") { viewer { id } organization(slug: \"y\") { "
                                "contents(first: 1, after: $a) { nodes { id } } } }", {"a": None},
                          GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200 and "errors" not in response.json(), response.text


async def test_refused_mutation_changes_nothing(http: httpx.AsyncClient, factory: Factory, admin_db: Any) -> None:
    person = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    slug = f"dir-m-{uuid.uuid4().hex[:8]}"
    await assert_refused(http, CREATE, {"c": None, "s": slug}, "c", person.token)
    await assert_refused(http, CREATE_NAME, {"n": None, "s": slug}, "n", person.token)
    assert await admin_db.fetchval("select count(*) from organization where slug = $1", slug) == 0
    # The defaults apply when the variables are left out: the mutation runs.
    response = await post(http, CREATE, {"s": slug}, GRAPHQL_RESPONSE_JSON, person.token)
    payload = response.json()["data"]["createOrganization"]
    assert payload == {"errors": [], "organization": {"slug": slug, "name": "Made"}}, response.text
    assert await admin_db.fetchval("select count(*) from organization where slug = $1", slug) == 1


async def test_null_condition_over_websocket_is_refused_before_subscribing(settings: Any, factory: Factory) -> None:
    owner = await factory.user()
    org = await factory.organization(owner)
    org_id = to_global_id("Organization", org)
    nested = ("subscription S($o: ID!, $c: Boolean = false) { purchaseEvents(organizationId: $o) {"
              " type @skip(if: $c) } }")
    in_fragment = ("subscription S($o: ID!, $c: Boolean = true) { purchaseEvents(organizationId: $o) { ...E } }"
                   " fragment E on PurchaseEvent { type @include(if: $c) }")
    root = ("subscription S($o: ID!, $c: Boolean = true) { purchaseEvents(organizationId: $o)"
            " @include(if: $c) { type } }")
    app = create_app(settings)
    async with app.router.lifespan_context(app), live_server(app) as address:
        ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {owner.token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        for number, query in enumerate((nested, in_fragment, root)):
            await ws.send(json.dumps({"id": str(number), "type": "subscribe",
                                      "payload": {"query": query, "variables": {"o": org_id, "c": None}}}))
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message["type"] == "error" and message["id"] == str(number), message
            [error] = message["payload"]
            if query is root:  # refused by validation already (the spec forbids them there)
                assert "must not use `@skip` or `@include`" in error["message"], message
                continue
            assert error["extensions"]["code"] == "BAD_USER_INPUT", message
            assert "Variable '$c' was sent as null" in error["message"], message
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"
        await ws.close()
