"""A customer's subscription kept in step with the payment provider (Stripe Billing). Services never commit.

Every state of a provider subscription, whether read from a webhook's object (``customer.subscription.
created / updated / deleted``) or from the provider's answer to a cancel / resume / change call, goes through
``apply``, under the row's lock (``billing_repository.lock``): concurrent deliveries of one subscription's
events run one after the other. Events arrive in any order, so each applied state keeps its ordering facts,
and an older state never replaces a newer one:

1. an ended subscription (canceled, incomplete_expired) is final: nothing after it revives the row;
2. a later billing period is newer (periods only move forward: renewals, and a change of interval restarts
   the period *now*);
3. within one period, the later provider time is newer (the event's ``created``; a call's answer counts
   at the whole second it was recorded). Equal times apply in arrival order.

``access_until`` follows from the state (``access_until``) and is what ``content.access`` reads: the period
end when the subscription cancels at period end, the period end plus ``RENEWAL_LEEWAY`` while it renews
(the renewal's event moves it on; a lost event cannot grant access forever), the start of PAST_DUE plus the
organization's grace period, and nothing once CANCELED or INCOMPLETE.

Each applied change of status, and each paid renewal invoice, is announced to integrators in the same
transaction (``lifecycle``: STARTED, RENEWED, PAST_DUE, CANCELED, exactly once per change).

Invoices: ``invoice.paid`` records the invoice's amount once (``subscription_invoice``: recurring revenue for
the dashboard, summed by triggers) and grants the tier's monthly credits once per invoice (``credits.service.
grant_period_credits``, keyed by the invoice id); ``invoice.payment_failed`` queues the dunning email once per
invoice (``DUNNING_ACTOR``). ``checkout.session.completed`` (mode subscription) records the provider customer.
Events of subscriptions this server did not start (no row id in the metadata), of another customer's row, or
for a price no tier of the organization has, are logged and ignored: nothing changes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.credits import service as credits
from codex_graphql.db import utcnow
from codex_graphql.org_settings import service as org_settings
from codex_graphql.payments import SubscriptionState
from codex_graphql.payments.objects import invoice_info, subscription_state, timestamp
from codex_graphql.subscriptions import billing_repository as repository
from codex_graphql.subscriptions import lifecycle
from codex_graphql.subscriptions import repository as tiers
from codex_graphql.subscriptions.models import BillingInterval, Subscription, SubscriptionStatus

log = logging.getLogger("codex_graphql.subscriptions.billing")

ROW_KEY = "codex_subscription_id"  # the provider subscription's metadata: our row id
RENEWAL_LEEWAY = timedelta(days=2)
DUNNING_ACTOR = "send_subscription_dunning_email"
STATUSES: dict[str, SubscriptionStatus] = {
    "trialing": SubscriptionStatus.TRIALING, "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE, "unpaid": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED, "incomplete_expired": SubscriptionStatus.CANCELED,
    "incomplete": SubscriptionStatus.INCOMPLETE, "paused": SubscriptionStatus.INCOMPLETE,
}
ENDED = ("canceled", "incomplete_expired")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose subscription an event is about, from the metadata this server set on it."""

    organization_id: uuid.UUID
    row_id: uuid.UUID
    user_id: uuid.UUID | None


def owner_of(metadata: dict[str, Any] | None) -> Owner | None:
    metadata = metadata or {}
    organization_id, row_id = _uuid(metadata.get("organization_id")), _uuid(metadata.get(ROW_KEY))
    if organization_id is None or row_id is None:
        return None
    return Owner(organization_id, row_id, _uuid(metadata.get("user_id")))


def provider_time(value: int | float | datetime | None) -> datetime:
    """A time on the provider's one-second scale (an event's ``created``; now for a call's answer)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if value is None:
        return utcnow().replace(microsecond=0)
    return datetime.fromtimestamp(int(value), UTC)


def access_until(status: SubscriptionStatus, period_end: datetime | None, cancel_at_period_end: bool,
                 past_due_since: datetime | None, grace_days: int) -> datetime | None:
    """Until when a subscription in this state grants its tier (None: not at all). See the module docstring."""
    if period_end is None:
        return None
    if status in (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE):
        return period_end if cancel_at_period_end else period_end + RENEWAL_LEEWAY
    if status is SubscriptionStatus.PAST_DUE and past_due_since is not None:
        end = past_due_since + timedelta(days=grace_days)
        return min(end, period_end) if cancel_at_period_end else end
    return None


def _newer(row: Subscription, ended: bool, period_start: datetime, at: datetime) -> bool:
    if row.state_at is None:
        return True
    stored = (row.state_ended, row.state_period_start or datetime.min.replace(tzinfo=UTC), row.state_at)
    if stored[0] and not ended:
        return False
    return (ended, period_start, at) >= stored


async def apply(session: AsyncSession, row: Subscription, state: SubscriptionState, at: datetime) -> str:
    """Write ``state`` (of the provider subscription of ``row``, locked) unless the row holds a newer one."""
    if row.stripe_subscription_id not in (None, state.id):
        log.warning("provider subscription %s does not belong to subscription %s", state.id, row.id)
        return "unmatched"
    price = await repository.price_by_provider_id(session, row.organization_id, state.price_id) if state.price_id else None
    if price is None:
        log.warning("subscription %s: price %s is no tier's price; ignored", row.id, state.price_id)
        return "unknown_tier"
    ended = state.status in ENDED
    if not _newer(row, ended, state.current_period_start, at):
        return "stale"
    status = STATUSES.get(state.status, SubscriptionStatus.INCOMPLETE)
    past_due_since = (row.past_due_since or at) if status is SubscriptionStatus.PAST_DUE else None
    grace = await org_settings.subscription_grace_days(session, row.organization_id)
    before = row.status
    row.stripe_subscription_id = state.id
    row.stripe_customer_id = state.customer_id or row.stripe_customer_id
    row.stripe_price_id = state.price_id
    row.tier_id, row.interval = price.tier_id, price.interval
    row.status = status
    row.current_period_start, row.current_period_end = state.current_period_start, state.current_period_end
    row.cancel_at_period_end = state.cancel_at_period_end and not ended
    row.trial_end, row.canceled_at, row.ended_at = state.trial_end, state.canceled_at, state.ended_at
    row.past_due_since = past_due_since
    row.dunning_reminder_sent_at = row.dunning_reminder_sent_at if past_due_since else None  # next episode: again
    row.access_until = access_until(status, state.current_period_end, row.cancel_at_period_end, past_due_since, grace)
    row.state_ended, row.state_period_start, row.state_at = ended, state.current_period_start, at
    lifecycle.announce_transition(session, row, before)
    await session.flush()
    return "subscription_" + status.value.lower()


async def _locked(session: AsyncSession, owner: Owner | None) -> Subscription | None:
    if owner is None:
        return None
    row = await repository.lock(session, owner.organization_id, owner.row_id)
    if row is None or (owner.user_id is not None and row.user_id != owner.user_id):
        log.warning("billing event for a subscription this server does not know", extra={"row": str(owner.row_id)})
        return None
    return row


async def subscription_changed(session: AsyncSession, obj: dict[str, Any], created: Any) -> str:
    """``customer.subscription.created / updated / deleted`` (the scope is the owner's organization)."""
    try:
        state = subscription_state(obj)
    except (KeyError, ValueError):
        log.warning("subscription event without a readable subscription", extra={"id": obj.get("id")})
        return "malformed"
    row = await _locked(session, owner_of(state.metadata))
    if row is None:
        return "unknown_subscription"
    return await apply(session, row, state, provider_time(created))


async def checkout_completed(session: AsyncSession, obj: dict[str, Any]) -> str:
    """``checkout.session.completed`` in subscription mode: the provider customer and subscription ids (the
    state itself comes with the subscription's own events)."""
    row = await _locked(session, owner_of(obj.get("metadata")))
    if row is None or row.checkout_session_id not in (None, obj.get("id")):
        return "unknown_subscription"
    customer, subscription = obj.get("customer"), obj.get("subscription")
    if isinstance(customer, str) and row.stripe_customer_id is None:
        row.stripe_customer_id = customer
    if isinstance(subscription, str) and row.stripe_subscription_id is None:
        row.stripe_subscription_id = subscription
    await session.flush()
    return "subscription_checkout_completed"


def invoice_owner(obj: dict[str, Any]) -> Owner | None:
    return owner_of(invoice_info(obj).metadata)


async def invoice_paid(session: AsyncSession, obj: dict[str, Any]) -> str:
    """``invoice.paid``: the tier's monthly credits for the invoice's period, once per invoice."""
    info = invoice_info(obj)
    row = await _locked(session, owner_of(info.metadata))
    if row is None or row.stripe_subscription_id not in (None, info.subscription_id):
        return "unknown_subscription"
    if info.status != "paid":
        return "ignored"
    if info.amount_paid > 0:  # recurring revenue (a trial's or a fully credited invoice moves no money)
        await repository.record_invoice(session, {
            "organization_id": row.organization_id, "subscription_id": row.id, "user_id": row.user_id,
            "tier_id": row.tier_id, "stripe_invoice_id": info.id, "billing_reason": (info.billing_reason or "")[:40],
            "amount_paid_cents": info.amount_paid, "tax_cents": min(max(info.tax, 0), info.amount_paid),
            "currency": info.currency or "USD", "paid_at": info.paid_at or utcnow()})
    regular = [line for line in info.lines if not line.proration]
    if not regular or info.period_start is None or info.period_end is None:
        return "no_new_period"  # a proration invoiced at once: no new period, no new credits
    if info.billing_reason == "subscription_cycle":
        await lifecycle.announce_renewal(session, row, info.id)
    price = await repository.price_by_provider_id(session, row.organization_id, regular[0].price_id or "")
    tier = await tiers.in_organization_by_id(session, row.organization_id, price.tier_id if price else row.tier_id)
    if tier is None or tier.monthly_credits == 0:
        return "paid"
    await credits.grant_period_credits(
        session, row.organization_id, row.user_id, amount=tier.monthly_credits, policy=tier.credit_policy,
        cap=tier.credit_rollover_cap, period_start=info.period_start, period_end=info.period_end, invoice_id=info.id)
    return "credits_granted"


async def invoice_payment_failed(session: AsyncSession, obj: dict[str, Any]) -> str:
    """``invoice.payment_failed``: the dunning email at once, once per invoice (the status comes with the
    subscription's own ``customer.subscription.updated``)."""
    info = invoice_info(obj)
    row = await _locked(session, owner_of(info.metadata))
    if row is None or row.stripe_subscription_id not in (None, info.subscription_id):
        return "unknown_subscription"
    if row.status is SubscriptionStatus.CANCELED:
        return "ignored"
    events.enqueue(session, DUNNING_ACTOR, row.organization_id, subscription_id=str(row.id),
                   subscription_organization_id=str(row.organization_id), invoice_id=info.id)
    return "dunning_queued"


def interval_of(value: str) -> BillingInterval:
    return BillingInterval.MONTH if value == "month" else BillingInterval.YEAR


__all__ = ["DUNNING_ACTOR", "ROW_KEY", "access_until", "apply", "checkout_completed", "invoice_paid",
           "invoice_payment_failed", "subscription_changed", "timestamp"]
