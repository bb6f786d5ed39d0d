"""Payment providers behind one protocol: ``stripe`` (the official library) and ``local`` (a demo
checkout served by the app that pays by sending itself a correctly signed webhook).

Called with no database transaction open (reserve and commit, call with an idempotency key, record in a
second transaction); the provider's webhooks come back through ``commerce/routes.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    reference_id: str  # our checkout session id
    title: str
    amount_cents: int
    currency: str
    customer_email: str
    success_url: str
    cancel_url: str
    metadata: dict[str, str]
    idempotency_key: str
    automatic_tax: bool = False


@dataclass(frozen=True, slots=True)
class CheckoutCreated:
    session_id: str
    url: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_id: str
    status: str  # succeeded | pending | failed | canceled
    amount_cents: int | None = None


class RefundDeclined(Exception):
    """The provider answered and refused the refund (e.g. more than the charge's unrefunded amount): a
    definite no, unlike a network failure after which the refund may or may not exist."""


class WebhookError(Exception):
    """Signature missing, wrong or stale: answer 400 and store nothing."""


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutCreated: ...

    async def refund(self, payment_intent_id: str, idempotency_key: str, reason: str | None,
                     amount_cents: int | None = None, metadata: dict[str, str] | None = None) -> RefundResult:
        """Refund ``amount_cents`` (all that remains when None); the same idempotency key returns the same
        refund. Raises RefundDeclined when the provider refuses."""
        ...

    async def find_refund(self, payment_intent_id: str, metadata_key: str, metadata_value: str) -> RefundResult | None:
        """The payment intent's refund whose metadata has ``metadata_key: metadata_value``, or None when the
        provider made none (the refund reconciliation asks after a crash between reservation and record)."""
        ...

    async def receipt_url(self, charge_id: str | None, payment_intent_id: str | None) -> str | None: ...

    def verify_webhook(self, payload: bytes, signature_header: str | None) -> dict[str, Any]: ...
