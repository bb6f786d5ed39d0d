"""Payment providers behind one protocol: ``stripe`` (the official library) and ``local`` (a demo
checkout served by the app that pays by sending itself a correctly signed webhook).

Called with no database transaction open (reserve and commit, call with an idempotency key, record in a
second transaction); the provider's webhooks come back through ``commerce/routes.py``.

Recurring billing (Stripe Billing): products and prices for subscription tiers, subscription checkout,
cancel / resume / price change, the billing portal and subscription retrieval for reconciliation. Every
method is one network call (two for a price change: read the item, then update it) and touches no
database; the subscription state it answers is a ``SubscriptionState`` read from the provider's
Stripe-shaped object by ``payments.objects.subscription_state`` (the webhook handler reads event
objects with the same function).

Stripe Connect (creator payouts): an Express connected account per creator, onboarding through an
account link, ``account.updated`` webhooks read by ``payments.objects.connected_account``, and transfers
from the platform balance (reversed in part or whole). Definite refusals raise ``ConnectRefused``
(``TransferDeclined`` for transfers and reversals) with the provider's error code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Interval = Literal["month", "year"]
ProrationBehavior = Literal["create_prorations", "always_invoice", "none"]
# Stripe's subscription statuses (``paused`` only with trials that end without a payment method).
SubscriptionStatus = Literal["trialing", "active", "past_due", "canceled", "incomplete", "incomplete_expired",
                             "unpaid", "paused"]


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


@dataclass(frozen=True, slots=True)
class SubscriptionCheckoutRequest:
    """A Checkout Session in subscription mode for one recurring price. ``metadata`` (organization, tier
    and user ids) is set on the session and on the subscription it creates, so subscription and invoice
    events carry it; ``client_reference_id`` is our own reference (e.g. the pending subscription row)."""

    price_id: str
    success_url: str
    cancel_url: str
    client_reference_id: str
    metadata: dict[str, str]
    idempotency_key: str
    customer_email: str | None = None  # a new provider customer with this email ...
    customer_id: str | None = None  # ... or an existing one (wins when both are given)
    trial_days: int = 0


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A provider subscription as the server needs it (times are UTC). ``price_id`` and ``item_id`` are
    the first (only) item's; ``latest_invoice_id`` is the newest invoice of the subscription."""

    id: str
    customer_id: str
    status: SubscriptionStatus
    price_id: str | None
    item_id: str | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    trial_end: datetime | None
    latest_invoice_id: str | None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class BillingRefused(Exception):
    """The provider answered and refused a billing request (unknown price, a canceled subscription, ...):
    a definite no, unlike a network failure after which the change may or may not have happened."""


class SubscriptionNotFound(BillingRefused):
    """The provider has no subscription with that id."""


class RefundDeclined(Exception):
    """The provider answered and refused the refund (e.g. more than the charge's unrefunded amount): a
    definite no, unlike a network failure after which the refund may or may not exist."""


@dataclass(frozen=True, slots=True)
class ConnectedAccount:
    """A connected account as the server needs it. ``requirements_due`` is Stripe's
    ``requirements.currently_due`` then ``past_due`` (without repeats); ``disabled_reason`` is
    ``requirements.disabled_reason`` (e.g. ``requirements.past_due``). ``transfers_active``: the
    ``transfers`` capability is active, which is what a transfer to the account needs (``payouts_enabled``
    is about the account's own payouts to its bank)."""

    account_id: str
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: tuple[str, ...]
    disabled_reason: str | None
    transfers_active: bool = False


@dataclass(frozen=True, slots=True)
class AccountLink:
    """A single-use onboarding URL; after ``expires_at`` (minutes) the user lands on ``refresh_url``."""

    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TransferResult:
    """A transfer to a connected account as it stands: ``reversed_cents`` is the total reversed so far.
    After ``reverse_transfer``, ``reversal_id`` is the reversal just made (None for ``create_transfer``)."""

    transfer_id: str
    amount_cents: int
    currency: str  # upper case, like the rest of the server's money
    reversed_cents: int
    reversal_id: str | None = None


class ConnectRefused(Exception):
    """The provider answered and refused a Connect request (an unknown account, a bad parameter): a
    definite no, unlike a network failure. ``code`` is the provider's error code when it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransferDeclined(ConnectRefused):
    """A transfer or reversal refused. Stripe's codes: ``balance_insufficient`` (the platform's available
    balance in that currency is too low), ``insufficient_capabilities_for_transfer`` (the destination's
    ``transfers`` capability is not active: onboarding unfinished or requirements past due),
    ``resource_missing`` (no such destination or transfer); a reversal beyond what remains has no code."""


class WebhookError(Exception):
    """Signature missing, wrong or stale: answer 400 and store nothing."""


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutCreated: ...

    async def expire_checkout(self, session_id: str) -> bool:
        """Close an open checkout so it can no longer be paid; True when it was open (and is now expired), False
        when it was complete or expired already."""
        ...

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

    # -- recurring billing -------------------------------------------------------------------------
    async def create_product(self, name: str, description: str | None, metadata: dict[str, str],
                             idempotency_key: str) -> str:
        """A product (one per subscription tier); returns its id. The same key returns the same product."""
        ...

    async def create_price(self, product_id: str, unit_amount: int, currency: str, interval: Interval,
                           idempotency_key: str, metadata: dict[str, str] | None = None) -> str:
        """A recurring price of ``unit_amount`` minor units every ``interval``; returns its id. Prices are
        immutable: a new amount is a new price (and the old one archived)."""
        ...

    async def archive_price(self, price_id: str) -> None:
        """``active=false``: no new checkouts with it; existing subscriptions keep it."""
        ...

    async def archive_product(self, product_id: str) -> None:
        """``active=false`` on the product."""
        ...

    async def create_subscription_checkout(self, request: SubscriptionCheckoutRequest) -> CheckoutCreated:
        """A hosted checkout that, once completed, creates the customer (when new) and the subscription
        (trialing for ``trial_days`` when > 0). The result arrives by webhook (``checkout.session.completed``
        with mode subscription, ``customer.subscription.created``, ``invoice.paid``)."""
        ...

    async def cancel_subscription(self, subscription_id: str, *, at_period_end: bool,
                                  idempotency_key: str | None = None) -> SubscriptionState:
        """At the period end (``cancel_at_period_end=true``, access until then) or at once (status canceled).
        SubscriptionNotFound for an unknown id, BillingRefused for one already canceled."""
        ...

    async def resume_subscription(self, subscription_id: str, *, idempotency_key: str | None = None) -> SubscriptionState:
        """Undo a cancellation at period end (``cancel_at_period_end=false``); BillingRefused once canceled."""
        ...

    async def change_subscription_price(self, subscription_id: str, price_id: str, *,
                                        proration_behavior: ProrationBehavior = "create_prorations",
                                        idempotency_key: str | None = None) -> SubscriptionState:
        """Move the subscription's item to ``price_id`` with the provider's proration (``create_prorations``:
        credit and charge for the rest of the period on the next invoice; ``always_invoice``: invoice them
        now). A change of interval restarts the period now and invoices at once, as Stripe does."""
        ...

    async def create_billing_portal_session(self, customer_id: str, return_url: str) -> str:
        """The URL of the provider's customer portal (cards, invoices) for ``customer_id``."""
        ...

    async def retrieve_subscription(self, subscription_id: str) -> SubscriptionState:
        """The provider's current state (reconciliation); SubscriptionNotFound for an unknown id."""
        ...

    # -- Connect (creator payouts) -------------------------------------------------------------------
    async def create_connected_account(self, *, email: str | None, country: str | None, metadata: dict[str, str],
                                       idempotency_key: str) -> ConnectedAccount:
        """An Express account with the ``transfers`` capability requested (not enabled until onboarding is
        done); the same key returns the same account (Stripe keeps keys 24 hours: store the id)."""
        ...

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        """The account's current state (reconciliation); ConnectRefused for an unknown id."""
        ...

    async def create_account_link(self, account_id: str, *, return_url: str, refresh_url: str) -> AccountLink:
        """An ``account_onboarding`` link. The user comes back to ``return_url`` (which says nothing about
        completion: read the account or wait for ``account.updated``), or to ``refresh_url`` when the link
        expired or was used, where the app makes a new link."""
        ...

    async def create_transfer(self, *, destination: str, amount_cents: int, currency: str, transfer_group: str | None,
                              metadata: dict[str, str], idempotency_key: str) -> TransferResult:
        """Move ``amount_cents`` from the platform's available balance to ``destination``; the same key
        returns the same transfer. TransferDeclined when refused; Stripe keeps a refusal under its key
        too, so a retry after one needs a new key."""
        ...

    async def find_transfer(self, transfer_group: str) -> TransferResult | None:
        """The transfer made under ``transfer_group``, if any: how a transfer whose answer was lost is found
        once the provider has forgotten its idempotency key (Stripe keeps keys 24 hours)."""
        ...

    async def reverse_transfer(self, transfer_id: str, *, amount_cents: int, idempotency_key: str) -> TransferResult:
        """Take ``amount_cents`` of a transfer back into the platform balance; the same key makes one
        reversal. TransferDeclined beyond what remains unreversed (or when the destination's balance
        cannot cover it)."""
        ...
