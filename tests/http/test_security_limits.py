"""Query cost, rate limiting, request limits and web security, through the app (real PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets

from codex_graphql import cost as cost_module
from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole, PlatformRole
from codex_graphql.organizations import repository as org_repository
from codex_graphql.settings import Settings
from tests.support.live_server import live_server

ORG_MEMBERS = ("query($s:String!){organization(slug:$s){ id name members(first:10){ totalCount nodes { role } "
               "pageInfo { hasNextPage } } }}")
MEMBERS_N = "query($n:Int){organization(slug:\"x\"){ members(first:$n){ edges { cursor node { role } } } }}"
COST_5 = '{ organization(slug: "x") { members(first: 3) { nodes { role } } } }'  # 1 + 1 + 3 * 1
HEAVY = ('query($n:Int){ organization(slug: "x") { members(first: 100) { nodes { organization { '
         'members(first: $n) { nodes { role } } } } } } }')  # 1 + 1 + 100 * (1 + 1 + 1 + n)


@asynccontextmanager
async def running(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update=overrides))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client(app: Any, ip: str = "198.51.100.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def post(http: httpx.AsyncClient, query: str, variables: dict | None = None, token: str | None = None,
               **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers, **kwargs)


def codes(body: dict) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


@pytest.fixture
def org_lookups(monkeypatch):
    calls: list[str] = []
    original = org_repository.by_slug

    async def counting(session, slug):
        calls.append(slug)
        return await original(session, slug)

    monkeypatch.setattr(org_repository, "by_slug", counting)
    return calls


# --- cost -------------------------------------------------------------------------------------------


async def test_cost_of_known_queries_is_reported_in_every_response(gql, settings):
    for query, expected in [
        (ORG_MEMBERS, 13),  # organization 1 + members (1 + 10 x nodes 1) + pageInfo 1; scalars 0
        ("{ viewer { id email } }", 1),
        ("{ __typename }", 0),
        (COST_5, 5),
        ('{ organization(slug: "x") { contents { nodes { id } } } }', 22),  # `first` omitted: 20
        ('{ organization(slug: "x") { members(first: 4) { edges { cursor node { role } } pageInfo { endCursor } } } }',
         1 + 1 + 4 + 1),
    ]:
        body = await gql(query, {"s": "x"})
        assert "errors" not in body, body
        report = body["extensions"]["cost"]
        assert report["requestedQueryCost"] == expected, (query, report)
        assert report["actualQueryCost"] == expected
        status = report["throttleStatus"]
        assert status["maximumAvailable"] == settings.rate_limit_capacity
        assert status["restoreRate"] == settings.rate_limit_restore_rate
        assert 0 <= status["currentlyAvailable"] <= settings.rate_limit_capacity - expected


async def test_variables_change_the_cost(gql):
    async def cost(query: str, variables: dict) -> int:
        body = await gql(query, variables)
        assert "errors" not in body, body
        return body["extensions"]["cost"]["requestedQueryCost"]

    assert await cost(MEMBERS_N, {"n": 5}) == 7
    assert await cost(MEMBERS_N, {"n": 50}) == 52
    assert await cost(MEMBERS_N, {}) == 22  # DEFAULT_PAGE_SIZE
    assert await cost(MEMBERS_N.replace("$n:Int", "$n:Int = 3"), {}) == 5  # the variable's default


@pytest.mark.parametrize("fast_path", [True, False], ids=["compiled", "resolvers"])
async def test_the_cost_analysis_runs_once_per_document(settings, monkeypatch, fast_path):
    """Once per document on either executor: the compiled path analyses it while planning (the plan is
    cached), the resolvers through the calculator's cache."""
    calls: list[str | None] = []
    original = cost_module.analyze

    def counting(schema, document, operation_name):
        calls.append(operation_name)
        return original(schema, document, operation_name)

    monkeypatch.setattr(cost_module, "analyze", counting)
    async with running(settings, fast_path_enabled=fast_path) as app, client(app) as http:
        calculator = app.state.runtime["graphql"].schema.cost_calculator
        query = MEMBERS_N.replace("query(", f"query Probe{uuid.uuid4().hex[:8]}(")
        hits = calculator.hits
        for n in (1, 2, 3):
            body = (await post(http, query, {"n": n})).json()
            assert body["extensions"]["cost"]["requestedQueryCost"] == n + 2
        assert len(calls) == 1
        if not fast_path:
            assert calculator.hits == hits + 2


async def test_a_query_over_the_maximum_cost_is_refused_before_execution(settings, org_lookups):
    # The resolvers' executor: `org_lookups` counts its `organization(slug:)` resolver (the compiled path's
    # refusal before execution is tests/fastpath/test_limits_once.py's).
    async with running(settings, fast_path_enabled=False) as app, client(app) as http:
        await _over_the_maximum_cost(http, settings, org_lookups)


async def _over_the_maximum_cost(http: httpx.AsyncClient, settings: Settings, org_lookups: list[str]) -> None:
    async def gql(query: str, variables: dict) -> dict:
        return (await post(http, query, variables)).json()

    body = await gql(HEAVY, {"n": 100})
    assert body["data"] is None
    assert codes(body) == {"QUERY_TOO_COMPLEX"}
    assert body["errors"][0]["extensions"]["maximumCost"] == settings.max_query_cost
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 100 * 103
    assert org_lookups == []
    body = await gql(HEAVY, {"n": 1})  # the same document with a small page fits
    assert "errors" not in body and body["extensions"]["cost"]["requestedQueryCost"] == 2 + 100 * 4
    assert org_lookups == ["x"]


# --- rate limiting ----------------------------------------------------------------------------------


async def test_a_burst_over_capacity_is_throttled_with_429_and_refills(settings, org_lookups):
    # COST_5 charges 6: its query cost 5 plus MIN_REQUEST_COST 1 (its document is under 1 KiB).
    # On the resolvers' executor, whose `organization(slug:)` resolver `org_lookups` counts.
    async with running(settings, rate_limit_capacity=12, rate_limit_restore_rate=20.0,
                       fast_path_enabled=False) as app, client(app) as http:
        for _ in range(2):
            response = await post(http, COST_5)
            assert response.status_code == 200 and "errors" not in response.json()
        response = await post(http, COST_5)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert body["data"] is None and codes(body) == {"THROTTLED"}
        assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 12
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 6
        assert len(org_lookups) == 2  # the throttled request executed nothing
        await asyncio.sleep(0.4)  # 20 points/s restore 6 points in 0.3 s
        response = await post(http, COST_5)
        assert response.status_code == 200 and "errors" not in response.json(), response.text


async def test_throttling_can_answer_200(settings):
    async with running(settings, rate_limit_capacity=5, rate_limit_restore_rate=1.0,
                       rate_limit_http_429=False) as app, client(app) as http:
        assert (await post(http, COST_5)).status_code == 200
        response = await post(http, COST_5)
        assert response.status_code == 200 and "retry-after" not in response.headers
        assert codes(response.json()) == {"THROTTLED"}


async def test_buckets_are_per_ip_for_anonymous_callers_and_per_user_when_signed_in(settings, factory):
    alice, bob = await factory.user(), await factory.user()
    async with running(settings, rate_limit_capacity=5, rate_limit_restore_rate=0.5) as app, \
            client(app, "198.51.100.1") as first_ip, client(app, "198.51.100.2") as second_ip:
        assert (await post(first_ip, COST_5)).status_code == 200
        assert (await post(first_ip, COST_5)).status_code == 429
        assert (await post(second_ip, COST_5)).status_code == 200  # another IP, another bucket
        # Signed in from the throttled IP: the user's own bucket.
        assert (await post(first_ip, COST_5, token=alice.token)).status_code == 200
        assert (await post(second_ip, COST_5, token=alice.token)).status_code == 429  # the user's bucket, any IP
        assert (await post(first_ip, COST_5, token=bob.token)).status_code == 200  # two users do not share


async def test_mutations_per_request_are_limited(settings, admin_db):
    async with running(settings, max_mutations_per_request=2) as app, client(app) as http:
        def mutation(count: int) -> str:
            fields = " ".join(f'm{i}: requestPasswordReset(input: {{email: "nobody{i}@example.com"}}) {{ errors {{ code }} }}'
                              for i in range(count))
            return f"mutation {{ {fields} }}"

        response = await post(http, mutation(3))
        body = response.json()
        assert response.status_code == 200 and body["data"] is None and codes(body) == {"TOO_MANY_MUTATIONS"}
        body = (await post(http, mutation(2))).json()
        assert "errors" not in body and body["data"] == {"m0": {"errors": []}, "m1": {"errors": []}}


# --- WebSocket limits -------------------------------------------------------------------------------


async def ws_connect(address: str, token: str) -> Any:
    ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    return ws


async def test_websocket_connections_per_user_are_limited(settings, factory):
    alice, bob = await factory.user(), await factory.user()
    async with running(settings, max_ws_connections_per_user=2) as app, live_server(app) as address:
        open_ones = []
        for _ in range(2):
            ws = await ws_connect(address, alice.token)
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            open_ones.append(ws)
        third = await ws_connect(address, alice.token)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(third.recv(), 5)
        assert closed.value.rcvd.code == 4403
        other = await ws_connect(address, bob.token)  # another user is not affected
        assert json.loads(await asyncio.wait_for(other.recv(), 5))["type"] == "connection_ack"
        await open_ones.pop().close()
        await asyncio.sleep(0.2)  # the server released the slot
        again = await ws_connect(address, alice.token)
        assert json.loads(await asyncio.wait_for(again.recv(), 5))["type"] == "connection_ack"
        for ws in [*open_ones, other, again]:
            await ws.close()


async def test_subscriptions_per_connection_are_limited(settings, factory):
    owner = await factory.user()
    await factory.organization(owner)
    subscription = "subscription { contentStatusChanged { contentId status } }"
    async with running(settings, max_subscriptions_per_connection=1) as app, live_server(app) as address:
        ws = await ws_connect(address, owner.token)
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": subscription}}))
        await asyncio.sleep(0.2)
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": subscription}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message["type"] == "error" and message["id"] == "2"
        assert "limit" in message["payload"][0]["message"]
        await ws.close()


# --- web security -----------------------------------------------------------------------------------


async def test_cors_preflight_allows_only_listed_origins(settings):
    async with running(settings, cors_allowed_origins="https://shop.example, https://admin.example") as app, \
            client(app) as http:
        preflight = {"access-control-request-method": "POST",
                     "access-control-request-headers": "content-type, authorization"}
        allowed = await http.options("/graphql", headers={"origin": "https://shop.example", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        denied = await http.options("/graphql", headers={"origin": "https://evil.example", **preflight})
        assert denied.status_code == 400
        assert "access-control-allow-origin" not in denied.headers
        simple = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://admin.example"})
        assert simple.headers["access-control-allow-origin"] == "https://admin.example"
        assert "etag" in simple.headers["access-control-expose-headers"].lower()
        foreign = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


async def test_no_cors_headers_without_an_allow_list(http):
    response = await http.options("/graphql", headers={"origin": "https://shop.example",
                                                       "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in response.headers


async def test_security_headers_on_every_response(http, settings):
    for response in [await http.get("/healthz"), await http.post("/graphql", json={"query": "{ __typename }"}),
                     await http.get("/graphql", headers={"accept": "text/html"})]:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # PUBLIC_BASE_URL is http here
    json_csp = (await http.get("/healthz")).headers["content-security-policy"]
    assert json_csp.startswith("default-src 'none'")
    graphiql_csp = (await http.get("/graphql", headers={"accept": "text/html"})).headers["content-security-policy"]
    assert "https://unpkg.com" in graphiql_csp
    async with running(settings, public_base_url="https://api.example") as app, client(app) as secure:
        response = await secure.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_policies(settings, factory):
    owner, customer = await factory.user(), await factory.user()
    await factory.organization(owner)
    platform_owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    member = await factory.user()
    org = await factory.organization(await factory.user())
    await factory.member(org, member, OrgRole.MEMBER)
    expected = {
        "on": {None: True, customer.token: True, owner.token: True},
        "off": {None: False, owner.token: False, platform_owner.token: False},
        "staff": {None: False, customer.token: False, owner.token: True, member.token: True, platform_owner.token: True},
    }
    for mode, cases in expected.items():
        async with running(settings, introspection=mode) as app, client(app) as http:
            for token, allowed in cases.items():
                body = (await post(http, INTROSPECTION, token=token)).json()
                if allowed:
                    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}, (mode, body)
                else:
                    assert body["data"] is None and codes(body) == {"GRAPHQL_VALIDATION_FAILED"}, (mode, body)
                    assert "introspection" in body["errors"][0]["message"]
            # __typename is not introspection.
            assert (await post(http, "{ __typename }")).json()["data"] == {"__typename": "Query"}


async def test_field_suggestions_are_hidden_when_configured(gql, settings):
    body = await gql("{ viewr { id } }")
    assert "Did you mean" in body["errors"][0]["message"]  # shown outside production
    async with running(settings, hide_field_suggestions=True) as app, client(app) as http:
        body = (await post(http, "{ viewr { id } }")).json()
        [error] = body["errors"]
        assert error["message"] == "Cannot query field 'viewr' on type 'Query'."
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_production_defaults():
    production = Settings(environment="production")
    assert (production.introspection, production.graphiql, production.hide_field_suggestions) == ("staff", False, True)
    development = Settings(environment="development")
    assert (development.introspection, development.graphiql, development.hide_field_suggestions) == ("on", True, False)
    assert Settings(environment="production", graphiql=True, introspection="on").graphiql is True
