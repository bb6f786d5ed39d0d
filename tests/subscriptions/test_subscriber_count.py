"""SubscriptionTier.subscriberCount: TRIALING, ACTIVE and PAST_DUE subscriptions of the tier, for staff with
SUBSCRIPTIONS_MANAGE only (null and FORBIDDEN for everyone else, like `stripeProductId`), the same answer from the
compiled path and from the resolvers (whose dataloader counts a page of tiers in one statement)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.relay import decode_id
from tests.subscriptions.support import created, local_actors
from tests.support import GraphQLClient, statements

LIST = """query($slug: String!) { organization(slug: $slug) { subscriptionTiers { id name subscriberCount } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on SubscriptionTier { id subscriberCount } } }"


@pytest.fixture
async def resolvers_only(settings: Any) -> AsyncIterator[tuple[Any, GraphQLClient]]:
    """The same server with the compiled read path off: every field through the resolvers."""
    app = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 4322))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, GraphQLClient(http)


async def _subscribe(admin_db: Any, organization: uuid.UUID, user: uuid.UUID, tier_global_id: str,
                     *statuses: str) -> None:
    tier = decode_id(tier_global_id, "SubscriptionTier")
    for status in statuses:
        await admin_db.execute(
            "insert into subscription (id, organization_id, user_id, tier_id, interval, status, checkout_key) "
            "values ($1, $2, $3, $4, 'MONTH', $5, $6)", uuid.uuid4(), organization, user, tier, status,
            f"key-{uuid.uuid4().hex}")


def _codes(body: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in body.get("errors", [])}


async def test_subscriber_count_by_every_caller_in_both_executors(gql, factory, admin_db, resolvers_only):
    actors = await local_actors(factory)
    _, reference = resolvers_only
    gold = await created(gql, actors.staff_with.token, name="Gold", published=True)
    silver = await created(gql, actors.staff_with.token, name="Silver", published=True)
    await _subscribe(admin_db, actors.org, actors.customer.user_id, gold["id"],
                     "ACTIVE", "TRIALING", "PAST_DUE", "CANCELED", "INCOMPLETE")
    await _subscribe(admin_db, actors.org, actors.staff_without.user_id, gold["id"], "ACTIVE")
    await _subscribe(admin_db, actors.org, actors.customer.user_id, silver["id"], "CANCELED")
    # Another organization's subscriptions never count here.
    theirs = await created(gql, actors.other_staff.token, name="Theirs", published=True)
    await _subscribe(admin_db, actors.other_org, actors.customer.user_id, theirs["id"], "ACTIVE", "ACTIVE")

    for client in (gql, reference):
        for caller, token in actors.tokens().items():
            body = await client(LIST, {"slug": actors.org_slug}, token)
            tiers = {t["name"]: t["subscriberCount"] for t in body["data"]["organization"]["subscriptionTiers"]}
            node = await client(NODE, {"id": gold["id"]}, token)
            if caller == "staff_with_permission":
                assert "errors" not in body and tiers == {"Gold": 4, "Silver": 0}, (caller, body)
                assert "errors" not in node and node["data"]["node"] == {"id": gold["id"], "subscriberCount": 4}
                continue
            expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
            assert _codes(body) == {expected} and tiers == {"Gold": None, "Silver": None}, (caller, body)
            assert _codes(node) == {expected} and node["data"]["node"] == {"id": gold["id"], "subscriberCount": None}
        # Staff of the other organization with the permission see their own tier's count only.
        own = await client(NODE, {"id": theirs["id"]}, actors.other_staff.token)
        assert own["data"]["node"] == {"id": theirs["id"], "subscriberCount": 2}, own


async def test_subscriber_counts_cost_the_same_statements_for_2_tiers_as_for_8(gql, factory, admin_db, app,
                                                                                resolvers_only):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    reference_app, reference = resolvers_only

    async def count() -> tuple[int, int]:
        counts = []
        for application, client in ((app, gql), (reference_app, reference)):
            await client.ok(LIST, {"slug": actors.org_slug}, token)  # warm caches
            async with statements(application) as seen:
                data = await client.ok(LIST, {"slug": actors.org_slug}, token)
            assert all(t["subscriberCount"] == 1 for t in data["organization"]["subscriptionTiers"]), data
            counts.append(len(seen))
        return counts[0], counts[1]

    async def add_tiers(names: range) -> None:
        for n in names:
            tier = await created(gql, token, name=f"Tier {n}", published=True)
            await _subscribe(admin_db, actors.org, actors.customer.user_id, tier["id"], "ACTIVE", "CANCELED")

    await add_tiers(range(2))
    few = await count()
    await add_tiers(range(2, 8))
    assert await count() == few
    assert few[0] == 1, few  # compiled: the count is read in the tiers' statement
