"""Payment providers behind one protocol: ``stripe`` (the official library) and ``local`` (a demo
checkout served by the app that pays by sending itself a correctly signed webhook)."""

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


class WebhookError(Exception):
    """Signature missing, wrong or stale: answer 400 and store nothing."""


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutCreated: ...

    async def refund(self, payment_intent_id: str, idempotency_key: str, reason: str | None) -> RefundResult: ...

    async def receipt_url(self, charge_id: str | None, payment_intent_id: str | None) -> str | None: ...

    def verify_webhook(self, payload: bytes, signature_header: str | None) -> dict[str, Any]: ...
