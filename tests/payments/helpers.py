"""Shared steps of the payments tests."""

from __future__ import annotations

from typing import Any

from codex_graphql.payments import SubscriptionCheckoutRequest
from codex_graphql.payments.stripe import StripeProvider
from tests.support.stripe_standin import StripeStandIn


async def subscribe(provider: StripeProvider, standin: StripeStandIn, *, trial_days: int = 0, key: str = "sub",
                    amount: int = 1200, interval: Any = "month") -> str:
    """A product, a price and a completed subscription checkout at the stand-in; the subscription id."""
    product = await provider.create_product("Yoga", None, {}, f"{key}:product")
    price = await provider.create_price(product, amount, "usd", interval, f"{key}:price")
    created = await provider.create_subscription_checkout(SubscriptionCheckoutRequest(
        price_id=price, success_url="https://shop.example/ok", cancel_url="https://shop.example/no",
        client_reference_id=key, metadata={"organization_id": "org-1", "tier_id": "t1", "user_id": "u1"},
        idempotency_key=f"{key}:checkout", customer_email="bo@example.com", trial_days=trial_days))
    standin.complete_subscription(created.session_id)
    return str(standin.sessions[created.session_id]["subscription"])
