"""Subscribing to a tier on Stripe Billing (the stand-in, through the official library; webhooks signed with the
real scheme): the checkout in subscription mode, the subscription row kept by webhooks exactly once under replays,
concurrent deliveries and any arrival order, credits once per paid invoice, and the customer's own changes."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

from codex_graphql.relay import decode_id
from tests.subscriptions.support import (
    CANCEL,
    CHANGE,
    PORTAL,
    RESUME,
    RETURN,
    StripeShop,
    created,
    start,
    subscribed,
    subscriptions_of,
    wire_webhooks,
)


async def _tier(shop: StripeShop, **fields: Any) -> dict[str, Any]:
    wire_webhooks(shop)
    return await created(shop.gql, shop.token, published=True, **fields)


async def _row(admin_db: Any) -> Any:
    return await admin_db.fetchrow("select * from subscription where stripe_subscription_id is not null")


async def _credits(admin_db: Any) -> list[tuple[str, int]]:
    rows = await admin_db.fetch("select idempotency_key, amount from credit_transaction order by created_at")
    return [(r["idempotency_key"], r["amount"]) for r in rows]


async def test_a_checkout_in_subscription_mode_makes_a_trialing_subscription_with_credits(stripe_shop: StripeShop,
                                                                                          admin_db):
    shop = stripe_shop
    tier = await _tier(shop)
    started = await start(shop.gql, shop.actors.customer.token, tier["id"])
    assert started["errors"] == [] and started["checkoutUrl"].startswith("https://checkout.stripe.com/")
    again = await start(shop.gql, shop.actors.customer.token, tier["id"])  # a retry with the same key
    assert again == started and len(shop.stripe.sessions) == 1
    [session] = shop.stripe.sessions.values()
    assert session["mode"] == "subscription" and session["customer_email"] == shop.actors.customer.email
    setup = shop.stripe.subscription_setup[session["id"]]
    assert setup["trial_days"] == 7 and setup["price"] == shop.stripe.prices[setup["price"]]["id"]
    assert shop.stripe.prices[setup["price"]]["unit_amount"] == 1500
    assert await subscriptions_of(shop.gql, shop.actors.customer.token) == []  # not completed yet

    events = shop.stripe.complete_subscription(session["id"])
    assert {r.status_code for r in await shop.stripe.send(events)} == {200}
    [mine] = await subscriptions_of(shop.gql, shop.actors.customer.token)
    assert mine["id"] == started["subscriptionId"]
    assert (mine["status"], mine["interval"], mine["hasAccess"], mine["cancelAtPeriodEnd"]) == (
        "TRIALING", "MONTH", True, False)
    assert mine["tier"]["id"] == tier["id"] and mine["trialEnd"] == mine["currentPeriodEnd"]
    row = await _row(admin_db)
    assert row["stripe_customer_id"] == session["customer"] and row["stripe_subscription_id"] == session["subscription"]
    assert row["access_until"] - row["current_period_end"] == timedelta(days=2)  # the renewal's leeway
    invoice = session["invoice"]
    assert await _credits(admin_db) == [(f"invoice:{invoice}", 2)]

    # Every event again, each three times at once: nothing changes.
    before = dict(await _row(admin_db))
    responses = await shop.stripe.send(events * 3)
    assert {r.status_code for r in responses} == {200}
    assert dict(await _row(admin_db)) == before
    assert await _credits(admin_db) == [(f"invoice:{invoice}", 2)]

    # Subscribing twice to the same tier is refused, nothing made.
    twice = await start(shop.gql, shop.actors.customer.token, tier["id"], key="sub-2")
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("ALREADY_EXISTS", ["input", "tierId"])]
    assert await admin_db.fetchval("select count(*) from subscription") == 1 and len(shop.stripe.sessions) == 1


async def test_concurrent_deliveries_in_any_order_end_in_the_same_state_once(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    tier = await _tier(shop, trialDays=0)
    events = await subscribed(shop, tier["id"], deliver=False)
    subscription_id = next(e for e in events if e["type"] == "customer.subscription.created")["data"]["object"]["id"]
    renewal = shop.stripe.renew(subscription_id)  # a second period, paid
    shop.stripe.undelivered.clear()
    everything = events + renewal
    shuffled = [e for e in everything for _ in range(3)]
    random.Random(15).shuffle(shuffled)
    responses = await asyncio.gather(*(shop.stripe.send([e]) for e in shuffled))
    assert {r.status_code for [r] in responses} == {200}

    row = await _row(admin_db)
    start_, end = shop.stripe.period(shop.stripe.subscriptions[subscription_id])
    assert row["status"] == "ACTIVE" and int(row["current_period_start"].timestamp()) == start_
    assert int(row["current_period_end"].timestamp()) == end
    invoices = {e["data"]["object"]["id"] for e in everything if e["type"] == "invoice.paid"}
    assert sorted(await _credits(admin_db)) == sorted((f"invoice:{i}", 2) for i in invoices)
    assert await admin_db.fetchval("select count(*) from stripe_event") == len(everything)

    # The first period's events, delivered late again, never take the row back.
    late = [e for e in events if e["type"].startswith("customer.subscription")]
    await shop.stripe.send(late)
    assert dict(await _row(admin_db)) == dict(row)


async def test_unknown_subscriptions_tiers_and_customers_are_logged_and_ignored(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    tier = await _tier(shop, trialDays=0)
    events = await subscribed(shop, tier["id"], deliver=False)
    created_event = next(e for e in events if e["type"] == "customer.subscription.created")
    before = [dict(r) for r in await admin_db.fetch("select * from subscription")]
    forged = []
    for change in ({"codex_subscription_id": "00000000-0000-0000-0000-000000000000"},  # no such row
                   {"codex_subscription_id": None}, {"organization_id": "not-a-uuid"},  # not ours
                   {"user_id": str(shop.actors.staff_with.user_id)}):  # someone else's row
        event = shop.stripe.event("customer.subscription.updated", created_event["data"]["object"])
        event["data"]["object"]["metadata"] = {**event["data"]["object"]["metadata"], **change}
        forged.append(event)
    unknown_price = shop.stripe.event("customer.subscription.updated", created_event["data"]["object"])
    unknown_price["data"]["object"]["items"]["data"][0]["price"]["id"] = "price_elsewhere"
    forged.append(unknown_price)
    responses = await shop.stripe.send(forged)
    assert {r.status_code for r in responses} == {200}
    assert [dict(r) for r in await admin_db.fetch("select * from subscription")] == before
    outcomes = [await admin_db.fetchval("select outcome from stripe_event where id = $1", e["id"]) for e in forged]
    assert outcomes == ["unknown_subscription", "not_ours", "not_ours", "unknown_subscription", "unknown_tier"]


async def test_cancel_resume_change_tier_and_the_portal(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    tier = await _tier(shop, trialDays=0)
    gold = await created(shop.gql, shop.token, name="Gold", monthlyPriceCents=3000, annualPriceCents=30000,
                         published=True)
    await subscribed(shop, tier["id"])
    [mine] = await subscriptions_of(shop.gql, shop.actors.customer.token)
    token = shop.actors.customer.token

    cancelled = (await shop.gql(CANCEL, {"input": {"subscriptionId": mine["id"], "atPeriodEnd": True}}, token))
    payload = cancelled["data"]["cancelSubscription"]
    assert payload["errors"] == [] and payload["subscription"]["cancelAtPeriodEnd"] is True
    assert payload["subscription"]["accessEndsAt"] == payload["subscription"]["currentPeriodEnd"]
    stripe_sub = shop.stripe.subscriptions[(await _row(admin_db))["stripe_subscription_id"]]
    assert stripe_sub["cancel_at_period_end"] is True
    assert {r.status_code for r in await shop.stripe.send()} == {200}  # the webhook of the same change: no change
    assert (await _row(admin_db))["cancel_at_period_end"] is True

    resumed = (await shop.gql(RESUME, {"input": {"subscriptionId": mine["id"]}}, token))["data"]["resumeSubscription"]
    assert resumed["errors"] == [] and resumed["subscription"]["cancelAtPeriodEnd"] is False
    assert stripe_sub["cancel_at_period_end"] is False
    again = (await shop.gql(RESUME, {"input": {"subscriptionId": mine["id"]}}, token))["data"]["resumeSubscription"]
    assert [e["code"] for e in again["errors"]] == ["INVALID_STATE"]

    changed = (await shop.gql(CHANGE, {"input": {"subscriptionId": mine["id"], "tierId": gold["id"],
                                                 "interval": "MONTH"}}, token))["data"]["changeSubscriptionTier"]
    assert changed["errors"] == [] and changed["subscription"]["tier"]["name"] == "Gold"
    assert stripe_sub["items"]["data"][0]["price"]["unit_amount"] == 3000
    assert shop.stripe.pending_items[stripe_sub["id"]]  # Stripe's proration, for the next invoice
    same = (await shop.gql(CHANGE, {"input": {"subscriptionId": mine["id"], "tierId": gold["id"],
                                              "interval": "MONTH"}}, token))["data"]["changeSubscriptionTier"]
    assert [(e["code"], e["field"]) for e in same["errors"]] == [("INVALID_INPUT", ["input", "tierId"])]
    await shop.stripe.send()
    assert decode_id(gold["id"], "SubscriptionTier") == (await _row(admin_db))["tier_id"]

    portal = (await shop.gql(PORTAL, {"input": {"subscriptionId": mine["id"], "returnUrl": RETURN}}, token))
    url = portal["data"]["createBillingPortalSession"]["url"]
    assert url.startswith("https://billing.stripe.com/")
    [portal_session] = shop.stripe.portal_sessions.values()
    assert portal_session["customer"] == stripe_sub["customer"] and portal_session["return_url"] == RETURN

    ended = (await shop.gql(CANCEL, {"input": {"subscriptionId": mine["id"], "atPeriodEnd": False}}, token))
    payload = ended["data"]["cancelSubscription"]
    assert payload["errors"] == [] and payload["subscription"]["status"] == "CANCELED"
    assert payload["subscription"]["hasAccess"] is False and payload["subscription"]["accessEndsAt"] is None
    await shop.stripe.send()
    assert (await _row(admin_db))["status"] == "CANCELED"


async def test_bad_input_changes_nothing(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    tier = await _tier(shop, trialDays=0, annualPriceCents=None)
    draft = await created(shop.gql, shop.token, name="Draft", published=False)
    archived = await created(shop.gql, shop.token, name="Old", published=True)
    await shop.gql.ok("mutation($i: ArchiveSubscriptionTierInput!) { archiveSubscriptionTier(input: $i) { "
                      "errors { code } } }", {"i": {"tierId": archived["id"]}}, shop.token)
    token = shop.actors.customer.token
    cases = [
        (start(shop.gql, token, tier["id"], "YEAR"), ("INVALID_INPUT", ["input", "interval"])),
        (start(shop.gql, token, draft["id"]), ("NOT_FOUND", ["input", "tierId"])),
        (start(shop.gql, token, archived["id"]), ("NOT_FOUND", ["input", "tierId"])),  # off the storefront
        (start(shop.gql, shop.token, archived["id"]), ("INVALID_STATE", ["input", "tierId"])),  # its staff see it
        (start(shop.gql, token, "not-an-id"), ("NOT_FOUND", ["input", "tierId"])),
    ]
    for call, expected in cases:
        result = await call
        assert [(e["code"], e["field"]) for e in result["errors"]] == [expected], result
        assert result["checkoutUrl"] is None
    bad_url = await shop.gql(
        "mutation($input: StartSubscriptionCheckoutInput!) { startSubscriptionCheckout(input: $input) { errors { "
        "code field } } }", {"input": {"tierId": tier["id"], "interval": "MONTH", "successUrl": "https://evil.test/",
                                       "cancelUrl": RETURN, "idempotencyKey": "k"}}, token)
    assert bad_url["data"]["startSubscriptionCheckout"]["errors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "successUrl"]}]
    assert await admin_db.fetchval("select count(*) from subscription") == 0
    assert shop.stripe.sessions == {}

    # Someone else's subscription is NOT_FOUND for every change, staff of its organization included.
    await subscribed(shop, tier["id"])
    [mine] = await subscriptions_of(shop.gql, token)
    before = dict(await _row(admin_db))
    for other in (shop.actors.staff_with.token, shop.actors.other_staff.token):
        for document, name, extra in ((CANCEL, "cancelSubscription", {"atPeriodEnd": False}),
                                      (RESUME, "resumeSubscription", {}),
                                      (CHANGE, "changeSubscriptionTier", {"tierId": tier["id"], "interval": "MONTH"}),
                                      (PORTAL, "createBillingPortalSession", {"returnUrl": RETURN})):
            body = await shop.gql(document, {"input": {"subscriptionId": mine["id"], **extra}}, other)
            assert [(e["code"], e["field"]) for e in body["data"][name]["errors"]] == [
                ("NOT_FOUND", ["input", "subscriptionId"])], body
    assert dict(await _row(admin_db)) == before
    assert shop.stripe.portal_sessions == {}


async def test_concurrent_starts_with_one_key_make_one_row_and_one_checkout(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    tier = await _tier(shop)
    token = shop.actors.customer.token
    answers = await asyncio.gather(*(start(shop.gql, token, tier["id"], key="same-key") for _ in range(6)))
    assert all(a["errors"] == [] for a in answers), answers
    assert len({a["subscriptionId"] for a in answers}) == 1 and len({a["checkoutUrl"] for a in answers}) == 1
    assert await admin_db.fetchval("select count(*) from subscription") == 1
    assert len(shop.stripe.sessions) == 1
