"""Subscription tiers against the Stripe stand-in through the official library: a product and recurring prices
per tier, a new price for a price change (the old one archived, its row kept), archiving; provider failures
leave the tier saved and not on sale, and a retry completes it creating nothing twice (idempotency keys
from the row ids); no transaction is open while Stripe is called."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from codex_graphql.relay import decode_id, to_global_id
from codex_graphql.subscriptions import jobs
from tests.commerce.test_no_network_in_transactions import Watch, quiet
from tests.subscriptions.support import STAFF_LIST, StripeShop, archive, create, created, listed, update


def _prices(shop: StripeShop) -> list[dict[str, Any]]:
    return sorted(shop.stripe.prices.values(), key=lambda p: p["created"])


async def test_a_tier_is_a_stripe_product_with_recurring_prices(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    tier = await created(shop.gql, shop.token, published=True)
    tier_id = decode_id(tier["id"], "SubscriptionTier")
    assert tier["billingReady"] is True
    [product] = shop.stripe.products.values()
    assert tier["stripeProductId"] == product["id"] and product["name"] == "Yoga" and product["active"]
    assert product["metadata"]["tier_id"] == str(tier_id)
    by_interval = {p["recurring"]["interval"]: p for p in shop.stripe.prices.values()}
    assert {k: (p["unit_amount"], p["currency"], p["product"]) for k, p in by_interval.items()} == {
        "month": (1500, "usd", product["id"]), "year": (15000, "usd", product["id"])}
    rows = {r["interval"]: r for r in await admin_db.fetch("select * from subscription_tier_price")}
    assert rows["MONTH"]["stripe_price_id"] == by_interval["month"]["id"]
    assert rows["YEAR"]["stripe_price_id"] == by_interval["year"]["id"]
    keys = {key for method, path, _, key in shop.stripe.requests if method == "POST"}
    assert f"codex-tier-product:{tier_id}" in keys
    assert {f"codex-tier-price:{rows[i]['id']}" for i in ("MONTH", "YEAR")} <= keys

    # A price change: a new Stripe price for new subscribers; the old one archived there, its row kept here.
    changed = await update(shop.gql, shop.token, tier["id"], monthlyPriceCents=1900)
    assert changed["errors"] == [] and changed["tier"]["monthlyPrice"]["amountCents"] == 1900
    old, new = [p for p in _prices(shop) if p["recurring"]["interval"] == "month"]
    assert (old["unit_amount"], old["active"]) == (1500, False) and (new["unit_amount"], new["active"]) == (1900, True)
    assert len(shop.stripe.products) == 1
    month_rows = await admin_db.fetch("select stripe_price_id, active from subscription_tier_price "
                                      "where interval = 'MONTH' order by created_at")
    assert [(r["stripe_price_id"], r["active"]) for r in month_rows] == [(old["id"], False), (new["id"], True)]

    archived = await archive(shop.gql, shop.token, tier["id"])
    assert archived["errors"] == [] and archived["tier"]["status"] == "ARCHIVED"
    assert product["active"] is False and not any(p["active"] for p in shop.stripe.prices.values())
    assert await admin_db.fetchval("select count(*) from subscription_tier_price") == 3  # every row kept


async def test_a_provider_failure_keeps_the_tier_off_sale_and_a_retry_completes_it_once(stripe_shop: StripeShop,
                                                                                        admin_db):
    shop = stripe_shop

    async def fail_prices(method: str, path: str) -> None:  # the product is made; the prices fail
        shop.stripe.fail_status = 500 if path == "/v1/prices" else None

    shop.stripe.during_request = fail_prices
    failed = await create(shop.gql, shop.token, name="Yoga", monthlyPriceCents=1500, published=True,
                          idempotencyKey="yoga-1")
    assert [(e["code"], e["field"]) for e in failed["errors"]] == [("PAYMENT_PROVIDER_ERROR", None)]
    assert failed["tier"] is None
    assert len(shop.stripe.products) == 1 and shop.stripe.prices == {}
    row = await admin_db.fetchrow("select id, status, stripe_product_id from subscription_tier")
    assert row["status"] == "PUBLISHED"
    assert row["stripe_product_id"] == next(iter(shop.stripe.products))  # what was done is recorded
    assert await admin_db.fetchval("select stripe_price_id from subscription_tier_price") is None
    assert await listed(shop.gql, shop.actors.org_slug, None) == []  # not on sale
    staff = (await shop.gql.ok(STAFF_LIST, {"slug": shop.actors.org_slug}, shop.token))["organization"]
    assert [(t["name"], t["billingReady"]) for t in staff["subscriptionTiers"]] == [("Yoga", False)]

    shop.stripe.during_request = None
    shop.stripe.fail_status = None
    retried = await created(shop.gql, shop.token, name="Yoga", monthlyPriceCents=1500, idempotencyKey="yoga-1")
    assert decode_id(retried["id"], "SubscriptionTier") == row["id"] and retried["billingReady"] is True
    assert len(shop.stripe.products) == 1 and len(shop.stripe.prices) == 1
    assert [t["name"] for t in await listed(shop.gql, shop.actors.org_slug, None)] == ["Yoga"]
    assert await admin_db.fetchval("select count(*) from subscription_tier") == 1


async def test_a_crash_between_the_call_and_the_record_reuses_the_same_stripe_objects(stripe_shop: StripeShop,
                                                                                      admin_db):
    shop = stripe_shop
    tier = await created(shop.gql, shop.token, published=True)
    product_id, prices = tier["stripeProductId"], set(shop.stripe.prices)
    # What a crash after Stripe answered, before the ids were recorded, leaves behind.
    await admin_db.execute("update subscription_tier set stripe_product_id = null")
    await admin_db.execute("update subscription_tier_price set stripe_price_id = null")
    assert await listed(shop.gql, shop.actors.org_slug, None) == []
    repaired = await update(shop.gql, shop.token, tier["id"])  # the next change of the tier completes it
    assert repaired["errors"] == [] and repaired["tier"]["billingReady"] is True
    assert repaired["tier"]["stripeProductId"] == product_id  # Stripe replayed the same product ...
    assert len(shop.stripe.products) == 1 and set(shop.stripe.prices) == prices  # ... and prices: none made twice
    assert {r[0] for r in await admin_db.fetch("select stripe_price_id from subscription_tier_price")} == prices


async def test_stripe_is_called_with_no_transaction_open(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    await quiet(shop.app)
    watch = Watch(admin_db)
    shop.stripe.during_request = watch
    tier = await created(shop.gql, shop.token)
    assert (await update(shop.gql, shop.token, tier["id"], annualPriceCents=12000))["errors"] == []
    assert (await archive(shop.gql, shop.token, tier["id"]))["errors"] == []
    calls = [call for call, _ in watch.seen]
    assert calls.count("POST /v1/products") == 1 and calls.count("POST /v1/prices") == 3
    assert any(call.startswith("POST /v1/products/") for call in calls)  # the archived product
    assert all(open_ == [] for _, open_ in watch.seen), watch.seen


async def test_the_reconciliation_job_completes_tiers_nobody_touches_once(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    services = shop.app.state.runtime["services"]
    shop.stripe.fail_status = 500  # Stripe is down while the tier is created and while it changes
    failed = await create(shop.gql, shop.token, name="Yoga", monthlyPriceCents=1500, published=True)
    assert failed["errors"][0]["code"] == "PAYMENT_PROVIDER_ERROR"
    await admin_db.execute("update subscription_tier set updated_at = now() - interval '1 hour'")
    assert await jobs.reconcile_tiers(services.db, services.payments) == 0  # still down: nothing recorded
    assert await admin_db.fetchval("select stripe_product_id from subscription_tier") is None
    # A fresh change is left alone (a running mutation is completing it) ...
    shop.stripe.fail_status = None
    await admin_db.execute("update subscription_tier set updated_at = now()")
    assert await jobs.reconcile_tiers(services.db, services.payments) == 0
    # ... a stale one is completed, once, however often the job runs.
    assert await jobs.reconcile_tiers(services.db, services.payments, stale_after=timedelta(0)) == 1
    assert await jobs.reconcile_tiers(services.db, services.payments, stale_after=timedelta(0)) == 0
    assert len(shop.stripe.products) == 1 and len(shop.stripe.prices) == 1
    assert [t["name"] for t in await listed(shop.gql, shop.actors.org_slug, None)] == ["Yoga"]
    # Archiving while Stripe is down: the job archives the product and price later.
    tier_id = await admin_db.fetchval("select id from subscription_tier")
    shop.stripe.fail_status = 500
    archived = await archive(shop.gql, shop.token, str(to_global_id("SubscriptionTier", tier_id)))
    assert archived["errors"][0]["code"] == "PAYMENT_PROVIDER_ERROR"
    assert await admin_db.fetchval("select status from subscription_tier") == "ARCHIVED"  # saved all the same
    shop.stripe.fail_status = None
    assert await jobs.reconcile_tiers(services.db, services.payments, stale_after=timedelta(0)) == 1
    assert not any(p["active"] for p in shop.stripe.prices.values())
    assert not any(p["active"] for p in shop.stripe.products.values())

