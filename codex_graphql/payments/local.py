"""The embedded demo provider: a checkout page served by the app. "Pay" makes the app send itself a
``checkout.session.completed`` webhook signed exactly as Stripe signs them, through the same
webhook path. Refuses to run in production.

Checkout details travel in a signed token in the checkout URL, so the provider keeps no state for
purchases. Recurring billing (products, prices, subscription checkout and changes) is in
``payments.local_billing``; Connect (creator onboarding, transfers) in ``payments.local_connect``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from codex_graphql.payments import CheckoutCreated, CheckoutRequest, RefundResult, signing
from codex_graphql.payments.local_billing import LocalBillingMixin
from codex_graphql.payments.local_connect import LocalConnectMixin
from codex_graphql.payments.signing import sign

TOLERANCE_SECONDS = 300


class LocalProvider(LocalBillingMixin, LocalConnectMixin):
    name = "local"

    def __init__(self, base_url: str, secret_key: str, webhook_secret: str, environment: str,
                 state_path: Path | None = None) -> None:
        if environment == "production":
            raise RuntimeError("PAYMENTS_PROVIDER=local is for development and demos; it refuses to run in production.")
        self.base_url = base_url.rstrip("/")
        self._token_key = hashlib.sha256(b"codex-local-checkout:" + secret_key.encode()).digest()
        self.webhook_secret = webhook_secret
        self._init_billing(state_path)
        self._init_connect(state_path.with_name("local-connect.json") if state_path else None)

    # -- checkout -----------------------------------------------------------------------------
    def _seal(self, data: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")
        mac = hmac.new(self._token_key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def open_token(self, token: str) -> dict[str, Any] | None:
        body, _, mac = token.partition(".")
        expected = hmac.new(self._token_key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            return None
        return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutCreated:
        session_id = "cs_local_" + uuid.uuid5(uuid.NAMESPACE_URL, request.idempotency_key).hex
        token = self._seal({
            "id": session_id, "title": request.title, "amount": request.amount_cents, "currency": request.currency,
            "email": request.customer_email, "ref": request.reference_id, "metadata": request.metadata,
            "success_url": request.success_url, "cancel_url": request.cancel_url,
        })
        return CheckoutCreated(session_id=session_id, url=f"{self.base_url}/checkout/local/{session_id}?token={token}")

    async def expire_checkout(self, session_id: str) -> bool:
        return True  # a local checkout is a sealed link: the booking it pays for is released on our side

    def completed_event(self, checkout: dict[str, Any]) -> bytes:
        """A Stripe-shaped ``checkout.session.completed`` event for a paid local checkout."""
        payment_intent = "pi_local_" + uuid.uuid5(uuid.NAMESPACE_URL, checkout["id"]).hex
        event = {
            "id": "evt_local_" + uuid.uuid5(uuid.NAMESPACE_URL, "paid:" + checkout["id"]).hex,
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {
                "id": checkout["id"], "object": "checkout.session", "mode": "payment", "status": "complete",
                "payment_status": "paid", "amount_total": checkout["amount"], "amount_subtotal": checkout["amount"],
                "currency": checkout["currency"].lower(), "client_reference_id": checkout["ref"],
                "customer_details": {"email": checkout["email"]}, "metadata": checkout["metadata"],
                "payment_intent": payment_intent, "total_details": {"amount_tax": 0},
            }},
        }
        return orjson.dumps(event)

    def completion_events(self, checkout: dict[str, Any]) -> list[bytes]:
        """What "Pay" on the demo page delivers, oldest first: one ``checkout.session.completed`` for a
        purchase; the subscription, first invoice and completion events for a subscription checkout."""
        if checkout.get("mode") == "subscription":
            return self.subscription_events(checkout)
        return [self.completed_event(checkout)]

    def signature(self, payload: bytes) -> str:
        return sign(payload, self.webhook_secret)

    # -- refunds and receipts -------------------------------------------------------------------
    async def refund(self, payment_intent_id: str, idempotency_key: str, reason: str | None,
                     amount_cents: int | None = None, metadata: dict[str, str] | None = None) -> RefundResult:
        """Always succeeds (the server checks amounts before calling); the id follows from the key."""
        return RefundResult(refund_id="re_local_" + uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex,
                            status="succeeded", amount_cents=amount_cents)

    async def find_refund(self, payment_intent_id: str, metadata_key: str, metadata_value: str) -> RefundResult | None:
        return None  # local refunds change nothing anywhere: one never made needs no record

    async def receipt_url(self, charge_id: str | None, payment_intent_id: str | None) -> str | None:
        return None  # the app renders its own receipt page

    # -- webhooks -------------------------------------------------------------------------------
    def verify_webhook(self, payload: bytes, signature_header: str | None) -> dict[str, Any]:
        return verify_signature(payload, signature_header, self.webhook_secret)


def verify_signature(payload: bytes, header: str | None, secret: str, tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """Stripe's documented scheme, checked by payments.signing (timestamps too old or too far ahead are refused)."""
    return signing.verify_event(payload, header, secret, tolerance=tolerance)
