"""The authorization matrix of the customer's subscription mutations and of ``Viewer.subscriptions``: anonymous
callers are UNAUTHENTICATED; every signed-in caller but the subscription's own customer (staff of its
organization with every permission included) gets NOT_FOUND and changes nothing; each viewer lists only their
own subscriptions, and ``node(id:)`` shows a subscription to its customer only."""

from __future__ import annotations

from typing import Any

from tests.subscriptions.support import (
    CANCEL,
    CHANGE,
    MINE,
    PORTAL,
    RESUME,
    RETURN,
    START,
    StripeShop,
    created,
    subscribed,
    wire_webhooks,
)

NODE = "query($id: ID!) { node(id: $id) { ... on TierSubscription { id status } } }"


async def _state(admin_db: Any, shop: StripeShop) -> tuple[Any, ...]:
    rows = [tuple(r) for r in await admin_db.fetch("select * from subscription order by id")]
    return rows, len(shop.stripe.sessions), len(shop.stripe.portal_sessions), len(shop.stripe.requests)


async def test_the_matrix(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    await subscribed(shop, tier["id"])
    mine = (await shop.gql.ok(MINE, {}, shop.actors.customer.token))["viewer"]["subscriptions"]["nodes"][0]
    tokens = shop.actors.tokens()

    for name, token in tokens.items():
        body = await shop.gql(MINE, {}, token)
        if token is None:
            assert body["data"]["viewer"] is None
            continue
        listed = body["data"]["viewer"]["subscriptions"]
        assert [n["id"] for n in listed["nodes"]] == ([mine["id"]] if name == "customer" else []), name
        node = (await shop.gql(NODE, {"id": mine["id"]}, token))["data"]["node"]
        assert node == ({"id": mine["id"], "status": "ACTIVE"} if name == "customer" else None), name

    cases = {
        "startSubscriptionCheckout": (START, {"tierId": tier["id"], "interval": "MONTH", "successUrl": RETURN,
                                              "cancelUrl": RETURN, "idempotencyKey": "matrix"}),
        "cancelSubscription": (CANCEL, {"subscriptionId": mine["id"], "atPeriodEnd": True}),
        "resumeSubscription": (RESUME, {"subscriptionId": mine["id"]}),
        "changeSubscriptionTier": (CHANGE, {"subscriptionId": mine["id"], "tierId": tier["id"], "interval": "YEAR"}),
        "createBillingPortalSession": (PORTAL, {"subscriptionId": mine["id"], "returnUrl": RETURN}),
    }
    for field, (document, variables) in cases.items():
        for name, token in tokens.items():
            if name == "customer" or (field == "startSubscriptionCheckout" and token is not None):
                continue  # the owner's calls: test_subscribing.py; anyone signed in may start a checkout
            before = await _state(admin_db, shop)
            body = await shop.gql(document, {"input": variables}, token)
            if token is None:
                assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}, (field, body)
                assert body["data"] is None
            else:
                assert [(e["code"], e["field"]) for e in body["data"][field]["errors"]] == [
                    ("NOT_FOUND", ["input", "subscriptionId"])], (field, name, body)
            assert await _state(admin_db, shop) == before, (field, name)
