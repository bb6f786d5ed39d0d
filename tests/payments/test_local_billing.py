"""The local demo provider's recurring billing: ids for products and prices, a subscription checkout on
the demo page whose "Pay" delivers Stripe-shaped, signed events through the app's webhook path (once,
however often it is pressed), and cancel / resume / price change / retrieval kept across restarts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from codex_graphql.payments import BillingRefused, SubscriptionCheckoutRequest, SubscriptionNotFound
from codex_graphql.payments.factory import webhook_secret
from codex_graphql.payments.local import LocalProvider
from codex_graphql.payments.local_billing import local_price
from codex_graphql.payments.objects import invoice_info, subscription_state

SECRET = "whsec_local_billing_test"


def _provider(state: Path | None = None) -> LocalProvider:
    return LocalProvider("http://testserver", "local-billing-secret", SECRET, "test", state_path=state)


def _request(price: str, key: str = "co-1", trial_days: int = 0) -> SubscriptionCheckoutRequest:
    return SubscriptionCheckoutRequest(
        price_id=price, success_url="http://testserver/thanks", cancel_url="http://testserver/cancel",
        client_reference_id="ref-7", metadata={"organization_id": "org-1", "tier_id": "t1", "user_id": "u1"},
        idempotency_key=key, customer_email="Dee@Example.com", trial_days=trial_days)


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def _paid(provider: LocalProvider, price: str, key: str = "co-1", trial_days: int = 0) -> list[dict[str, Any]]:
    created = await provider.create_subscription_checkout(_request(price, key, trial_days))
    checkout = provider.open_token(_token(created.url))
    assert checkout is not None
    return [provider.verify_webhook(payload, provider.signature(payload))
            for payload in provider.completion_events(checkout)]


async def test_products_and_prices_are_ids_that_follow_from_the_key():
    provider = _provider()
    product = await provider.create_product("Yoga", None, {}, "k1")
    assert product.startswith("prod_local_") and product == await provider.create_product("Other", "", {}, "k1")
    assert product != await provider.create_product("Yoga", None, {}, "k2")
    price = await provider.create_price(product, 1999, "EUR", "month", "p1")
    assert price == await provider.create_price(product, 1999, "EUR", "month", "p1")
    assert local_price(price) == ("month", 1999, "eur")
    assert local_price(await provider.create_price(product, 0, "usd", "year", "p2")) == ("year", 0, "usd")
    for amount, currency, interval in ((-1, "usd", "month"), (100_000_000, "usd", "month"), (5, "dollars", "month"),
                                       (5, "usd", "week")):
        with pytest.raises(BillingRefused):
            await provider.create_price(product, amount, currency, interval, "bad")  # type: ignore[arg-type]
    assert await provider.archive_price(price) is None and await provider.archive_product(product) is None
    with pytest.raises(BillingRefused, match="No such price"):
        await provider.create_subscription_checkout(_request("price_123"))


async def test_paying_a_subscription_checkout_sends_the_stripe_events():
    provider = _provider()
    price = await provider.create_price("prod_local_x", 1999, "usd", "month", "p1")
    created = await provider.create_subscription_checkout(_request(price))
    assert created.url.startswith(f"http://testserver/checkout/local/{created.session_id}?token=")
    assert created == await provider.create_subscription_checkout(_request(price))  # same key, same session
    events = await _paid(provider, price)
    assert [e["type"] for e in events] == ["customer.subscription.created", "invoice.paid", "checkout.session.completed"]
    state = subscription_state(events[0]["data"]["object"])
    assert (state.status, state.price_id, state.trial_end, state.cancel_at_period_end) == ("active", price, None, False)
    assert state.current_period_end - state.current_period_start == timedelta(days=30)
    assert state.metadata == {"organization_id": "org-1", "tier_id": "t1", "user_id": "u1"}
    invoice = invoice_info(events[1]["data"]["object"])
    assert (invoice.amount_paid, invoice.currency, invoice.status, invoice.billing_reason) == (
        1999, "USD", "paid", "subscription_create")
    assert invoice.subscription_id == state.id and invoice.id == state.latest_invoice_id
    assert (invoice.period_start, invoice.period_end) == (state.current_period_start, state.current_period_end)
    session = events[2]["data"]["object"]
    assert (session["mode"], session["subscription"], session["customer"], session["client_reference_id"]) == (
        "subscription", state.id, state.customer_id, "ref-7")
    assert session["metadata"]["tier_id"] == "t1" and session["payment_status"] == "paid"
    # Pressing "Pay" again: the same events (the webhook inbox stores each id once), the same subscription.
    again = await _paid(provider, price)
    assert [e["id"] for e in again] == [e["id"] for e in events]
    assert await provider.retrieve_subscription(state.id) == state


async def test_a_trial_is_trialing_with_a_zero_invoice_and_a_yearly_price_runs_a_year():
    provider = _provider()
    monthly = await provider.create_price("prod_local_x", 900, "usd", "month", "m")
    events = await _paid(provider, monthly, trial_days=14)
    state = subscription_state(events[0]["data"]["object"])
    assert state.status == "trialing" and state.trial_end == state.current_period_end
    assert state.current_period_end - state.current_period_start == timedelta(days=14)
    assert invoice_info(events[1]["data"]["object"]).amount_paid == 0
    assert events[2]["data"]["object"]["payment_status"] == "no_payment_required"
    yearly = await provider.create_price("prod_local_x", 9000, "usd", "year", "y")
    year = subscription_state((await _paid(provider, yearly, key="co-2"))[0]["data"]["object"])
    assert year.current_period_end - year.current_period_start == timedelta(days=365)
    assert year.customer_id == state.customer_id  # one customer per email


async def test_cancel_resume_change_and_retrieve(tmp_path):
    provider = _provider(tmp_path / "billing.json")
    monthly = await provider.create_price("prod_local_x", 900, "usd", "month", "m")
    sub_id = subscription_state((await _paid(provider, monthly, trial_days=7))[0]["data"]["object"]).id
    ending = await provider.cancel_subscription(sub_id, at_period_end=True)
    assert ending.cancel_at_period_end and ending.status == "trialing" and ending.canceled_at is not None
    resumed = await provider.resume_subscription(sub_id)
    assert not resumed.cancel_at_period_end and resumed.canceled_at is None
    dearer = await provider.create_price("prod_local_x", 1500, "usd", "month", "d")
    changed = await provider.change_subscription_price(sub_id, dearer)
    assert changed.price_id == dearer and changed.current_period_end == resumed.current_period_end
    yearly = await provider.create_price("prod_local_x", 9000, "usd", "year", "y")
    moved = await provider.change_subscription_price(sub_id, yearly)
    assert moved.status == "active" and moved.current_period_end - moved.current_period_start == timedelta(days=365)
    # A restarted dev server (a new provider on the same state file) knows the subscription.
    restarted = _provider(tmp_path / "billing.json")
    assert await restarted.retrieve_subscription(sub_id) == moved
    canceled = await restarted.cancel_subscription(sub_id, at_period_end=False)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    with pytest.raises(BillingRefused):
        await restarted.resume_subscription(sub_id)
    with pytest.raises(BillingRefused, match="No such price"):
        await provider.change_subscription_price(sub_id, "price_x")
    with pytest.raises(SubscriptionNotFound):
        await restarted.retrieve_subscription("sub_local_missing")
    with pytest.raises(SubscriptionNotFound):
        await restarted.cancel_subscription("sub_local_missing", at_period_end=True)
    assert await restarted.create_billing_portal_session("cus_local_1", "http://testserver/account") == \
        "http://testserver/account"


async def test_the_demo_page_subscribes_through_the_apps_webhook_path(app, http, settings, admin_db):
    # The same key material as the app's own provider, so its checkout page opens this token.
    provider = LocalProvider(settings.public_base_url, settings.secret_key, webhook_secret(settings), settings.environment)
    price = await provider.create_price("prod_local_x", 1999, "usd", "month", "p1")
    created = await provider.create_subscription_checkout(_request(price, trial_days=3))
    path = created.url.removeprefix("http://testserver")
    page = await http.get(path)
    assert page.status_code == 200
    assert "Subscription, billed every month after a 3-day free trial" in page.text and "19.99 usd" in page.text
    paid = await http.post(path)
    assert paid.status_code == 303 and paid.headers["location"] == "http://testserver/thanks"
    rows = await admin_db.fetch("select id, type, payload, processed_at from stripe_event order by id")
    assert sorted(r["type"] for r in rows) == sorted(
        ["customer.subscription.created", "invoice.paid", "checkout.session.completed"])
    assert all(r["processed_at"] is not None for r in rows)
    payloads = {r["type"]: orjson.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows}
    sub = payloads["customer.subscription.created"]["data"]["object"]
    assert sub["status"] == "trialing" and sub["metadata"]["organization_id"] == "org-1"
    assert (await http.post(path)).status_code == 303  # pressed twice
    assert await admin_db.fetchval("select count(*) from stripe_event") == 3
    # The app's provider recorded the subscription in DATA_DIR, where a restarted provider finds it.
    restarted = LocalProvider(settings.public_base_url, settings.secret_key, webhook_secret(settings),
                              settings.environment, state_path=settings.data_dir / "local-billing.json")
    assert (await restarted.retrieve_subscription(sub["id"])).status == "trialing"
