"""Stripe Billing for the Stripe stand-in (mixed into ``StripeStandIn``): products, prices, checkout in
subscription mode, subscriptions, invoices and the billing portal, plus test helpers that do what time
and the customer's bank would (``complete_subscription``, ``renew``, ``pay_invoice``, ``end``).

Objects follow the API version in ``api_version`` (default: the one the installed library pins). From
2025-03-31.basil Stripe puts the billing period on subscription items and an invoice's subscription under
``parent.subscription_details``; for an older ``api_version`` the stand-in also sends the old top-level
``current_period_start/end``, ``invoice.subscription``, ``line.price`` and ``line.proration``.

Every event is appended to ``events`` and to ``undelivered``; ``send()`` signs and posts them (or any
list, in any order, as often as wanted) to ``webhook_url``. A month is 30 days and a year 365.
Also home of the stand-in's form decoding and error answers (shared with ``stripe_standin``).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codex_graphql.payments.signing import sign

DAY = 86400
INTERVAL_SECONDS = {"day": DAY, "week": 7 * DAY, "month": 30 * DAY, "year": 365 * DAY}
BASIL = "2025-03-31"  # first API version with periods on items and invoice.parent
_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def parse_form(body: bytes) -> dict[str, Any]:
    """Decode Stripe's form encoding (``a[b][0][c]=v``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = [a or b for a, b in _KEY.findall(raw_key)]
        node: Any = root
        for part, following in zip(parts, parts[1:] + [None], strict=True):
            container: Any = [] if following is not None and following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if following is None:
                    node[index] = value
                else:
                    node[index] = node[index] if node[index] is not None else container
                    node = node[index]
            elif following is None:
                node[part] = value
            else:
                node = node.setdefault(part, container)
    return root


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
           param: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status)


def _missing(kind: str, object_id: str, status: int = 404, param: str | None = None) -> JSONResponse:
    return _error(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}


class BillingMixin:
    """Needs from ``StripeStandIn``: ``sessions``, ``_replay``, ``_remember``, ``event``, ``webhook_secret``."""

    sessions: dict[str, dict[str, Any]]
    webhook_secret: str

    async def _replay(self, request: Request, params: dict[str, Any]) -> Response | None:
        raise NotImplementedError

    def _remember(self, request: Request, obj: dict[str, Any]) -> Response:
        raise NotImplementedError

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _init_billing(self) -> None:
        self.api_version: str = stripe.api_version
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.pending_items: dict[str, list[dict[str, Any]]] = {}  # proration lines for the next invoice
        self.subscription_setup: dict[str, dict[str, Any]] = {}  # checkout session id -> subscription_data
        self.events: list[dict[str, Any]] = []  # every event emitted, in order
        self.undelivered: list[dict[str, Any]] = []
        self.webhook_url: str | None = None  # where send() posts
        self.webhook_client: httpx.AsyncClient | None = None  # e.g. an ASGI client of the app under test

    @property
    def legacy(self) -> bool:
        return self.api_version < BASIL

    def billing_routes(self) -> list[Route]:
        return [
            Route("/v1/products", self.create_product, methods=["POST"]),
            Route("/v1/products/{id}", self.update_product, methods=["POST"]),
            Route("/v1/products/{id}", self.get_object, methods=["GET"]),
            Route("/v1/prices", self.create_price, methods=["POST"]),
            Route("/v1/prices/{id}", self.update_price, methods=["POST"]),
            Route("/v1/prices/{id}", self.get_object, methods=["GET"]),
            Route("/v1/customers/{id}", self.get_object, methods=["GET"]),
            Route("/v1/invoices/{id}", self.get_object, methods=["GET"]),
            Route("/v1/subscriptions/{id}", self.get_object, methods=["GET"]),
            Route("/v1/subscriptions/{id}", self.update_subscription, methods=["POST"]),
            Route("/v1/subscriptions/{id}", self.cancel_subscription, methods=["DELETE"]),
            Route("/v1/billing_portal/sessions", self.create_portal_session, methods=["POST"]),
        ]

    # -- events and delivery -----------------------------------------------------------------------
    def _emit(self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        event = self.event(event_type, obj)
        event["api_version"] = self.api_version
        event.update(pending_webhooks=1, request={"id": None, "idempotency_key": None})
        if previous:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        self.events.append(event)
        self.undelivered.append(event)
        return event

    async def send(self, events: list[dict[str, Any]] | None = None, *, url: str | None = None,
                   timestamp: int | None = None) -> list[httpx.Response]:
        """Sign (Stripe's scheme) and POST ``events`` (default: all not yet sent, oldest first) one by one to
        ``url`` or ``webhook_url``, through ``webhook_client`` when set; returns the responses."""
        batch = list(self.undelivered) if events is None else list(events)
        target = url or self.webhook_url
        assert target, "set webhook_url (or pass url=) to send events"
        client = self.webhook_client or httpx.AsyncClient()
        responses = []
        try:
            for event in batch:
                payload = orjson.dumps(event)
                responses.append(await client.post(target, content=payload, headers={
                    "stripe-signature": sign(payload, self.webhook_secret, timestamp),
                    "content-type": "application/json; charset=utf-8"}))
                if event in self.undelivered:
                    self.undelivered.remove(event)
        finally:
            if client is not self.webhook_client:
                await client.aclose()
        return responses

    # -- products and prices -------------------------------------------------------------------------
    async def create_product(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        if not params.get("name"):
            return _error(400, "Missing required param: name.", code="parameter_missing", param="name")
        now = int(time.time())
        product = {"id": _id("prod"), "object": "product", "active": params.get("active", "true") == "true",
                   "name": params["name"], "description": params.get("description") or None,
                   "metadata": params.get("metadata") or {}, "created": now, "updated": now, "livemode": False,
                   "default_price": None, "images": [], "marketing_features": [], "tax_code": None, "type": "service",
                   "url": None}
        self.products[product["id"]] = product
        return self._remember(request, product)

    async def create_price(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        product = self.products.get(params.get("product") or "")
        if product is None:
            return _missing("product", params.get("product") or "", 400, "product")
        amount = params.get("unit_amount", "")
        if not amount.isdigit() or int(amount) > 99_999_999:
            return _error(400, "Invalid integer: unit_amount must be between 0 and 99999999.", param="unit_amount")
        recurring = params.get("recurring") or None
        if recurring is not None and recurring.get("interval") not in INTERVAL_SECONDS:
            return _error(400, "Invalid recurring[interval].", param="recurring[interval]")
        currency = (params.get("currency") or "").lower()
        if len(currency) != 3:
            return _error(400, "Invalid currency.", param="currency")
        price = {"id": _id("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
                 "created": int(time.time()), "currency": currency, "livemode": False, "lookup_key": None,
                 "metadata": params.get("metadata") or {}, "nickname": None, "product": product["id"],
                 "recurring": None if recurring is None else {
                     "interval": recurring["interval"], "interval_count": int(recurring.get("interval_count") or 1),
                     "meter": None, "usage_type": "licensed"},
                 "tax_behavior": "unspecified", "type": "one_time" if recurring is None else "recurring",
                 "unit_amount": int(amount), "unit_amount_decimal": amount}
        self.prices[price["id"]] = price
        return self._remember(request, price)

    async def _update(self, request: Request, store: dict[str, dict[str, Any]], kind: str) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        obj = store.get(request.path_params["id"])
        if obj is None:
            return _missing(kind, request.path_params["id"])
        if "active" in params:
            obj["active"] = params["active"] == "true"
        if "metadata" in params:
            obj["metadata"] = {**obj["metadata"], **(params["metadata"] or {})}
        for name in ("name", "description"):
            if name in params and kind == "product":
                obj[name] = params[name] or None
        obj["updated"] = int(time.time())
        return self._remember(request, obj)

    async def update_product(self, request: Request) -> Response:
        return await self._update(request, self.products, "product")

    async def update_price(self, request: Request) -> Response:
        return await self._update(request, self.prices, "price")

    async def get_object(self, request: Request) -> Response:
        if (refused := await self._replay(request, {})) is not None:
            return refused
        object_id = request.path_params["id"]
        kind = request.url.path.split("/")[2]
        store = {"products": self.products, "prices": self.prices, "customers": self.customers,
                 "invoices": self.invoices, "subscriptions": self.subscriptions}[kind]
        obj = store.get(object_id)
        return JSONResponse(obj) if obj is not None else _missing(kind.rstrip("s"), object_id)

    # -- checkout in subscription mode ---------------------------------------------------------------
    def create_subscription_session(self, request: Request, params: dict[str, Any]) -> Response:
        items = params.get("line_items") or []
        if len(items) != 1 or not items[0].get("price"):
            return _error(400, "Subscription mode needs one line item with a price.", param="line_items")
        price = self.prices.get(items[0]["price"])
        if price is None:
            return _missing("price", items[0]["price"], 400, "line_items[0][price]")
        if not price["active"] or not self.products[price["product"]]["active"]:
            return _error(400, f"The price specified ({price['id']}) is inactive.", param="line_items[0][price]")
        if price["type"] != "recurring":
            return _error(400, "Subscription mode needs a recurring price.", param="line_items[0][price]")
        if params.get("customer") and params["customer"] not in self.customers:
            return _missing("customer", params["customer"], 400, "customer")
        data = params.get("subscription_data") or {}
        trial = int(data.get("trial_period_days") or 0)
        session_id = "cs_test_" + uuid.uuid4().hex
        amount = price["unit_amount"] * int(items[0].get("quantity") or 1)
        session = {
            "id": session_id, "object": "checkout.session", "mode": "subscription", "status": "open",
            "payment_status": "unpaid", "amount_subtotal": amount, "amount_total": amount,
            "currency": price["currency"], "customer": params.get("customer"),
            "customer_email": params.get("customer_email"), "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {}, "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"), "subscription": None, "invoice": None, "payment_intent": None,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}", "livemode": False,
            "created": int(time.time()), "expires_at": int(time.time()) + DAY,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        }
        self.sessions[session_id] = session
        self.subscription_setup[session_id] = {"price": price["id"], "trial_days": trial,
                                               "metadata": data.get("metadata") or {}}
        return self._remember(request, session)

    def complete_subscription(self, session_id: str) -> list[dict[str, Any]]:
        """The customer completed the hosted checkout: customer (when new), subscription (trialing when the
        session asked for a trial, else active), its first invoice (paid; 0 during a trial) and the events
        Stripe sends, in Stripe's usual order. Returns the events (also queued in ``undelivered``)."""
        session, setup = self.sessions[session_id], self.subscription_setup[session_id]
        assert session["status"] == "open", "session already completed"
        events: list[dict[str, Any]] = []
        now = int(time.time())
        customer_id = session["customer"]
        if customer_id is None:
            customer = {"id": _id("cus"), "object": "customer", "email": session["customer_email"], "created": now,
                        "livemode": False, "metadata": {}, "name": None, "invoice_prefix": uuid.uuid4().hex[:8].upper()}
            self.customers[customer["id"]] = customer
            customer_id = customer["id"]
            events.append(self._emit("customer.created", customer))
        price = self.prices[setup["price"]]
        trial = setup["trial_days"]
        end = now + (trial * DAY if trial else INTERVAL_SECONDS[price["recurring"]["interval"]])
        sub_id = _id("sub")
        subscription = {
            "id": sub_id, "object": "subscription", "customer": customer_id,
            "status": "trialing" if trial else "active", "cancel_at_period_end": False, "cancel_at": None,
            "canceled_at": None, "ended_at": None, "trial_start": now if trial else None,
            "trial_end": end if trial else None, "latest_invoice": None, "metadata": dict(setup["metadata"]),
            "start_date": now, "billing_cycle_anchor": end if trial else now, "created": now,
            "currency": price["currency"], "collection_method": "charge_automatically", "livemode": False,
            "default_payment_method": _id("pm"),
            "items": _list([{"id": _id("si"), "object": "subscription_item", "price": copy.deepcopy(price),
                             "quantity": 1, "subscription": sub_id, "created": now, "metadata": {}}],
                           f"/v1/subscription_items?subscription={sub_id}"),
        }
        self._set_period(subscription, now, end)
        self.subscriptions[sub_id] = subscription
        line = self._line(subscription, price, 0 if trial else price["unit_amount"], now, end)
        invoice = self._invoice(subscription, [line], "subscription_create", now, now)
        events.append(self._emit("customer.subscription.created", subscription))
        events.append(self._emit("invoice.created", invoice))
        events.append(self._emit("invoice.finalized", invoice))
        events.extend(self._settle(invoice))
        session.update(status="complete", customer=customer_id, subscription=sub_id, invoice=invoice["id"],
                       payment_status="paid" if invoice["amount_due"] else "no_payment_required",
                       customer_details={"email": self.customers[customer_id]["email"]})
        events.append(self._emit("checkout.session.completed", session))
        return events

    # -- subscription objects ------------------------------------------------------------------------
    def _set_period(self, subscription: dict[str, Any], start: int, end: int) -> None:
        for item in subscription["items"]["data"]:
            item.update(current_period_start=start, current_period_end=end)
        if self.legacy:
            subscription.update(current_period_start=start, current_period_end=end)

    @staticmethod
    def period(subscription: dict[str, Any]) -> tuple[int, int]:
        item = subscription["items"]["data"][0]
        return item["current_period_start"], item["current_period_end"]

    def _line(self, subscription: dict[str, Any], price: dict[str, Any], amount: int, start: int, end: int, *,
              proration: bool = False, description: str | None = None) -> dict[str, Any]:
        item = subscription["items"]["data"][0]
        line: dict[str, Any] = {
            "id": _id("il"), "object": "line_item", "amount": amount, "currency": price["currency"],
            "description": description or f"1 × {self.products[price['product']]['name']}",
            "period": {"start": start, "end": end}, "quantity": 1, "livemode": False, "metadata": {},
            "pricing": {"type": "price_details", "unit_amount_decimal": str(price["unit_amount"]),
                        "price_details": {"price": price["id"], "product": price["product"]}},
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {"subscription": subscription["id"], "subscription_item": item["id"],
                                                     "proration": proration, "invoice_item": None}},
        }
        if self.legacy:
            line.update(price=copy.deepcopy(price), proration=proration, subscription=subscription["id"],
                        type="invoiceitem" if proration else "subscription")
        return line

    def _invoice(self, subscription: dict[str, Any], lines: list[dict[str, Any]], reason: str,
                 period_start: int, period_end: int) -> dict[str, Any]:
        total = sum(line["amount"] for line in lines)
        due = max(total, 0)  # a credit beyond the total goes to the customer's balance
        invoice: dict[str, Any] = {
            "id": _id("in"), "object": "invoice", "customer": subscription["customer"], "status": "open",
            "billing_reason": reason, "collection_method": "charge_automatically", "currency": subscription["currency"],
            "amount_due": due, "amount_paid": 0, "amount_remaining": due, "subtotal": total, "total": total,
            "total_taxes": [],
            "attempt_count": 0, "attempted": False, "created": int(time.time()), "livemode": False, "metadata": {},
            "period_start": period_start, "period_end": period_end, "next_payment_attempt": None,
            "hosted_invoice_url": "https://invoice.stripe.com/i/test_" + uuid.uuid4().hex,
            "status_transitions": {"finalized_at": int(time.time()), "paid_at": None},
            "parent": {"type": "subscription_details", "quote_details": None, "subscription_details": {
                "subscription": subscription["id"], "metadata": dict(subscription["metadata"])}},
            "lines": _list(lines, "/v1/invoices/upcoming/lines"),
        }
        if self.legacy:
            invoice.update(subscription=subscription["id"],
                           subscription_details={"metadata": dict(subscription["metadata"])})
        self.invoices[invoice["id"]] = invoice
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    def _settle(self, invoice: dict[str, Any], *, paid: bool = True) -> list[dict[str, Any]]:
        """A payment attempt on ``invoice``: paid (``invoice.paid`` and ``invoice.payment_succeeded``) or
        declined (``invoice.payment_failed``, retried in three days)."""
        now = int(time.time())
        invoice.update(attempt_count=invoice["attempt_count"] + 1, attempted=True)
        if paid:
            invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                           next_payment_attempt=None)
            invoice["status_transitions"]["paid_at"] = now
            return [self._emit("invoice.paid", invoice), self._emit("invoice.payment_succeeded", invoice)]
        invoice["next_payment_attempt"] = now + 3 * DAY
        return [self._emit("invoice.payment_failed", invoice)]

    async def update_subscription(self, request: Request) -> Response:
        """``POST /v1/subscriptions/{id}``: ``cancel_at_period_end``, ``metadata``, and ``items[0][price]``
        with ``proration_behavior`` (create_prorations: proration lines wait for the next invoice;
        always_invoice: invoiced now; none). A new interval restarts the period now and invoices at once."""
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        subscription = self.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return _missing("subscription", request.path_params["id"])
        if subscription["status"] in ("canceled", "incomplete_expired") and set(params) - {"metadata"}:
            return _error(400, "A canceled subscription can only update its cancellation_details and metadata.")
        previous: dict[str, Any] = {}
        invoice_events: list[dict[str, Any]] = []
        if params.get("items"):
            wanted = params["items"][0]
            item = subscription["items"]["data"][0]
            if wanted.get("id") and wanted["id"] != item["id"]:
                return _missing("subscription_item", wanted["id"], 400, "items[0][id]")
            price = self.prices.get(wanted.get("price") or "")
            if price is None:
                return _missing("price", wanted.get("price") or "", 400, "items[0][price]")
            if not price["active"]:
                return _error(400, f"The price specified ({price['id']}) is inactive.", param="items[0][price]")
            behavior = params.get("proration_behavior") or "create_prorations"
            if behavior not in ("create_prorations", "always_invoice", "none"):
                return _error(400, "Invalid proration_behavior.", param="proration_behavior")
            previous["items"] = copy.deepcopy(subscription["items"])
            invoice_events = self._change_price(subscription, price, behavior)
        if "cancel_at_period_end" in params:
            flag = params["cancel_at_period_end"] == "true"
            if flag != subscription["cancel_at_period_end"]:
                previous.update(cancel_at_period_end=subscription["cancel_at_period_end"],
                                cancel_at=subscription["cancel_at"], canceled_at=subscription["canceled_at"])
                subscription.update(cancel_at_period_end=flag, cancel_at=self.period(subscription)[1] if flag else None,
                                    canceled_at=int(time.time()) if flag else None)
        if params.get("metadata"):
            previous["metadata"] = dict(subscription["metadata"])
            subscription["metadata"] = {**subscription["metadata"], **params["metadata"]}
        if previous:
            self._emit("customer.subscription.updated", subscription, previous)
        for event in invoice_events:  # Stripe sends the update first, then the invoice it caused
            self.events.remove(event)
            self.undelivered.remove(event)
            self.events.append(event)
            self.undelivered.append(event)
        return self._remember(request, subscription)

    def _change_price(self, subscription: dict[str, Any], price: dict[str, Any], behavior: str) -> list[dict[str, Any]]:
        item = subscription["items"]["data"][0]
        old = item["price"]
        now = int(time.time())
        start, end = self.period(subscription)
        lines: list[dict[str, Any]] = []
        if behavior != "none" and end > now:
            unused = (end - now) / (end - start)
            lines.append(self._line(subscription, old, -round(old["unit_amount"] * unused), now, end, proration=True,
                                    description=f"Unused time on {self.products[old['product']]['name']}"))
        item["price"] = copy.deepcopy(price)
        if old["recurring"]["interval"] != price["recurring"]["interval"]:
            # A new billing interval: the cycle restarts now and the new price is invoiced at once.
            new_end = now + INTERVAL_SECONDS[price["recurring"]["interval"]]
            self._set_period(subscription, now, new_end)
            subscription["billing_cycle_anchor"] = now
            if subscription["status"] == "trialing":
                subscription.update(status="active", trial_end=now)
            lines.append(self._line(subscription, price, price["unit_amount"], now, new_end))
            invoice = self._invoice(subscription, lines, "subscription_update", now, now)
            return [self._emit("invoice.created", invoice), *self._settle(invoice)]
        if behavior != "none" and end > now:
            lines.append(self._line(subscription, price, round(price["unit_amount"] * (end - now) / (end - start)),
                                    now, end, proration=True,
                                    description=f"Remaining time on {self.products[price['product']]['name']}"))
        if behavior == "always_invoice" and lines:
            invoice = self._invoice(subscription, lines, "subscription_update", now, now)
            return [self._emit("invoice.created", invoice), *self._settle(invoice)]
        self.pending_items.setdefault(subscription["id"], []).extend(lines)
        return []

    async def cancel_subscription(self, request: Request) -> Response:
        """``DELETE /v1/subscriptions/{id}``: canceled now, ``customer.subscription.deleted``."""
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        subscription = self.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return _missing("subscription", request.path_params["id"])
        if subscription["status"] == "canceled":
            return _error(400, "This subscription has already been canceled.")
        self.end(subscription["id"])
        return self._remember(request, subscription)

    async def create_portal_session(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        if params.get("customer") not in self.customers:
            return _missing("customer", params.get("customer") or "", 400, "customer")
        session_id = _id("bps")
        session = {"id": session_id, "object": "billing_portal.session", "customer": params["customer"],
                   "return_url": params.get("return_url"), "created": int(time.time()), "livemode": False,
                   "locale": None, "configuration": "bpc_" + uuid.uuid4().hex[:24], "flow": None,
                   "on_behalf_of": None, "url": f"https://billing.stripe.com/p/session/test_{session_id}"}
        self.portal_sessions[session_id] = session
        return self._remember(request, session)

    # -- what time and the bank do -------------------------------------------------------------------
    def renew(self, subscription_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """The period ended: the next one starts, its invoice (with pending prorations) is charged. Paid:
        active (a trial converts); declined: ``invoice.payment_failed`` and status past_due."""
        subscription = self.subscriptions[subscription_id]
        assert subscription["status"] != "canceled", "a canceled subscription does not renew"
        price = subscription["items"]["data"][0]["price"]
        old_start, old_end = self.period(subscription)
        previous = {"status": subscription["status"], "items": copy.deepcopy(subscription["items"]),
                    "latest_invoice": subscription["latest_invoice"]}
        end = old_end + INTERVAL_SECONDS[price["recurring"]["interval"]]
        self._set_period(subscription, old_end, end)
        lines = [self._line(subscription, price, price["unit_amount"], old_end, end),
                 *self.pending_items.pop(subscription_id, [])]
        invoice = self._invoice(subscription, lines, "subscription_cycle", old_start, old_end)
        subscription["status"] = "active" if paid else "past_due"
        events = [self._emit("customer.subscription.updated", subscription, previous),
                  self._emit("invoice.created", invoice), self._emit("invoice.finalized", invoice)]
        return events + self._settle(invoice, paid=paid)

    def pay_invoice(self, invoice_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """A retry of an open invoice (smart retries, or a new card from the portal). Paying the latest
        invoice of a past_due subscription makes it active again."""
        invoice = self.invoices[invoice_id]
        assert invoice["status"] == "open", "only an open invoice is retried"
        events = self._settle(invoice, paid=paid)
        subscription = self.subscriptions[invoice["parent"]["subscription_details"]["subscription"]]
        if paid and subscription["status"] == "past_due" and subscription["latest_invoice"] == invoice_id:
            subscription["status"] = "active"
            events.append(self._emit("customer.subscription.updated", subscription, {"status": "past_due"}))
        return events

    def end(self, subscription_id: str) -> list[dict[str, Any]]:
        """The subscription ended (canceled at once, at the end of a period it was set to cancel at, or
        after the last failed retry): ``customer.subscription.deleted``."""
        subscription = self.subscriptions[subscription_id]
        now = int(time.time())
        subscription.update(status="canceled", ended_at=now, canceled_at=subscription["canceled_at"] or now)
        return [self._emit("customer.subscription.deleted", subscription)]
