"""Reading Stripe-shaped subscription and invoice objects (API answers and webhook ``data.object``) into
the small typed results the server uses. One reader for the providers and the webhook handler.

Stripe moved fields between API versions; both placements are read, the newer first:
- the billing period: ``items.data[].current_period_start/end`` (2025-03-31.basil and later, the
  version the installed library pins) or the subscription's own ``current_period_start/end`` (older);
- an invoice's subscription: ``parent.subscription_details.subscription`` (basil+) or ``subscription``;
- a line's price and proration flag: ``pricing.price_details.price`` and
  ``parent.subscription_item_details.proration`` (basil+) or ``price.id`` and ``proration``.

Connect ``account`` objects (API answers and ``account.updated`` events) are read by ``connected_account``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from codex_graphql.payments import ConnectedAccount, SubscriptionState, SubscriptionStatus


def timestamp(value: Any) -> datetime | None:
    """A Unix timestamp from Stripe as an aware UTC datetime (None stays None)."""
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def object_id(value: Any) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, Mapping):
        return cast(str | None, value.get("id"))
    return cast(str | None, value)


def _items(subscription: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = subscription.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, Mapping) else []


def subscription_state(subscription: Mapping[str, Any]) -> SubscriptionState:
    """The state of a Stripe ``subscription`` object (ValueError when it has no billing period)."""
    items = _items(subscription)
    first = items[0] if items else {}
    start = first.get("current_period_start", subscription.get("current_period_start"))
    end = first.get("current_period_end", subscription.get("current_period_end"))
    if start is None or end is None:
        raise ValueError(f"Subscription {subscription.get('id')!r} has no current period.")
    metadata = subscription.get("metadata") or {}
    return SubscriptionState(
        id=str(subscription["id"]),
        customer_id=str(object_id(subscription.get("customer")) or ""),
        status=cast(SubscriptionStatus, subscription["status"]),
        price_id=object_id(first.get("price")),
        item_id=cast(str | None, first.get("id")),
        current_period_start=cast(datetime, timestamp(start)),
        current_period_end=cast(datetime, timestamp(end)),
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
        trial_end=timestamp(subscription.get("trial_end")),
        latest_invoice_id=object_id(subscription.get("latest_invoice")),
        canceled_at=timestamp(subscription.get("canceled_at")),
        ended_at=timestamp(subscription.get("ended_at")),
        metadata={str(k): str(v) for k, v in dict(metadata).items()},
    )


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    price_id: str | None
    amount: int
    proration: bool
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True, slots=True)
class InvoiceInfo:
    """A Stripe ``invoice``: ``billing_reason`` is subscription_create, subscription_cycle,
    subscription_update (proration invoiced at once), manual, ...; ``period_start/end`` is the service
    period of its subscription line (not the invoice's own ``period_*``, which Stripe sets to the
    *previous* period for renewals)."""

    id: str
    subscription_id: str | None
    customer_id: str | None
    status: str | None  # draft | open | paid | uncollectible | void
    amount_due: int
    amount_paid: int
    currency: str
    billing_reason: str | None
    period_start: datetime | None
    period_end: datetime | None
    lines: list[InvoiceLine] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    tax: int = 0  # the tax in ``amount_paid`` (``total_taxes``, or the older API's ``tax``)
    paid_at: datetime | None = None  # ``status_transitions.paid_at``


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if isinstance(details, Mapping) and details.get("subscription"):
        return object_id(details["subscription"])
    return object_id(invoice.get("subscription"))


def _line(line: Mapping[str, Any]) -> InvoiceLine:
    pricing = line.get("pricing") or {}
    details = (pricing.get("price_details") or {}) if isinstance(pricing, Mapping) else {}
    price_id = object_id(details.get("price")) if details.get("price") else object_id(line.get("price"))
    parent = line.get("parent") or {}
    item_details = (parent.get("subscription_item_details") or {}) if isinstance(parent, Mapping) else {}
    proration = bool(item_details.get("proration", line.get("proration", False)))
    period = line.get("period") or {}
    return InvoiceLine(price_id=price_id, amount=int(line.get("amount") or 0), proration=proration,
                       period_start=timestamp(period.get("start")), period_end=timestamp(period.get("end")))


def invoice_info(invoice: Mapping[str, Any]) -> InvoiceInfo:
    lines = [_line(line) for line in ((invoice.get("lines") or {}).get("data") or [])]
    regular = [line for line in lines if not line.proration and line.period_end is not None]
    service = max(regular, key=lambda line: line.period_end or datetime.min.replace(tzinfo=UTC), default=None)
    parent = invoice.get("parent") or {}
    details = (parent.get("subscription_details") or {}) if isinstance(parent, Mapping) else {}
    metadata = details.get("metadata") or (invoice.get("subscription_details") or {}).get("metadata") or {}
    return InvoiceInfo(
        id=str(invoice["id"]),
        subscription_id=invoice_subscription_id(invoice),
        customer_id=object_id(invoice.get("customer")),
        status=invoice.get("status"),
        amount_due=int(invoice.get("amount_due") or 0),
        amount_paid=int(invoice.get("amount_paid") or 0),
        currency=str(invoice.get("currency") or "").upper(),
        billing_reason=invoice.get("billing_reason"),
        period_start=service.period_start if service else timestamp(invoice.get("period_start")),
        period_end=service.period_end if service else timestamp(invoice.get("period_end")),
        lines=lines,
        metadata={str(k): str(v) for k, v in dict(metadata).items()},
        tax=_invoice_tax(invoice),
        paid_at=timestamp((invoice.get("status_transitions") or {}).get("paid_at")),
    )


def _invoice_tax(invoice: Mapping[str, Any]) -> int:
    taxes = invoice.get("total_taxes")
    if isinstance(taxes, list):
        return sum(int(tax.get("amount") or 0) for tax in taxes if isinstance(tax, Mapping))
    return int(invoice.get("tax") or 0)


def connected_account(account: Mapping[str, Any]) -> ConnectedAccount:
    """The state of a Stripe ``account`` object (an API answer or an ``account.updated`` event's
    ``data.object``): payouts, whether the user submitted the onboarding form, what Stripe still needs
    (``requirements.currently_due`` then ``past_due``) and why the account is disabled, if it is."""
    requirements = account.get("requirements") or {}
    due = [*(requirements.get("currently_due") or []), *(requirements.get("past_due") or [])]
    capabilities = account.get("capabilities") or {}
    return ConnectedAccount(
        account_id=str(account["id"]),
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        requirements_due=tuple(str(field) for field in dict.fromkeys(due)),
        disabled_reason=cast(str | None, requirements.get("disabled_reason")),
        transfers_active=capabilities.get("transfers") == "active",
    )
