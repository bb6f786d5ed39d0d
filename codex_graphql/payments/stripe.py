"""Stripe through the official library's ``StripeClient`` with async calls."""

from __future__ import annotations

from typing import Any

import stripe

from codex_graphql.payments import (
    CheckoutCreated,
    CheckoutRequest,
    RefundDeclined,
    RefundResult,
    signing,
)

WEBHOOK_TOLERANCE_SECONDS = 300


class StripeProvider:
    name = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str | None = None) -> None:
        options: dict[str, Any] = {"max_network_retries": 2}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self.client = stripe.StripeClient(secret_key, http_client=stripe.HTTPXClient(), **options)
        self.webhook_secret = webhook_secret

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutCreated:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": request.amount_cents,
                    "product_data": {"name": request.title},
                },
            }],
            "customer_email": request.customer_email,
            "client_reference_id": request.reference_id,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": request.metadata,
            "payment_intent_data": {"metadata": request.metadata},
        }
        if request.automatic_tax:
            params["automatic_tax"] = {"enabled": True}
        session = await self.client.v1.checkout.sessions.create_async(
            params=params, options={"idempotency_key": request.idempotency_key}  # type: ignore[arg-type]
        )
        return CheckoutCreated(session_id=session.id, url=session.url or "")

    async def refund(self, payment_intent_id: str, idempotency_key: str, reason: str | None,
                     amount_cents: int | None = None, metadata: dict[str, str] | None = None) -> RefundResult:
        params: dict[str, Any] = {"payment_intent": payment_intent_id}
        if amount_cents is not None:
            params["amount"] = amount_cents
        if reason in {"duplicate", "fraudulent", "requested_by_customer"}:
            params["reason"] = reason
        if metadata:
            params["metadata"] = metadata
        try:
            refund = await self.client.v1.refunds.create_async(
                params=params, options={"idempotency_key": idempotency_key}  # type: ignore[arg-type]
            )
        except (stripe.InvalidRequestError, stripe.CardError) as exc:
            raise RefundDeclined(exc.user_message or str(exc)) from exc
        return RefundResult(refund_id=refund.id, status=refund.status or "pending", amount_cents=refund.amount)

    async def find_refund(self, payment_intent_id: str, metadata_key: str, metadata_value: str) -> RefundResult | None:
        params: dict[str, Any] = {"payment_intent": payment_intent_id, "limit": 100}
        while True:
            page = await self.client.v1.refunds.list_async(params=params)  # type: ignore[arg-type]
            for refund in page.data:
                metadata = refund.metadata.to_dict() if refund.metadata else {}
                if metadata.get(metadata_key) == metadata_value:
                    return RefundResult(refund_id=refund.id, status=refund.status or "pending", amount_cents=refund.amount)
            if not page.has_more or not page.data:
                return None
            params["starting_after"] = page.data[-1].id

    async def receipt_url(self, charge_id: str | None, payment_intent_id: str | None) -> str | None:
        """Stripe's hosted receipt lives on the charge (the payment intent's latest charge)."""
        if not charge_id and payment_intent_id:
            intent = await self.client.v1.payment_intents.retrieve_async(payment_intent_id)
            charge_id = intent.latest_charge if isinstance(intent.latest_charge, str) else None
        if not charge_id:
            return None
        charge = await self.client.v1.charges.retrieve_async(charge_id)
        return charge.receipt_url

    def verify_webhook(self, payload: bytes, signature_header: str | None) -> dict[str, Any]:
        """Stripe's scheme, checked by payments.signing rather than the library's ``construct_event``: the
        library accepts timestamps any distance in the future; we refuse beyond the tolerance both ways."""
        return signing.verify_event(payload, signature_header, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
