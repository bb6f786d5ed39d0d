"""Rate limits and cost are priced and charged once per request, by one function
(``ratelimit.charge_request``), whichever executor answers: the compiled path, the resolvers, or both
for a document with compiled and resolved roots."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from codex_graphql.ratelimit import limits_for
from codex_graphql.relay import to_global_id
from tests.conftest import REDIS_URL
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    STOREFRONT,
    fast_path,
    resolvers_only,
    world,
)
from tests.fastpath.test_fastpath_fallback import MIXED, fallbacks, variables_for


@pytest.fixture
def settings(settings):
    # A bucket that barely refills during a test, so that its level shows exactly what was taken.
    return settings.model_copy(update={"rate_limit_restore_rate": 0.001, "rate_limit_capacity": 100_000,
                                       "max_query_cost": 50_000})


@pytest.fixture
async def bucket(settings) -> Any:
    client = aioredis.Redis.from_url(REDIS_URL)

    async def level(user_id: Any) -> float:
        raw = await client.hget(f"{settings.redis_namespace}:ratelimit:user:{user_id}", "tokens")
        return float(raw) if raw is not None else float(settings.rate_limit_capacity)

    level.client = client  # type: ignore[attr-defined]
    yield level
    await client.aclose()


def count_takes(app: Any) -> list[int]:
    """The costs asked of the bucket, one entry per charge."""
    limits = limits_for(app.state.runtime["services"])
    asked: list[int] = []
    take = limits.bucket.take

    async def counting(caller: str, cost: int, capacity: int, rate: float) -> Any:
        asked.append(cost)
        return await take(caller, cost, capacity, rate)

    limits.bucket.take = counting  # type: ignore[method-assign]
    return asked


async def charged(gql: Any, bucket: Any, person: Any, document: str, variables: dict[str, Any]) -> tuple[float, Any]:
    before = await bucket(person.user_id)
    response = await gql.raw(document, variables, person.token)
    return round(before - await bucket(person.user_id)), response


async def test_the_same_document_is_charged_the_same_through_both_executors(app, gql, resolvers_only, world, bucket,  # noqa: F811
                                                                            admin_db):
    customer = world["customer"]
    asked = count_takes(app)
    for document, variables in ((STOREFRONT, {"slug": "shop", "first": 20}), (MIXED, await variables_for(admin_db, world))):
        assert fast_path(app).plan(document, None) is not None
        fast_taken, fast = await charged(gql, bucket, customer, document, variables)
        slow_taken, slow = await charged(resolvers_only, bucket, customer, document, variables)
        assert fast.status_code == slow.status_code == 200
        fast_cost, slow_cost = fast.json()["extensions"]["cost"], slow.json()["extensions"]["cost"]
        assert fast_taken == slow_taken == fast_cost["chargedCost"] == slow_cost["chargedCost"] > 0
        assert fast_cost["requestedQueryCost"] == slow_cost["requestedQueryCost"] > 0
    assert len(asked) == 2  # one charge per request on the compiled server, the mixed document included


async def test_a_mixed_document_is_charged_once_for_the_whole_document(app, gql, world, bucket, admin_db):  # noqa: F811
    customer = world["customer"]
    # `thing: node(id:)` with a User id: a type node(id:) does not compile, so that root runs through the resolvers.
    variables = {**await variables_for(admin_db, world), "node": to_global_id("User", customer.user_id)}
    plan = fast_path(app).plan(MIXED, None)
    assert plan is not None and any(s.root is not None for s in plan.slots)
    asked = count_takes(app)
    resolved = fallbacks(app, "Query.node")
    taken, response = await charged(gql, bucket, customer, MIXED, variables)
    assert fallbacks(app, "Query.node") == resolved + 1
    cost = response.json()["extensions"]["cost"]
    assert asked == [taken] == [cost["chargedCost"]]
    assert cost["requestedQueryCost"] == cost["actualQueryCost"] and cost["chargedCost"] > cost["requestedQueryCost"]


async def test_refused_requests_are_charged_once_too(app, gql, world, bucket, admin_db, settings):  # noqa: F811
    customer = world["customer"]
    services = app.state.runtime["services"]
    variables = await variables_for(admin_db, world)
    asked = count_takes(app)
    # Over MAX_QUERY_COST: only the overhead is taken, once, and the resolvers phrase the refusal.
    services.settings.max_query_cost = 1
    taken, response = await charged(gql, bucket, customer, MIXED, variables)
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX" and body["data"] is None
    assert asked == [taken] == [body["extensions"]["cost"]["chargedCost"]] and taken < body["extensions"]["cost"]["requestedQueryCost"]
    services.settings.max_query_cost = 50_000
    # An empty bucket: THROTTLED (429), asked once, nothing taken.
    await bucket.client.hset(f"{settings.redis_namespace}:ratelimit:user:{customer.user_id}",
                             mapping={"tokens": "0", "ts": str(time.time())})
    asked.clear()
    taken, response = await charged(gql, bucket, customer, STOREFRONT, {"slug": "shop"})
    assert response.status_code == 429 and response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert len(asked) == 1 and taken == 0
    # A document that does not validate: its overhead, once.
    await bucket.client.delete(f"{settings.redis_namespace}:ratelimit:user:{customer.user_id}")
    asked.clear()
    taken, response = await charged(gql, bucket, customer, "{ organization(slug: 1) { nope } }", {})
    assert asked == [taken] == [1]
