"""Access through a subscription: the same entitlement path as purchases (``viewerHasAccess`` and playback, no
subscription-specific check), for the tier's categories only, ending at the period end after a cancellation at
period end, at once on ``customer.subscription.deleted``, and after the organization's grace period when
PAST_DUE (with the dunning email queued at once)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from codex_graphql.relay import decode_id
from tests.subscriptions.support import (
    CANCEL,
    StripeShop,
    category,
    created,
    plays,
    subscribed,
    subscriptions_of,
)
from tests.support.commerce import insert_content


async def _shelf(shop: StripeShop, db: Any, admin_db: Any) -> tuple[dict[str, Any], str, str]:
    """A published tier granting category Yoga; an item in Yoga and one outside it."""
    yoga = await category(shop.gql, shop.token, "Yoga")
    tier = await created(shop.gql, shop.token, published=True, trialDays=0, categoryIds=[yoga])
    creator = shop.actors.staff_with.user_id
    inside = await insert_content(db, shop.actors.org, creator, "Sun salutation", 900)
    outside = await insert_content(db, shop.actors.org, creator, "Cooking", 900)
    await admin_db.execute("insert into content_category (content_id, category_id, organization_id) values ($1, $2, $3)",
                           decode_id(inside, "Content"), decode_id(yoga, "Category"), shop.actors.org)
    shop.stripe.webhook_client = shop.gql.http
    shop.stripe.webhook_url = "http://testserver/webhooks/stripe"
    return tier, inside, outside


def _subscription_id(events: list[dict[str, Any]]) -> str:
    return next(e for e in events if e["type"] == "customer.subscription.created")["data"]["object"]["id"]


async def test_a_subscriber_plays_the_tiers_items_until_the_period_end_after_cancelling(stripe_shop: StripeShop, db,
                                                                                      admin_db):
    shop = stripe_shop
    token = shop.actors.customer.token
    tier, inside, outside = await _shelf(shop, db, admin_db)
    assert not await plays(shop.gql, token, inside)
    events = await subscribed(shop, tier["id"])
    assert await plays(shop.gql, token, inside)
    assert not await plays(shop.gql, token, outside)  # not in the tier's categories
    assert not await plays(shop.gql, shop.actors.other_staff.token, inside)

    # The period is about to end (Stripe's clock, moved on by an update), then the customer cancels at its end.
    subscription = shop.stripe.subscriptions[_subscription_id(events)]
    now = int(time.time())
    for item in subscription["items"]["data"]:
        item["current_period_end"] = now + 3
    await shop.stripe.send([shop.stripe._emit("customer.subscription.updated", subscription)])
    [mine] = await subscriptions_of(shop.gql, token)
    cancelled = await shop.gql(CANCEL, {"input": {"subscriptionId": mine["id"], "atPeriodEnd": True}}, token)
    assert cancelled["data"]["cancelSubscription"]["errors"] == []
    assert await plays(shop.gql, token, inside)  # until the period's end
    await asyncio.sleep(max(0.0, now + 3.2 - time.time()))
    assert not await plays(shop.gql, token, inside)  # no webhook needed: the period is over


async def test_access_ends_at_once_when_the_subscription_is_deleted(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    token = shop.actors.customer.token
    tier, inside, _ = await _shelf(shop, db, admin_db)
    events = await subscribed(shop, tier["id"])
    assert await plays(shop.gql, token, inside)
    ended = shop.stripe.end(_subscription_id(events))
    assert {r.status_code for r in await shop.stripe.send(ended)} == {200}
    assert not await plays(shop.gql, token, inside)
    # A late update of the live subscription never brings access back.
    await shop.stripe.send([e for e in events if e["type"] == "customer.subscription.created"])
    assert not await plays(shop.gql, token, inside)
    assert (await subscriptions_of(shop.gql, token))[0]["status"] == "CANCELED"


async def test_past_due_keeps_access_for_the_grace_period_and_sends_the_dunning_email(stripe_shop: StripeShop, db,
                                                                                      admin_db):
    shop = stripe_shop
    token = shop.actors.customer.token
    tier, inside, _ = await _shelf(shop, db, admin_db)
    events = await subscribed(shop, tier["id"])
    renewal = shop.stripe.renew(_subscription_id(events), paid=False)
    assert [e["type"] for e in renewal][-1] == "invoice.payment_failed"
    assert {r.status_code for r in await shop.stripe.send(renewal)} == {200}
    [mine] = await subscriptions_of(shop.gql, token)
    assert mine["status"] == "PAST_DUE" and mine["hasAccess"] is True
    assert await plays(shop.gql, token, inside)  # within the grace period (7 days by default)
    row = await admin_db.fetchrow("select past_due_since, access_until from subscription where status = 'PAST_DUE'")
    assert (row["access_until"] - row["past_due_since"]).days == 7
    jobs = await admin_db.fetch("select payload from outbox_message where topic = 'send_subscription_dunning_email'")
    assert len(jobs) == 1
    assert await admin_db.fetchval("select count(*) from credit_transaction") == 1  # the failed invoice grants nothing

    # The same failure reported eight days ago: the grace period is over.
    late = shop.stripe.event("customer.subscription.updated", shop.stripe.subscriptions[_subscription_id(events)])
    late["created"] = int(time.time()) - 8 * 86400
    await admin_db.execute("update subscription set past_due_since = null, state_at = null")  # as if first seen now
    await shop.stripe.send([late])
    assert not await plays(shop.gql, token, inside)
    assert (await subscriptions_of(shop.gql, token))[0]["hasAccess"] is False
