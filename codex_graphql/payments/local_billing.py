"""Recurring billing for the local demo provider (mixed into ``LocalProvider``).

Products and prices are ids only: a local price id carries its interval, amount and currency
(``price_local_month_1999_usd_<hash>``), so a checkout needs no lookup. A subscription checkout is the
same demo page as a purchase (``/checkout/local/{session}``); "Pay" delivers, signed and through the
normal webhook path, the events Stripe would send: ``customer.subscription.created``, ``invoice.paid``
(amount 0 during a trial) and ``checkout.session.completed`` (mode subscription), with event ids that
follow from the session, so pressing "Pay" twice changes nothing. Periods are deterministic: the trial,
then 30 days (month) or 365 days (year) from the moment of payment.

The provider's subscription records (Stripe-shaped objects) live in memory and, when the provider has a
``state_path`` (``DATA_DIR/local-billing.json`` in dev), in that file, so cancel / resume / change work
after a restart of the dev server. Local subscriptions never renew or fail by themselves; there is no
billing portal (its URL is the return URL).
"""

from __future__ import annotations

import copy
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from codex_graphql.payments import (
    BillingRefused,
    CheckoutCreated,
    Interval,
    ProrationBehavior,
    SubscriptionCheckoutRequest,
    SubscriptionNotFound,
    SubscriptionState,
)
from codex_graphql.payments.objects import subscription_state

DAY = 86400
PERIOD_SECONDS: dict[str, int] = {"month": 30 * DAY, "year": 365 * DAY}
_PRICE = re.compile(r"^price_local_(month|year)_(\d{1,8})_([a-z]{3})_[0-9a-f]{16}$")


def _uid(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join(parts)).hex


def local_price(price_id: str) -> tuple[Interval, int, str] | None:
    """(interval, unit amount, currency) of a local price id; None when it is not one."""
    match = _PRICE.match(price_id)
    if match is None:
        return None
    interval = "month" if match.group(1) == "month" else "year"
    return interval, int(match.group(2)), match.group(3)


class LocalBillingMixin:
    """Needs from ``LocalProvider``: ``base_url``, ``_seal``."""

    base_url: str
    state_path: Path | None
    _subscriptions: dict[str, dict[str, Any]]

    def _seal(self, data: dict[str, Any]) -> str:
        raise NotImplementedError

    def _init_billing(self, state_path: Path | None) -> None:
        self.state_path = state_path
        self._subscriptions = {}
        if state_path is not None and state_path.exists():
            self._subscriptions = orjson.loads(state_path.read_bytes())

    def _save(self) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(orjson.dumps(self._subscriptions))
        temporary.replace(self.state_path)

    # -- catalogue -------------------------------------------------------------------------------------
    async def create_product(self, name: str, description: str | None, metadata: dict[str, str],
                             idempotency_key: str) -> str:
        return "prod_local_" + _uid("product", idempotency_key)

    async def create_price(self, product_id: str, unit_amount: int, currency: str, interval: Interval,
                           idempotency_key: str, metadata: dict[str, str] | None = None) -> str:
        if interval not in PERIOD_SECONDS or not 0 <= unit_amount <= 99_999_999 or not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise BillingRefused("Invalid price: interval month|year, amount 0..99999999, a three-letter currency.")
        return f"price_local_{interval}_{unit_amount}_{currency.lower()}_{_uid('price', idempotency_key)[:16]}"

    async def archive_price(self, price_id: str) -> None:
        return None  # nothing is stored: the server stops offering the price itself

    async def archive_product(self, product_id: str) -> None:
        return None

    # -- checkout -----------------------------------------------------------------------------------------
    async def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutCreated:
        price = local_price(request.price_id)
        if price is None:
            raise BillingRefused(f"No such price: '{request.price_id}'")
        interval, amount, currency = price
        session_id = "cs_local_" + _uid("subscription-checkout", request.idempotency_key)
        trial = f" after a {request.trial_days}-day free trial" if request.trial_days > 0 else ""
        token = self._seal({
            "mode": "subscription", "id": session_id, "price": request.price_id, "interval": interval,
            "amount": amount, "currency": currency, "trial_days": max(request.trial_days, 0),
            "title": f"Subscription, billed every {interval}{trial}", "email": request.customer_email or "",
            "customer": request.customer_id, "ref": request.client_reference_id, "metadata": request.metadata,
            "success_url": request.success_url, "cancel_url": request.cancel_url,
        })
        return CheckoutCreated(session_id=session_id, url=f"{self.base_url}/checkout/local/{session_id}?token={token}")

    def subscription_events(self, checkout: dict[str, Any]) -> list[bytes]:
        """The events of a paid subscription checkout, oldest first (see the module docstring)."""
        session_id = checkout["id"]
        sub_id = "sub_local_" + _uid("subscription", session_id)
        subscription = self._subscriptions.get(sub_id)
        if subscription is None:
            subscription = self._new_subscription(checkout, sub_id)
            self._subscriptions[sub_id] = subscription
            self._save()
        now = int(time.time())
        item = subscription["items"]["data"][0]
        trial = checkout["trial_days"] > 0
        paid = 0 if trial else checkout["amount"]
        invoice = {
            "id": subscription["latest_invoice"], "object": "invoice", "customer": subscription["customer"],
            "status": "paid", "billing_reason": "subscription_create", "currency": checkout["currency"],
            "amount_due": paid, "amount_paid": paid, "amount_remaining": 0, "total": paid, "subtotal": paid,
            "total_taxes": [], "status_transitions": {"finalized_at": now, "paid_at": now},
            "collection_method": "charge_automatically", "created": subscription["created"], "livemode": False,
            "period_start": subscription["created"], "period_end": subscription["created"], "metadata": {},
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"subscription": sub_id, "metadata": subscription["metadata"]}},
            "lines": {"object": "list", "has_more": False, "total_count": 1, "data": [{
                "id": "il_local_" + _uid("line", session_id), "object": "line_item", "amount": paid,
                "currency": checkout["currency"], "quantity": 1,
                "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
                "pricing": {"type": "price_details", "price_details": {"price": checkout["price"], "product": None},
                            "unit_amount_decimal": str(checkout["amount"])},
                "parent": {"type": "subscription_item_details", "subscription_item_details": {
                    "subscription": sub_id, "subscription_item": item["id"], "proration": False}},
            }]},
        }
        session = {
            "id": session_id, "object": "checkout.session", "mode": "subscription", "status": "complete",
            "payment_status": "paid" if paid else "no_payment_required", "amount_total": checkout["amount"],
            "amount_subtotal": checkout["amount"], "currency": checkout["currency"],
            "client_reference_id": checkout["ref"], "customer": subscription["customer"],
            "customer_details": {"email": checkout["email"]}, "metadata": checkout["metadata"],
            "subscription": sub_id, "invoice": invoice["id"], "payment_intent": None,
        }
        # The created event shows the subscription as it was created, whatever happened to it since.
        created = {**subscription, "status": "trialing" if trial else "active", "cancel_at_period_end": False,
                   "canceled_at": None, "ended_at": None}
        return [self._event(f"created:{session_id}", "customer.subscription.created", created, now),
                self._event(f"paid:{session_id}", "invoice.paid", invoice, now),
                self._event(f"completed:{session_id}", "checkout.session.completed", session, now)]

    def _new_subscription(self, checkout: dict[str, Any], sub_id: str) -> dict[str, Any]:
        now = int(time.time())
        trial_days = checkout["trial_days"]
        end = now + (trial_days * DAY if trial_days else PERIOD_SECONDS[checkout["interval"]])
        customer = checkout.get("customer") or "cus_local_" + _uid("customer", checkout["email"].lower())
        return {
            "id": sub_id, "object": "subscription", "customer": customer,
            "status": "trialing" if trial_days else "active", "cancel_at_period_end": False, "cancel_at": None,
            "canceled_at": None, "ended_at": None, "trial_start": now if trial_days else None,
            "trial_end": end if trial_days else None, "metadata": dict(checkout["metadata"]),
            "latest_invoice": "in_local_" + _uid("invoice", checkout["id"]), "created": now, "start_date": now,
            "currency": checkout["currency"], "collection_method": "charge_automatically", "livemode": False,
            "items": {"object": "list", "has_more": False, "total_count": 1, "data": [{
                "id": "si_local_" + _uid("item", sub_id), "object": "subscription_item", "quantity": 1,
                "subscription": sub_id, "current_period_start": now, "current_period_end": end,
                "price": self._price_object(checkout["price"]),
            }]},
        }

    @staticmethod
    def _price_object(price_id: str) -> dict[str, Any]:
        interval, amount, currency = local_price(price_id) or ("month", 0, "usd")
        return {"id": price_id, "object": "price", "active": True, "currency": currency, "unit_amount": amount,
                "type": "recurring", "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"}}

    @staticmethod
    def _event(seed: str, event_type: str, obj: dict[str, Any], created: int) -> bytes:
        return orjson.dumps({
            "id": "evt_local_" + _uid("event", seed), "object": "event", "type": event_type, "created": created,
            "livemode": False, "api_version": None, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": copy.deepcopy(obj)},
        })

    # -- changes -------------------------------------------------------------------------------------------
    def _live(self, subscription_id: str) -> dict[str, Any]:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise SubscriptionNotFound(f"No such subscription: '{subscription_id}'")
        if subscription["status"] == "canceled":
            raise BillingRefused("A canceled subscription can only update its cancellation_details and metadata.")
        return subscription

    def _answer(self, subscription: dict[str, Any]) -> SubscriptionState:
        self._save()
        return subscription_state(subscription)

    async def cancel_subscription(self, subscription_id: str, *, at_period_end: bool,
                                  idempotency_key: str | None = None) -> SubscriptionState:
        subscription = self._live(subscription_id)
        now = int(time.time())
        if at_period_end:
            end = subscription["items"]["data"][0]["current_period_end"]
            subscription.update(cancel_at_period_end=True, cancel_at=end, canceled_at=now)
        else:
            subscription.update(status="canceled", canceled_at=subscription["canceled_at"] or now, ended_at=now)
        return self._answer(subscription)

    async def resume_subscription(self, subscription_id: str, *, idempotency_key: str | None = None) -> SubscriptionState:
        subscription = self._live(subscription_id)
        subscription.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
        return self._answer(subscription)

    async def change_subscription_price(self, subscription_id: str, price_id: str, *,
                                        proration_behavior: ProrationBehavior = "create_prorations",
                                        idempotency_key: str | None = None) -> SubscriptionState:
        """No money moves locally, so no proration; a new interval restarts the period now (as Stripe)."""
        subscription = self._live(subscription_id)
        price = local_price(price_id)
        if price is None:
            raise BillingRefused(f"No such price: '{price_id}'")
        item = subscription["items"]["data"][0]
        if item["price"]["recurring"]["interval"] != price[0]:
            now = int(time.time())
            item.update(current_period_start=now, current_period_end=now + PERIOD_SECONDS[price[0]])
            if subscription["status"] == "trialing":
                subscription.update(status="active", trial_end=now)
        item["price"] = self._price_object(price_id)
        return self._answer(subscription)

    async def create_billing_portal_session(self, customer_id: str, return_url: str) -> str:
        return return_url  # no cards to manage in the demo

    async def retrieve_subscription(self, subscription_id: str) -> SubscriptionState:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise SubscriptionNotFound(f"No such subscription: '{subscription_id}'")
        return subscription_state(subscription)
