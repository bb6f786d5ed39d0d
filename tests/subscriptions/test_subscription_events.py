"""subscriptionEvents for integrators (issue 15): STARTED, RENEWED, PAST_DUE and CANCELED written to the outbox with
the change that causes them, exactly once per change under replayed, duplicated (same state, new Stripe event id),
concurrent and reordered webhook deliveries, and delivered over a real WebSocket through Redis to staff with
PURCHASES_READ in the organization, and to no one else."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import pytest

from codex_graphql.relay import to_global_id
from tests.subscriptions.support import (
    CANCEL,
    StripeShop,
    created,
    subscribed,
    subscriptions_of,
    wire_webhooks,
)
from tests.support.live_server import live_server, next_message, subscribe

EVENTS = """subscription($org: ID!) { subscriptionEvents(organizationId: $org) {
  eventId type subscriptionId occurredAt customerEmail subscription { id status tier { name } } } }"""
TOPICS = ("subscription.started", "subscription.renewed", "subscription.past_due", "subscription.canceled")


async def _subscribe(address: str, token: str | None, organization_id: str, *, acting_in: str | None = None) -> Any:
    return await subscribe(address, token, EVENTS, {"org": organization_id}, acting_in=acting_in)


_next = next_message


async def _expect_event(ws: Any, expected_type: str) -> dict[str, Any]:
    message = await _next(ws, 15)
    assert message["type"] == "next" and "errors" not in message["payload"], message
    event = message["payload"]["data"]["subscriptionEvents"]
    assert event["type"] == expected_type, event
    return event


async def _expect_nothing(ws: Any, seconds: float = 1.5) -> None:
    with pytest.raises(TimeoutError):
        await _next(ws, seconds)


async def _deliver_every_way(shop: StripeShop, events: list[dict[str, Any]], seed: int) -> None:
    """Each event twice, plus a copy under a new Stripe event id (the same state again, past the inbox's dedupe),
    all at once in a shuffled order."""
    shop.stripe.undelivered.clear()
    copies = [{**event, "id": f"evt_copy_{uuid.uuid4().hex[:16]}"} for event in events]
    batch = [*events, *events, *copies]
    random.Random(seed).shuffle(batch)
    responses = await asyncio.gather(*(shop.stripe.send([event]) for event in batch))
    assert {response.status_code for [response] in responses} == {200}


async def _outbox(admin_db: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = await admin_db.fetch("select topic, payload from outbox_message where topic like 'subscription.%' "
                                "order by created_at, id")
    return [(row["topic"], json.loads(row["payload"])) for row in rows]  # asyncpg gives jsonb as text


@pytest.mark.timeout(120)
async def test_each_transition_is_one_event_under_replayed_concurrent_and_reordered_deliveries(
        stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0, name="Gold")
    actors = shop.actors
    async with live_server(shop.app) as address:
        staff = await _subscribe(address, actors.staff_with.token, to_global_id("Organization", actors.org))
        elsewhere = await _subscribe(address, actors.other_staff.token, to_global_id("Organization", actors.other_org))
        await asyncio.sleep(0.5)

        # The checkout completes (first invoice paid): STARTED, and no RENEWED for the first invoice.
        checkout = await subscribed(shop, tier["id"], deliver=False)
        await _deliver_every_way(shop, checkout, seed=1)
        started = await _expect_event(staff, "STARTED")
        assert started["customerEmail"] == actors.customer.email
        assert started["subscription"]["status"] == "ACTIVE" and started["subscription"]["tier"] == {"name": "Gold"}
        assert started["subscriptionId"] == started["subscription"]["id"]
        await _expect_nothing(staff)
        provider_id = next(e for e in checkout if e["type"] == "customer.subscription.created")["data"]["object"]["id"]

        # The second invoice is paid: RENEWED once.
        renewal = shop.stripe.renew(provider_id)
        await _deliver_every_way(shop, renewal, seed=2)
        renewed = await _expect_event(staff, "RENEWED")
        assert renewed["subscription"]["status"] == "ACTIVE"
        await _expect_nothing(staff)

        # The third invoice's payment fails: PAST_DUE once (the dunning email aside, no other event).
        failed = shop.stripe.renew(provider_id, paid=False)
        await _deliver_every_way(shop, failed, seed=3)
        past_due = await _expect_event(staff, "PAST_DUE")
        assert past_due["subscription"]["status"] == "PAST_DUE"
        await _expect_nothing(staff)

        # The last retry fails and the subscription is deleted: CANCELED once.
        ended = shop.stripe.end(provider_id)
        await _deliver_every_way(shop, ended, seed=4)
        canceled = await _expect_event(staff, "CANCELED")
        assert canceled["subscription"]["status"] == "CANCELED"
        await _expect_nothing(staff)

        # Everything once more, under new event ids, shuffled: older states are stale, the ended row is final,
        # the renewal invoice was announced already. Nothing is written, nothing delivered.
        before = await _outbox(admin_db)
        await _deliver_every_way(shop, checkout + renewal + failed + ended, seed=5)
        await _expect_nothing(staff, 2.0)
        assert await _outbox(admin_db) == before
        # Another organization's staff, following their own organization, heard nothing of it.
        await _expect_nothing(elsewhere, 0.5)
        await staff.close()
        await elsewhere.close()

    # The outbox holds exactly one row per transition, each in the subscription's organization.
    assert [topic for topic, _ in before] == list(TOPICS)
    assert {payload["subscriptionId"] for _, payload in before} == {
        str(await admin_db.fetchval("select id from subscription where stripe_subscription_id = $1", provider_id))}
    invoice = next(e for e in renewal if e["type"] == "invoice.paid")["data"]["object"]["id"]
    assert before[1][1]["invoiceId"] == invoice
    organizations = await admin_db.fetch("select distinct organization_id from outbox_message "
                                         "where topic like 'subscription.%'")
    assert [row["organization_id"] for row in organizations] == [actors.org]
    ids = await admin_db.fetch("select id from outbox_message where topic like 'subscription.%' order by created_at, id")
    assert [e["eventId"] for e in (started, renewed, past_due, canceled)] == [str(row["id"]) for row in ids]


async def test_a_cancellation_by_the_customer_is_announced_once(stripe_shop: StripeShop, admin_db):
    """The customer's own cancelSubscription (at once) applies the provider's answer: CANCELED in its transaction,
    and the webhook that follows changes nothing."""
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    await subscribed(shop, tier["id"])
    [mine] = await subscriptions_of(shop.gql, shop.actors.customer.token)
    done = (await shop.gql(CANCEL, {"input": {"subscriptionId": mine["id"], "atPeriodEnd": False}},
                           shop.actors.customer.token))["data"]["cancelSubscription"]
    assert done["errors"] == [] and done["subscription"]["status"] == "CANCELED", done
    assert [topic for topic, _ in await _outbox(admin_db)] == ["subscription.started", "subscription.canceled"]
    await shop.stripe.send()  # the provider's customer.subscription.deleted (and updated) arrive afterwards
    assert [topic for topic, _ in await _outbox(admin_db)] == ["subscription.started", "subscription.canceled"]


async def test_subscription_events_by_every_caller(stripe_shop: StripeShop):
    """The authorization matrix: PURCHASES_READ in the active organization, which must be the one watched."""
    actors = stripe_shop.actors
    organization = to_global_id("Organization", actors.org)
    async with live_server(stripe_shop.app) as address:
        for caller, token in actors.tokens().items():
            acting_in = actors.org_slug if caller == "staff_without_permission" else None
            ws = await _subscribe(address, token, organization, acting_in=acting_in)
            if caller == "staff_with_permission":
                await _expect_nothing(ws, 1.0)  # subscribed: no error, waiting for events
                await ws.close()
                continue
            message = await _next(ws, 5)
            assert message["type"] in ("error", "next"), (caller, message)
            errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            if message["type"] == "next":
                assert message["payload"]["data"] is None, (caller, message)
            expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
            assert [e["extensions"]["code"] for e in errors] == [expected], (caller, message)
            await ws.close()
