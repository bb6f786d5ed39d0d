"""Issue 21 item 4 (unauthenticated memory exhaustion) and item 6 (Cache-Control), through the app against
real PostgreSQL and Redis: the document size cap, caches keyed by hash and bounded by bytes, APQ
registration quotas and TTLs, the minimum cost of every request, and `Cache-Control: no-store`."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from codex_graphql import doccache
from codex_graphql.app import create_app
from codex_graphql.fastpath import engine as fastpath_engine
from codex_graphql.persisted import document_hash
from codex_graphql.settings import Settings
from tests.conftest import REDIS_URL
from tests.support import PASSWORD

ATTACK = "{__typename}\n#" + "x" * 900_000 + "\n"  # the reported request: cost 0, a 0.9 MB comment
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


@asynccontextmanager
async def running(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update=overrides))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client(app: Any, ip: str = "198.51.100.20") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def caches_of(app: Any) -> dict[str, Any]:
    endpoint = app.state.runtime["graphql"]
    return {"parsed": endpoint.schema.document_caches.parsed, "validated": endpoint.schema.document_caches.validated,
            "cost": endpoint.schema.cost_calculator.cache, "plans": endpoint.fast.plans,
            "apq": endpoint.persisted.registered}


def by_hash(query: str | None, digest: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest or document_hash(query or "")}}}
    if query is not None:
        body["query"] = query
    return body


def code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


# --- the document size cap --------------------------------------------------------------------------


async def test_the_reported_attack_is_refused_before_parsing_and_leaves_no_memory_behind(
        settings, redis_client, monkeypatch):
    parses: list[int] = []
    for module in (doccache, fastpath_engine):
        original = module.parse

        def counting(source: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            parses.append(len(source))
            return _original(source, *args, **kwargs)

        monkeypatch.setattr(module, "parse", counting)
    async with running(settings) as app, client(app) as http:
        await http.post("/graphql", json={"query": "{ __typename }"})  # warm: pools, caches, buckets exist
        caches = caches_of(app)
        before = {name: (len(cache), cache.bytes) for name, cache in caches.items()}
        parses.clear()
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            answers = []
            for i in range(20):
                response = await http.post("/graphql", json={"query": ATTACK + str(i)})
                answers.append((response.status_code, response.json()))  # not the response: it keeps the request
                del response
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
        for status, body in answers:
            assert status == 413, body
            assert body["errors"][0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
            assert body["data"] is None
        assert parses == []  # never parsed, by the resolvers' path or the compiled one
        assert {name: (len(cache), cache.bytes) for name, cache in caches.items()} == before
        assert grown < 8_000_000, grown  # 20 x 0.9 MB went through; reported: +35 MB kept
        assert [key async for key in redis_client.scan_iter(match=f"{settings.redis_namespace}:apq:*")] == []


async def test_the_cap_applies_to_post_get_and_apq_registration(settings, redis_client):
    limit = 2_000
    async with running(settings, max_document_bytes=limit) as app, client(app) as http:
        at_limit = "{ __typename }#" + "y" * (limit - len("{ __typename }#"))
        assert len(at_limit.encode()) == limit
        over = at_limit + "y"
        multibyte = "{ __typename }#" + "é" * (limit // 2)  # fewer characters than the limit, more bytes
        assert len(multibyte) < limit < len(multibyte.encode())

        ok = await http.post("/graphql", json={"query": at_limit})
        assert ok.status_code == 200 and ok.json()["data"] == {"__typename": "Query"}
        for query in (over, multibyte):
            for accept in ("application/json", GRAPHQL_RESPONSE_JSON):
                response = await http.post("/graphql", json={"query": query}, headers={"accept": accept})
                assert response.status_code == 413 and code(response) == "DOCUMENT_TOO_LARGE"
                assert ("data" in response.json()) is (accept == "application/json")

        get_ok = await http.get("/graphql", params={"query": at_limit})
        assert get_ok.status_code == 200 and get_ok.json()["data"] == {"__typename": "Query"}
        get_over = await http.get("/graphql", params={"query": over})
        assert get_over.status_code == 413 and code(get_over) == "DOCUMENT_TOO_LARGE"

        registered = await http.post("/graphql", json=by_hash(over))
        assert registered.status_code == 413 and code(registered) == "DOCUMENT_TOO_LARGE"
        stored = f"{settings.redis_namespace}:apq:{document_hash(over)}"
        assert await redis_client.exists(stored) == 0
        # ... and the GET form of a registration.
        get_registered = await http.get("/graphql", params={"query": over, "extensions": json.dumps(by_hash(over)["extensions"])})
        assert get_registered.status_code == 413 and code(get_registered) == "DOCUMENT_TOO_LARGE"
        assert await redis_client.exists(stored) == 0
        assert all(cache.bytes < 5 * limit * 600 for cache in caches_of(app).values())


async def test_the_schema_refuses_large_documents_on_every_transport(app):
    """WebSocket operations run through the same schema: the cap holds there too, before parsing."""
    schema = app.state.runtime["graphql"].schema
    before = len(schema.document_caches.parsed)
    result = await schema.execute(ATTACK)
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors or []] == ["DOCUMENT_TOO_LARGE"]
    assert len(schema.document_caches.parsed) == before


# --- caches keyed by hash, bounded by bytes -----------------------------------------------------------


async def test_caches_stay_within_their_byte_budgets_under_many_large_documents(settings):
    budget = 400_000
    padding = "#" + "z" * 30_000 + "\n"  # 30 KB documents, allowed (under 100 KB)
    async with running(settings, parser_cache_bytes=budget, validation_cache_bytes=budget, fast_path_cache_bytes=budget,
                       cost_cache_bytes=budget, apq_local_cache_bytes=budget,
                       rate_limit_capacity=1_000_000) as app, client(app) as http:
        caches = caches_of(app)
        for i in range(40):
            # One shape the compiled path runs (its plan keeps the parsed document), one it leaves to the
            # resolvers (parsed, validated and costed by the schema's caches), one with a validation error.
            for query in (f"query Compiled{i} {{ __typename }}\n{padding}",
                          f'query Resolved{i} {{ __type(name: "Query") {{ name }} }}\n{padding}',
                          f"query Invalid{i} {{ noSuchField{i} }}\n{padding}"):
                response = await http.post("/graphql", json=by_hash(query))  # APQ registration, stored locally too
                assert response.status_code == 200, response.text[:300]
        for name, cache in caches.items():
            assert 0 < cache.bytes <= budget, (name, cache.bytes)
        # The estimate is never below the text the entries keep alive.
        assert sum(len(doc.loc.source.body) for doc, _ in caches["parsed"]._cache.values()) <= budget
        assert len(caches["parsed"]) < 40  # evicted: 120 documents of 30 KB do not fit in 400 KB
        assert all(isinstance(key[0], str) and len(key[0]) == 64 for key in caches["parsed"]._cache)  # by hash
        assert all(len(key[0]) == 64 for key in caches["plans"]._cache)
        assert all(len(key[0]) == 64 for key in caches["cost"]._cache)
        # A document seen again is answered from the caches (hash keys find it).
        again = f'query Resolved39 {{ __type(name: "Query") {{ name }} }}\n{padding}'
        hits = caches["parsed"].hits
        assert (await http.post("/graphql", json={"query": again})).status_code == 200
        assert caches["parsed"].hits == hits + 1


# --- APQ registration: quotas and TTLs --------------------------------------------------------------


async def test_anonymous_apq_registrations_are_quota_d_per_address_and_expire_within_the_hour(
        settings, factory, redis_client):
    ns = settings.redis_namespace
    async with running(settings, apq_anonymous_registrations_per_hour=3) as app, \
            client(app, "198.51.100.31") as first, client(app, "198.51.100.32") as second:
        documents = [f"query Quota{i}_{uuid.uuid4().hex[:6]} {{ __typename }}" for i in range(10)]
        # Ten registrations at once from one address: exactly three are stored (the quota is atomic).
        responses = await asyncio.gather(*(first.post("/graphql", json=by_hash(doc)) for doc in documents))
        for response in responses:  # every document still runs
            assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}, response.text
        stored = [doc for doc in documents if await redis_client.exists(f"{ns}:apq:{document_hash(doc)}")]
        assert len(stored) == 3
        for doc in stored:
            ttl = await redis_client.ttl(f"{ns}:apq:{document_hash(doc)}")
            assert 0 < ttl <= settings.apq_anonymous_ttl_seconds == 3600
        quota_ttl = await redis_client.ttl(f"{ns}:apq-quota:ip:198.51.100.31")
        assert 0 < quota_ttl <= 3600
        unstored = next(doc for doc in documents if doc not in stored)
        missing = await first.post("/graphql", json=by_hash(None, document_hash(unstored)))
        assert code(missing) == "PERSISTED_QUERY_NOT_FOUND"
        found = await first.post("/graphql", json=by_hash(None, document_hash(stored[0])))
        assert found.json()["data"] == {"__typename": "Query"}
        # Another address has its own quota.
        other = f"query OtherAddress_{uuid.uuid4().hex[:6]} {{ __typename }}"
        assert (await second.post("/graphql", json=by_hash(other))).status_code == 200
        assert await redis_client.exists(f"{ns}:apq:{document_hash(other)}") == 1

        # Signed in (from the exhausted address): the user's quota, and the long TTL.
        user = await factory.user()
        signed_in = f"query SignedIn_{uuid.uuid4().hex[:6]} {{ __typename }}"
        response = await first.post("/graphql", json=by_hash(signed_in), headers={"authorization": f"Bearer {user.token}"})
        assert response.status_code == 200
        ttl = await redis_client.ttl(f"{ns}:apq:{document_hash(signed_in)}")
        assert ttl > 3600 and ttl <= settings.apq_ttl_seconds


# --- no request is free -------------------------------------------------------------------------------


async def test_every_request_pays_a_minimum_and_its_document_size(settings):
    async with running(settings, rate_limit_capacity=1000, rate_limit_restore_rate=0.001) as app, client(app) as http:
        available = []
        for _ in range(3):
            body = (await http.post("/graphql", json={"query": "{ __typename }"})).json()  # the compiled path
            report = body["extensions"]["cost"]
            assert report["requestedQueryCost"] == 0 and report["chargedCost"] == 1
            available.append(report["throttleStatus"]["currentlyAvailable"])
        assert available == [999, 998, 997]
        body = (await http.post("/graphql", json={"query": '{ node(id: "x") { id } }'})).json()  # the resolvers
        assert body["extensions"]["cost"]["requestedQueryCost"] == 1
        assert body["extensions"]["cost"]["chargedCost"] == 2
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 995
        padded = "{ __typename }#" + "w" * 10 * 1024  # 10 KiB and a little more: 10 points
        body = (await http.post("/graphql", json={"query": padded})).json()
        assert body["extensions"]["cost"]["chargedCost"] == 1 + 10
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 984
        # Refused before execution (a syntax error, a validation error): still charged.
        assert code(await http.post("/graphql", json={"query": "{ __typename"})) == "GRAPHQL_PARSE_FAILED"
        assert code(await http.post("/graphql", json={"query": "{ nope }"})) == "GRAPHQL_VALIDATION_FAILED"
        body = (await http.post("/graphql", json={"query": "{ __typename }"})).json()
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 981


async def test_a_concurrent_burst_of_free_looking_requests_is_throttled_exactly(settings):
    async with running(settings, rate_limit_capacity=10, rate_limit_restore_rate=0.001) as app, client(app) as http:
        responses = await asyncio.gather(*(http.post("/graphql", json={"query": "{ __typename }"}) for _ in range(25)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 10 + [429] * 15
        assert {code(r) for r in responses if r.status_code == 429} == {"THROTTLED"}


# --- Cache-Control: no-store ----------------------------------------------------------------------------


async def test_responses_carrying_a_session_and_every_graphql_response_are_not_stored(settings):
    async with running(settings) as app, client(app) as http:
        email = f"nostore-{uuid.uuid4().hex[:8]}@example.com"
        register = await http.post("/graphql", json={
            "query": "mutation($e:String!,$p:String!){register(input:{email:$e,password:$p,name:\"N\"}){token errors{code}}}",
            "variables": {"e": email, "p": PASSWORD}})
        assert register.json()["data"]["register"]["token"]
        assert "set-cookie" in register.headers and register.headers["cache-control"] == "no-store"
        http.cookies.clear()
        login = await http.post("/graphql", json={
            "query": "mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){token errors{code}}}",
            "variables": {"e": email, "p": PASSWORD}})
        token = login.json()["data"]["login"]["token"]
        assert token and "set-cookie" in login.headers and login.headers["cache-control"] == "no-store"
        logout = await http.post("/graphql", json={"query": "mutation{logout(input:{}){errors{code}}}"},
                                 headers={"authorization": f"Bearer {token}"})
        assert logout.headers["cache-control"] == "no-store"
        http.cookies.clear()
        for response in (
            await http.post("/graphql", json={"query": "{ viewer { id } }"}),
            await http.post("/graphql", json={"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE_JSON}),
            await http.post("/graphql", json={"query": "{ nope }"}),
            await http.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
            await http.get("/graphql", params={"query": "{ __typename }"}),
        ):
            assert response.headers["cache-control"] == "no-store", (response.status_code, response.text[:200])
