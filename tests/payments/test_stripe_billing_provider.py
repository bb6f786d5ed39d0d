"""The Stripe provider's recurring-billing methods through the official library against the stand-in:
products, prices, subscription checkout, cancel / resume / price change, billing portal, retrieval;
idempotency keys; Stripe's answers mapped to BillingRefused / SubscriptionNotFound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import stripe as stripe_library

from codex_graphql.payments import BillingRefused, SubscriptionCheckoutRequest, SubscriptionNotFound
from codex_graphql.payments.objects import invoice_info, subscription_state
from codex_graphql.payments.stripe import StripeProvider
from tests.support.stripe_standin import StripeStandIn, running_standin

SECRET = "whsec_billing_provider_test"


@pytest.fixture
async def stripe() -> AsyncIterator[tuple[StripeProvider, StripeStandIn]]:
    async with running_standin(SECRET) as standin:
        yield StripeProvider("sk_test_codex", SECRET, standin.base_url), standin


async def _catalogue(provider: StripeProvider, amount: int = 1200, interval: Any = "month",
                     key: str = "tier-1") -> tuple[str, str]:
    product = await provider.create_product("Yoga", "All yoga", {"tier_id": "t1"}, f"{key}:product")
    price = await provider.create_price(product, amount, "EUR", interval, f"{key}:{interval}:{amount}")
    return product, price


def _checkout(price: str, key: str = "co-1", trial_days: int = 0, **kwargs: Any) -> SubscriptionCheckoutRequest:
    return SubscriptionCheckoutRequest(
        price_id=price, success_url="https://shop.example/ok", cancel_url="https://shop.example/cancel",
        client_reference_id="ref-1", metadata={"organization_id": "org-1", "tier_id": "t1", "user_id": "u1"},
        idempotency_key=key, trial_days=trial_days, **({"customer_email": "ann@example.com"} | kwargs))


async def _subscribed(provider: StripeProvider, standin: StripeStandIn, trial_days: int = 0,
                      amount: int = 1200, interval: Any = "month") -> tuple[str, list[dict[str, Any]]]:
    _, price = await _catalogue(provider, amount, interval)
    created = await provider.create_subscription_checkout(_checkout(price, trial_days=trial_days))
    events = standin.complete_subscription(created.session_id)
    return standin.sessions[created.session_id]["subscription"], events


async def test_products_and_prices_are_created_once_per_idempotency_key(stripe):
    provider, standin = stripe
    product = await provider.create_product("Yoga", "All yoga", {"tier_id": "t1"}, "k-product")
    assert await provider.create_product("Yoga", "All yoga", {"tier_id": "t1"}, "k-product") == product
    monthly = await provider.create_price(product, 1200, "EUR", "month", "k-month")
    assert await provider.create_price(product, 1200, "EUR", "month", "k-month") == monthly
    yearly = await provider.create_price(product, 12000, "EUR", "year", "k-year")
    assert list(standin.products) == [product] and list(standin.prices) == [monthly, yearly]
    assert standin.products[product]["name"] == "Yoga" and standin.products[product]["metadata"] == {"tier_id": "t1"}
    price = standin.prices[monthly]
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"], price["type"]) == (
        1200, "eur", "month", "recurring")
    assert standin.prices[yearly]["recurring"]["interval"] == "year"
    keys = [key for method, path, _, key in standin.requests if method == "POST"]
    assert keys == ["k-product", "k-product", "k-month", "k-month", "k-year"]
    # No description: Stripe refuses an empty string, so none is sent.
    bare = await provider.create_product("Bare", None, {}, "k-bare")
    assert standin.products[bare]["description"] is None


async def test_archived_prices_and_products_take_no_new_subscribers(stripe):
    provider, standin = stripe
    product, price = await _catalogue(provider)
    await provider.archive_price(price)
    assert standin.prices[price]["active"] is False and standin.products[product]["active"] is True
    with pytest.raises(BillingRefused, match="inactive"):
        await provider.create_subscription_checkout(_checkout(price))
    _, other = await _catalogue(provider, 1500, key="tier-2")
    await provider.archive_product(standin.prices[other]["product"])
    assert standin.products[standin.prices[other]["product"]]["active"] is False
    with pytest.raises(BillingRefused):
        await provider.create_subscription_checkout(_checkout(other, key="co-2"))
    with pytest.raises(BillingRefused, match="No such price"):
        await provider.create_subscription_checkout(_checkout("price_missing", key="co-3"))
    with pytest.raises(BillingRefused, match="No such price"):
        await provider.archive_price("price_missing")


async def test_subscription_checkout_sends_price_trial_metadata_and_is_idempotent(stripe):
    provider, standin = stripe
    _, price = await _catalogue(provider)
    created = await provider.create_subscription_checkout(_checkout(price, key="co-9", trial_days=14))
    again = await provider.create_subscription_checkout(_checkout(price, key="co-9", trial_days=14))
    assert again == created and list(standin.sessions) == [created.session_id]
    assert created.url == f"https://checkout.stripe.com/c/pay/{created.session_id}"
    session = standin.sessions[created.session_id]
    assert (session["mode"], session["status"], session["customer_email"], session["client_reference_id"]) == (
        "subscription", "open", "ann@example.com", "ref-1")
    assert session["metadata"] == {"organization_id": "org-1", "tier_id": "t1", "user_id": "u1"}
    setup = standin.subscription_setup[created.session_id]
    assert setup == {"price": price, "trial_days": 14, "metadata": session["metadata"]}
    # An existing customer is named instead of an email.
    events = standin.complete_subscription(created.session_id)
    customer = standin.sessions[created.session_id]["customer"]
    assert events[0]["type"] == "customer.created" and events[0]["data"]["object"]["id"] == customer
    other = await provider.create_subscription_checkout(_checkout(price, key="co-10", customer_id=customer))
    assert standin.sessions[other.session_id]["customer"] == customer
    assert standin.requests[-1][2].get("customer_email") is None


async def test_completing_a_trial_checkout_creates_a_trialing_subscription_with_a_zero_invoice(stripe):
    provider, standin = stripe
    sub_id, events = await _subscribed(provider, standin, trial_days=14)
    assert [e["type"] for e in events] == [
        "customer.created", "customer.subscription.created", "invoice.created", "invoice.finalized",
        "invoice.paid", "invoice.payment_succeeded", "checkout.session.completed"]
    state = await provider.retrieve_subscription(sub_id)
    assert state.status == "trialing" and state.trial_end == state.current_period_end
    assert state.current_period_end - state.current_period_start == timedelta(days=14)
    assert state.metadata == {"organization_id": "org-1", "tier_id": "t1", "user_id": "u1"}
    assert state == subscription_state(events[1]["data"]["object"])
    invoice = invoice_info(events[4]["data"]["object"])
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason, invoice.subscription_id) == (
        "paid", 0, "subscription_create", sub_id)
    assert invoice.id == state.latest_invoice_id and invoice.metadata["tier_id"] == "t1"
    completed = events[-1]["data"]["object"]
    assert (completed["mode"], completed["subscription"], completed["payment_status"]) == (
        "subscription", sub_id, "no_payment_required")


async def test_a_paid_start_is_active_and_invoiced_for_the_full_price(stripe):
    provider, standin = stripe
    sub_id, events = await _subscribed(provider, standin, amount=1200, interval="year")
    state = await provider.retrieve_subscription(sub_id)
    assert state.status == "active" and state.trial_end is None and state.cancel_at_period_end is False
    assert state.current_period_end - state.current_period_start == timedelta(days=365)
    paid = invoice_info(next(e for e in events if e["type"] == "invoice.paid")["data"]["object"])
    assert (paid.amount_paid, paid.currency) == (1200, "EUR")
    assert (paid.period_start, paid.period_end) == (state.current_period_start, state.current_period_end)
    assert events[-1]["data"]["object"]["payment_status"] == "paid"


async def test_cancel_at_period_end_resume_and_cancel_now(stripe):
    provider, standin = stripe
    sub_id, _ = await _subscribed(provider, standin)
    standin.undelivered.clear()
    ending = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="cancel-1")
    assert ending.cancel_at_period_end and ending.status == "active" and ending.canceled_at is not None
    assert standin.requests[-1][3] == "cancel-1"
    updated = standin.undelivered[-1]
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["previous_attributes"]["cancel_at_period_end"] is False
    resumed = await provider.resume_subscription(sub_id)
    assert resumed.cancel_at_period_end is False and resumed.canceled_at is None
    canceled = await provider.cancel_subscription(sub_id, at_period_end=False)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert standin.undelivered[-1]["type"] == "customer.subscription.deleted"
    with pytest.raises(BillingRefused, match="canceled"):
        await provider.resume_subscription(sub_id)
    with pytest.raises(BillingRefused):
        await provider.cancel_subscription(sub_id, at_period_end=False)
    for call in (provider.retrieve_subscription("sub_missing"),
                 provider.cancel_subscription("sub_missing", at_period_end=True)):
        with pytest.raises(SubscriptionNotFound):
            await call


async def test_a_price_change_prorates_on_the_next_invoice(stripe):
    provider, standin = stripe
    sub_id, _ = await _subscribed(provider, standin, amount=1000)
    product = standin.prices[standin.subscriptions[sub_id]["items"]["data"][0]["price"]["id"]]["product"]
    dearer = await provider.create_price(product, 3000, "eur", "month", "dearer")
    state = await provider.change_subscription_price(sub_id, dearer, idempotency_key="change-1")
    assert state.price_id == dearer and state.status == "active"
    update = standin.requests[-1]
    assert update[2]["proration_behavior"] == "create_prorations" and update[2]["items"][0]["price"] == dearer
    assert update[2]["items"][0]["id"] == state.item_id and update[3] == "change-1"
    pending = standin.pending_items[sub_id]
    assert [line["amount"] for line in pending] == [-1000, 3000]  # changed at once: the whole period prorated
    renewal = standin.renew(sub_id)
    invoice = invoice_info(next(e for e in renewal if e["type"] == "invoice.paid")["data"]["object"])
    assert invoice.billing_reason == "subscription_cycle" and invoice.amount_paid == 3000 + 2000
    assert [line.proration for line in invoice.lines] == [False, True, True]
    assert invoice.period_end == (await provider.retrieve_subscription(sub_id)).current_period_end


async def test_always_invoice_and_a_new_interval_invoice_at_once(stripe):
    provider, standin = stripe
    sub_id, _ = await _subscribed(provider, standin, amount=1000)
    product = standin.prices[standin.subscriptions[sub_id]["items"]["data"][0]["price"]["id"]]["product"]
    dearer = await provider.create_price(product, 2000, "eur", "month", "dearer")
    standin.undelivered.clear()
    await provider.change_subscription_price(sub_id, dearer, proration_behavior="always_invoice")
    types = [e["type"] for e in standin.undelivered]
    assert types == ["customer.subscription.updated", "invoice.created", "invoice.paid", "invoice.payment_succeeded"]
    proration = invoice_info(standin.undelivered[2]["data"]["object"])
    assert (proration.billing_reason, proration.amount_paid) == ("subscription_update", 1000)
    assert sub_id not in standin.pending_items
    before = await provider.retrieve_subscription(sub_id)
    yearly = await provider.create_price(product, 20000, "eur", "year", "yearly")
    standin.undelivered.clear()
    after = await provider.change_subscription_price(sub_id, yearly)
    assert after.current_period_end - after.current_period_start == timedelta(days=365)
    assert after.current_period_start >= before.current_period_start
    invoice = invoice_info(next(e for e in standin.undelivered if e["type"] == "invoice.paid")["data"]["object"])
    assert invoice.amount_paid == 20000 - 2000 and invoice.billing_reason == "subscription_update"
    with pytest.raises(BillingRefused, match="No such price"):
        await provider.change_subscription_price(sub_id, "price_missing")
    with pytest.raises(SubscriptionNotFound):
        await provider.change_subscription_price("sub_missing", yearly)


async def test_the_billing_portal_session_is_for_a_known_customer(stripe):
    provider, standin = stripe
    sub_id, _ = await _subscribed(provider, standin)
    customer = standin.subscriptions[sub_id]["customer"]
    url = await provider.create_billing_portal_session(customer, "https://shop.example/account")
    session = next(iter(standin.portal_sessions.values()))
    assert url == session["url"] and url.startswith("https://billing.stripe.com/p/session/")
    assert (session["customer"], session["return_url"]) == (customer, "https://shop.example/account")
    with pytest.raises(BillingRefused, match="No such customer"):
        await provider.create_billing_portal_session("cus_missing", "https://shop.example/account")


async def test_a_server_error_is_not_a_refusal(stripe):
    """Stripe failing (5xx) leaves the outcome unknown: the error propagates instead of BillingRefused, so
    the caller retries with the same idempotency key (or reconciliation repairs)."""
    provider, standin = stripe
    sub_id, _ = await _subscribed(provider, standin)
    standin.fail_status = 500
    with pytest.raises(stripe_library.APIError) as raised:
        await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="unknown-outcome")
    assert not isinstance(raised.value, BillingRefused)
    standin.fail_status = None
    assert (await provider.cancel_subscription(sub_id, at_period_end=True,
                                               idempotency_key="unknown-outcome")).cancel_at_period_end
