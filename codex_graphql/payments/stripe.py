"""Stripe through the official library's ``StripeClient`` with async calls (Connect: ``stripe_connect``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from codex_graphql.payments import (
    BillingRefused,
    CheckoutCreated,
    CheckoutRequest,
    Interval,
    ProrationBehavior,
    RefundDeclined,
    RefundResult,
    SubscriptionCheckoutRequest,
    SubscriptionNotFound,
    SubscriptionState,
    WebhookError,
    signing,
)
from codex_graphql.payments.objects import subscription_state
from codex_graphql.payments.stripe_connect import StripeConnectMixin

WEBHOOK_TOLERANCE_SECONDS = 300


class StripeProvider(StripeConnectMixin):
    name = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str | None = None, *,
                 connect_webhook_secret: str | None = None) -> None:
        options: dict[str, Any] = {"max_network_retries": 2}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self.client = stripe.StripeClient(secret_key, http_client=stripe.HTTPXClient(), **options)
        self.webhook_secret = webhook_secret
        self.connect_webhook_secret = connect_webhook_secret

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

    async def expire_checkout(self, session_id: str) -> bool:
        try:
            await self.client.v1.checkout.sessions.expire_async(session_id)
        except stripe.InvalidRequestError:
            # "Only Checkout Sessions with a status of open can be expired": paid or expired already.
            return False
        return True

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
        library accepts timestamps any distance in the future; we refuse beyond the tolerance both ways.
        Events of connected accounts come from Stripe's Connect endpoint, which signs with its own secret
        (``STRIPE_CONNECT_WEBHOOK_SECRET``): a body either secret signed is accepted."""
        try:
            signing.verify(payload, signature_header, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except WebhookError:
            if not self.connect_webhook_secret:
                raise
            signing.verify(payload, signature_header, self.connect_webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
        return signing.parse_event(payload)

    # -- recurring billing ----------------------------------------------------------------------
    @staticmethod
    def _options(idempotency_key: str | None) -> Any:
        return {"idempotency_key": idempotency_key} if idempotency_key else None

    async def create_product(self, name: str, description: str | None, metadata: dict[str, str],
                             idempotency_key: str) -> str:
        params: dict[str, Any] = {"name": name, "metadata": metadata}
        if description:  # Stripe refuses an empty string here
            params["description"] = description
        with _refusals():
            product = await self.client.v1.products.create_async(params=params, options=self._options(idempotency_key))  # type: ignore[arg-type]
        return product.id

    async def create_price(self, product_id: str, unit_amount: int, currency: str, interval: Interval,
                           idempotency_key: str, metadata: dict[str, str] | None = None) -> str:
        params: dict[str, Any] = {"product": product_id, "unit_amount": unit_amount, "currency": currency.lower(),
                                  "recurring": {"interval": interval}}
        if metadata:
            params["metadata"] = metadata
        with _refusals():
            price = await self.client.v1.prices.create_async(params=params, options=self._options(idempotency_key))  # type: ignore[arg-type]
        return price.id

    async def archive_price(self, price_id: str) -> None:
        with _refusals():
            await self.client.v1.prices.update_async(price_id, params={"active": False})

    async def archive_product(self, product_id: str) -> None:
        with _refusals():
            await self.client.v1.products.update_async(product_id, params={"active": False})

    async def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutCreated:
        subscription_data: dict[str, Any] = {"metadata": request.metadata}
        if request.trial_days > 0:
            subscription_data["trial_period_days"] = request.trial_days
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "client_reference_id": request.client_reference_id,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": request.metadata,
            "subscription_data": subscription_data,
        }
        if request.customer_id:
            params["customer"] = request.customer_id
        elif request.customer_email:
            params["customer_email"] = request.customer_email
        with _refusals():
            session = await self.client.v1.checkout.sessions.create_async(
                params=params, options=self._options(request.idempotency_key))  # type: ignore[arg-type]
        return CheckoutCreated(session_id=session.id, url=session.url or "")

    async def cancel_subscription(self, subscription_id: str, *, at_period_end: bool,
                                  idempotency_key: str | None = None) -> SubscriptionState:
        with _refusals(subscription=True):
            if at_period_end:
                subscription = await self.client.v1.subscriptions.update_async(
                    subscription_id, params={"cancel_at_period_end": True}, options=self._options(idempotency_key))
            else:
                subscription = await self.client.v1.subscriptions.cancel_async(
                    subscription_id, options=self._options(idempotency_key))
        return subscription_state(subscription.to_dict())

    async def resume_subscription(self, subscription_id: str, *, idempotency_key: str | None = None) -> SubscriptionState:
        with _refusals(subscription=True):
            subscription = await self.client.v1.subscriptions.update_async(
                subscription_id, params={"cancel_at_period_end": False}, options=self._options(idempotency_key))
        return subscription_state(subscription.to_dict())

    async def change_subscription_price(self, subscription_id: str, price_id: str, *,
                                        proration_behavior: ProrationBehavior = "create_prorations",
                                        idempotency_key: str | None = None) -> SubscriptionState:
        current = await self.retrieve_subscription(subscription_id)
        if current.item_id is None:
            raise BillingRefused(f"Subscription {subscription_id} has no item to change.")
        params: dict[str, Any] = {"items": [{"id": current.item_id, "price": price_id}],
                                  "proration_behavior": proration_behavior}
        with _refusals(subscription=True):
            subscription = await self.client.v1.subscriptions.update_async(
                subscription_id, params=params, options=self._options(idempotency_key))  # type: ignore[arg-type]
        return subscription_state(subscription.to_dict())

    async def create_billing_portal_session(self, customer_id: str, return_url: str) -> str:
        with _refusals():
            session = await self.client.v1.billing_portal.sessions.create_async(
                params={"customer": customer_id, "return_url": return_url})
        return session.url

    async def retrieve_subscription(self, subscription_id: str) -> SubscriptionState:
        with _refusals(subscription=True):
            subscription = await self.client.v1.subscriptions.retrieve_async(subscription_id)
        return subscription_state(subscription.to_dict())


@contextmanager
def _refusals(subscription: bool = False) -> Iterator[None]:
    """Stripe's definite answers as BillingRefused (SubscriptionNotFound when the subscription in the URL
    does not exist: Stripe answers 404 for it, 400 for a missing object named in the parameters); network
    and server errors propagate unchanged (the outcome is unknown: retry with the same key)."""
    try:
        yield
    except stripe.InvalidRequestError as exc:
        if subscription and exc.http_status == 404:
            raise SubscriptionNotFound(exc.user_message or str(exc)) from exc
        raise BillingRefused(exc.user_message or str(exc)) from exc
    except stripe.CardError as exc:
        raise BillingRefused(exc.user_message or str(exc)) from exc
