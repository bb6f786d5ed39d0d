"""A small, faithful stand-in for the Stripe API endpoints the server calls, plus signed event
delivery. Objects follow Stripe's documented shapes (checkout.session, refund, charge, event);
Idempotency-Key replays return the first response, as Stripe does. Stripe Billing (products, prices,
subscription checkout, subscriptions, invoices, billing portal) lives in ``stripe_standin_billing``, Connect
(accounts, account links, transfers, reversals) in ``stripe_standin_connect``."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codex_graphql.payments.signing import sign
from tests.support.live_server import live_server
from tests.support.stripe_standin_billing import BillingMixin, _error, parse_form
from tests.support.stripe_standin_connect import ConnectMixin

__all__ = ["StripeStandIn", "parse_form", "running_standin"]

class StripeStandIn(BillingMixin, ConnectMixin):
    def __init__(self, webhook_secret: str) -> None:
        self.webhook_secret = webhook_secret
        self.sessions: dict[str, dict[str, Any]] = {}
        self.expired: list[str] = []  # checkout sessions expired through the API
        self.refunds: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, tuple[str, bytes]] = {}
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.fail_status: int | None = None  # answer every API call with this status while set
        self.refund_status = "succeeded"  # status of refunds created next ("pending": settle them with settle_refund)
        self.base_url = ""
        # Awaited with (method, path) while each API call is handled: tests look at the database then
        # (e.g. that the app holds no transaction open across the call).
        self.during_request: Callable[[str, str], Awaitable[None]] | None = None
        self._init_billing()
        self._init_connect()

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/checkout/sessions", self.create_session, methods=["POST"]),
            Route("/v1/checkout/sessions/{id}", self.get_session, methods=["GET"]),
            Route("/v1/checkout/sessions/{id}/expire", self.expire_session, methods=["POST"]),
            Route("/v1/refunds", self.create_refund, methods=["POST"]),
            Route("/v1/refunds", self.list_refunds, methods=["GET"]),
            Route("/v1/charges/{id}", self.get_charge, methods=["GET"]),
            Route("/v1/payment_intents/{id}", self.get_payment_intent, methods=["GET"]),
            *self.billing_routes(),
            *self.connect_routes(),
        ])

    async def _replay(self, request: Request, params: dict[str, Any]) -> Response | None:
        key = request.headers.get("idempotency-key")
        self.requests.append((request.method, request.url.path, params, key))
        if self.during_request is not None:
            await self.during_request(request.method, request.url.path)
        if not request.headers.get("authorization", "").startswith("Bearer sk_test_"):
            return _error(401, "Invalid API Key provided.", "authentication_error")
        if self.fail_status is not None:
            return _error(self.fail_status, "Simulated failure.", "api_error")
        if key and key in self.idempotent:
            path, body = self.idempotent[key]
            if path != request.url.path:
                return _error(400, "Keys for idempotent requests can only be used for the same endpoint.")
            return Response(body, media_type="application/json", headers={"idempotent-replayed": "true"})
        return None

    def _remember(self, request: Request, obj: dict[str, Any]) -> Response:
        body = orjson.dumps(obj)
        key = request.headers.get("idempotency-key")
        if key:
            self.idempotent[key] = (request.url.path, body)
        return Response(body, media_type="application/json")

    async def create_session(self, request: Request) -> Response:
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        if params.get("mode") == "subscription":
            return self.create_subscription_session(request, params)
        items = params.get("line_items") or []
        if params.get("mode") != "payment" or len(items) != 1:
            return _error(400, "Expected mode=payment with one line item.")
        price = items[0]["price_data"]
        amount = int(price["unit_amount"]) * int(items[0].get("quantity", 1))
        session_id = "cs_test_" + uuid.uuid4().hex
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "amount_subtotal": amount, "amount_total": amount,
            "currency": price["currency"], "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "payment_intent": None, "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "automatic_tax": {"enabled": (params.get("automatic_tax") or {}).get("enabled") == "true"},
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "line_items_title": price["product_data"]["name"],
        }
        self.sessions[session_id] = session
        return self._remember(request, session)

    async def get_session(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        return JSONResponse(session) if session else _error(404, "No such checkout.session")

    async def expire_session(self, request: Request) -> Response:
        """``POST /v1/checkout/sessions/{id}/expire``: only an open session can be expired (as Stripe answers)."""
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return _error(404, "No such checkout.session")
        if session["status"] != "open":
            return _error(400, "Only Checkout Sessions with a status in [\"open\"] can be expired.")
        session.update(status="expired")
        self.expired.append(session["id"])
        return self._remember(request, session)

    async def create_refund(self, request: Request) -> Response:
        """``POST /v1/refunds``: ``amount`` optional (default: all that is not refunded yet), as Stripe."""
        params = parse_form(await request.body())
        if (replay := await self._replay(request, params)) is not None:
            return replay
        intent = params.get("payment_intent")
        charge = next((c for c in self.charges.values() if c["payment_intent"] == intent), None)
        if charge is None:
            return _error(400, f"No such payment_intent: '{intent}'")
        if charge["refunded"]:
            return _error(400, f"Charge {charge['id']} has already been refunded.")
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = int(params["amount"]) if params.get("amount") is not None else remaining
        if amount <= 0:
            return _error(400, "Invalid positive integer")
        if amount > remaining:
            return _error(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})")
        refund = self.refund_charge(charge, amount, reason=params.get("reason"), metadata=params.get("metadata") or {})
        return self._remember(request, refund)

    async def list_refunds(self, request: Request) -> Response:
        """``GET /v1/refunds?payment_intent=...``: newest first, ``limit`` and ``starting_after`` as Stripe."""
        params = dict(request.query_params)
        if (replay := await self._replay(request, params)) is not None:
            return replay
        listed = sorted((r for r in self.refunds.values()
                         if not params.get("payment_intent") or r["payment_intent"] == params["payment_intent"]),
                        key=lambda r: r["created"], reverse=True)
        if params.get("starting_after"):
            ids = [r["id"] for r in listed]
            listed = listed[ids.index(params["starting_after"]) + 1:] if params["starting_after"] in ids else []
        limit = int(params.get("limit") or 10)
        return JSONResponse({"object": "list", "url": "/v1/refunds", "has_more": len(listed) > limit,
                             "data": listed[:limit]})

    def refund_charge(self, charge: dict[str, Any], amount: int, *, reason: str | None = None,
                      metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """A refund of ``amount`` on ``charge`` (the API above, or one made in the dashboard)."""
        refund = {"id": "re_" + uuid.uuid4().hex, "object": "refund", "amount": amount,
                  "balance_transaction": "txn_" + uuid.uuid4().hex, "charge": charge["id"],
                  "created": int(time.time()), "currency": charge["currency"], "metadata": metadata or {},
                  "payment_intent": charge["payment_intent"], "reason": reason, "receipt_number": None,
                  "source_transfer_reversal": None, "status": self.refund_status, "transfer_reversal": None}
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].insert(0, refund)  # newest first, as Stripe lists them
        charge["refunds"]["total_count"] += 1
        return refund

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        """A pending refund succeeded or failed (a failed one no longer counts as refunded on its charge)."""
        refund = self.refunds[refund_id]
        refund["status"] = status
        if status in ("failed", "canceled"):
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
        return refund

    def dispute(self, charge: dict[str, Any], *, amount: int | None = None,
                reason: str = "fraudulent") -> dict[str, Any]:
        """The buyer disputed ``charge`` at their bank: the ``dispute`` object (``status`` needs_response)."""
        dispute = {"id": "dp_" + uuid.uuid4().hex, "object": "dispute",
                   "amount": charge["amount"] if amount is None else amount, "balance_transactions": [],
                   "charge": charge["id"], "created": int(time.time()), "currency": charge["currency"],
                   "evidence": {}, "evidence_details": {"due_by": int(time.time()) + 7 * 86400,
                                                        "has_evidence": False, "past_due": False, "submission_count": 0},
                   "is_charge_refundable": False, "livemode": False, "metadata": {},
                   "payment_intent": charge["payment_intent"], "reason": reason, "status": "needs_response"}
        charge["disputed"] = True
        return dispute

    async def _watched(self, request: Request) -> None:
        if self.during_request is not None:
            await self.during_request(request.method, request.url.path)

    async def get_charge(self, request: Request) -> Response:
        await self._watched(request)
        charge = self.charges.get(request.path_params["id"])
        return JSONResponse(charge) if charge else _error(404, "No such charge")

    async def get_payment_intent(self, request: Request) -> Response:
        await self._watched(request)
        intent_id = request.path_params["id"]
        charges = [c for c in self.charges.values() if c["payment_intent"] == intent_id]
        if not charges:
            return _error(404, f"No such payment_intent: '{intent_id}'")
        return JSONResponse({"id": intent_id, "object": "payment_intent", "amount": charges[-1]["amount"],
                             "currency": charges[-1]["currency"], "status": "succeeded",
                             "latest_charge": charges[-1]["id"]})

    # -- what Stripe would send ------------------------------------------------------------------
    def pay(self, session_id: str, *, tax: int = 0, payment_status: str = "paid") -> dict[str, Any]:
        """The customer paid: returns the ``checkout.session.completed`` event."""
        session = self.sessions[session_id]
        intent = session["payment_intent"] or "pi_" + uuid.uuid4().hex
        charge_id = "ch_" + uuid.uuid4().hex
        session.update(status="complete", payment_status=payment_status, payment_intent=intent,
                       amount_total=session["amount_subtotal"] + tax,
                       total_details={**session["total_details"], "amount_tax": tax},
                       customer_details={"email": session["customer_email"]})
        self.charges[charge_id] = {
            "id": charge_id, "object": "charge", "amount": session["amount_total"], "amount_captured": session["amount_total"],
            "amount_refunded": 0, "captured": True, "currency": session["currency"], "disputed": False,
            "paid": True, "payment_intent": intent, "refunded": False, "status": "succeeded",
            "receipt_url": f"https://pay.stripe.com/receipts/{charge_id}",
            "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                        "url": f"/v1/charges/{charge_id}/refunds"},
        }
        return self.event("checkout.session.completed", session)

    def expiry(self, session_id: str) -> dict[str, Any]:
        """The session lapsed unpaid: returns the ``checkout.session.expired`` event."""
        session = self.sessions[session_id]
        session.update(status="expired")
        return self.event("checkout.session.expired", session)

    def charge_for(self, session_id: str) -> dict[str, Any]:
        intent = self.sessions[session_id]["payment_intent"]
        return next(c for c in self.charges.values() if c["payment_intent"] == intent)

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": "evt_" + uuid.uuid4().hex, "object": "event", "api_version": self.api_version,
                "created": int(time.time()), "livemode": False, "type": event_type, "data": {"object": copy.deepcopy(obj)}}

    def signed(self, event: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None) -> tuple[bytes, str]:
        payload = orjson.dumps(event)
        return payload, sign(payload, secret or self.webhook_secret, timestamp)


@asynccontextmanager
async def running_standin(webhook_secret: str) -> AsyncIterator[StripeStandIn]:
    standin = StripeStandIn(webhook_secret)
    async with live_server(standin.app()) as address:
        standin.base_url = f"http://{address}"
        yield standin
