"""A customer's own subscriptions: subscribing through the provider's hosted checkout, cancelling, resuming,
changing tier and the provider's billing portal. Services never commit.

Each follows the house rule for provider calls: check and reserve in the request's transaction (committed by
the mutation), call the provider with no transaction open and an idempotency key derived from the row, record
the answer in a second short transaction. The answers of cancel / resume / change are provider states, applied
by ``billing.apply`` exactly as the webhooks that follow them are (whichever comes first; never backwards).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts import repository as accounts
from codex_graphql.authz import Viewer
from codex_graphql.commerce import service as commerce
from codex_graphql.db import acting_in
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payments import (
    BillingRefused,
    CheckoutCreated,
    PaymentProvider,
    SubscriptionCheckoutRequest,
    SubscriptionState,
)
from codex_graphql.settings import Settings
from codex_graphql.subscriptions import billing, rules
from codex_graphql.subscriptions import billing_repository as repository
from codex_graphql.subscriptions import repository as tiers
from codex_graphql.subscriptions import service as tier_service
from codex_graphql.subscriptions.models import (
    BillingInterval,
    Subscription,
    SubscriptionStatus,
    SubscriptionTier,
    SubscriptionTierPrice,
    SubscriptionTierStatus,
)


@dataclass(frozen=True, slots=True)
class PlannedCheckout:
    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    request: SubscriptionCheckoutRequest | None  # None: the checkout exists (a retry with the same key)


async def _tier_price(session: AsyncSession, tier_id: uuid.UUID | None, interval: BillingInterval,
                      field: str = "tierId") -> tuple[SubscriptionTier, SubscriptionTierPrice]:
    """A tier on sale and its active provider price for ``interval`` (typed errors otherwise)."""
    tier = await tiers.by_id(session, tier_id) if tier_id else None
    if tier is None or tier.status is SubscriptionTierStatus.DRAFT:
        raise DomainError(ErrorCode.NOT_FOUND, "No subscription tier on sale has this id.", field)
    if tier.status is SubscriptionTierStatus.ARCHIVED:
        raise DomainError(ErrorCode.INVALID_STATE, "This tier is archived: it takes no new subscribers.", field)
    prices = (await tiers.prices_of(session, tier.organization_id, [tier.id]))[tier.id]
    if not tier_service.billing_ready(tier, prices):
        raise DomainError(ErrorCode.INVALID_STATE, "This tier is not on sale yet.", field)
    price = next((p for p in prices if p.active and p.interval is interval), None)
    if price is None or price.stripe_price_id is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"This tier has no {interval.value.lower()}ly price.", "interval")
    return tier, price


async def plan_checkout(session: AsyncSession, settings: Settings, viewer: Viewer, tier_id: uuid.UUID | None,
                        interval: BillingInterval, success_url: str, cancel_url: str, key: str) -> PlannedCheckout:
    """Check the request and reserve the subscription row (INCOMPLETE) whose id the provider subscription will
    carry; a retry with the same key returns the same row (and checkout)."""
    user_id = viewer.user_id
    assert user_id is not None
    key = rules.check_key(key)
    success_url = commerce.check_redirect(success_url, settings, "successUrl")
    cancel_url = commerce.check_redirect(cancel_url, settings, "cancelUrl")
    tier, price = await _tier_price(session, tier_id, interval)
    async with acting_in(session, tier.organization_id):
        await repository.lock_checkout(session, user_id, tier.id)
        row = await repository.by_checkout_key(session, tier.organization_id, user_id, key)
        if row is not None and row.checkout_url is not None:
            return PlannedCheckout(tier.organization_id, row.id, None)
        if row is None:
            if await repository.live_for_tier(session, tier.organization_id, user_id, tier.id) is not None:
                raise DomainError(ErrorCode.ALREADY_EXISTS, "You already subscribe to this tier.", "tierId")
            row = Subscription(organization_id=tier.organization_id, user_id=user_id, tier_id=tier.id,
                               interval=interval, checkout_key=key)
            await repository.add(session, row)
        customer_id = await repository.customer_id_of(session, tier.organization_id, user_id)
    user = await accounts.user_by_id(session, user_id)
    metadata = {"organization_id": str(tier.organization_id), "tier_id": str(tier.id), "user_id": str(user_id),
                billing.ROW_KEY: str(row.id)}
    request = SubscriptionCheckoutRequest(
        price_id=str(price.stripe_price_id), success_url=success_url, cancel_url=cancel_url,
        client_reference_id=str(row.id), metadata=metadata, idempotency_key=f"codex-subscription-checkout:{row.id}",
        customer_email=None if customer_id else (user.email if user else None), customer_id=customer_id,
        trial_days=tier.trial_days)
    return PlannedCheckout(tier.organization_id, row.id, request)


def provider_failed(error: Exception) -> DomainError:
    if isinstance(error, BillingRefused):
        return DomainError(ErrorCode.INVALID_STATE, f"The payment provider refused: {error}", None)
    return DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR, "The payment provider could not be reached; nothing "
                       "changed. Retry the same request.", None)


async def create_at_provider(provider: PaymentProvider, planned: PlannedCheckout) -> CheckoutCreated | None:
    """The provider's hosted checkout (no transaction open); the same row gives the same provider session."""
    if planned.request is None:
        return None
    try:
        return await provider.create_subscription_checkout(planned.request)
    except Exception as error:  # noqa: BLE001 (a refusal or a network failure: the row stays INCOMPLETE)
        raise provider_failed(error) from error


async def record_checkout(session: AsyncSession, planned: PlannedCheckout, created: CheckoutCreated | None) -> Subscription:
    async with acting_in(session, planned.organization_id):
        row = await repository.lock(session, planned.organization_id, planned.subscription_id)
        assert row is not None
        if created is not None and row.checkout_url is None:
            row.checkout_session_id, row.checkout_url = created.session_id, created.url
            await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a customer's subscription to make at the provider."""

    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    provider_subscription_id: str
    price_id: str | None = None  # changeSubscriptionTier
    customer_id: str | None = None


async def own_subscription(session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID | None) -> Subscription:
    """The viewer's own subscription; NOT_FOUND for anyone else's (whatever their role)."""
    row = await repository.own(session, viewer.user_id, subscription_id) if subscription_id and viewer.user_id else None
    if row is None or row.stripe_subscription_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "You have no subscription with this id.", "subscriptionId")
    return row


def _live(row: Subscription) -> Change:
    if row.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE) or row.stripe_subscription_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "This subscription has ended.", "subscriptionId")
    return Change(row.organization_id, row.id, row.stripe_subscription_id)


async def plan_cancel(session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID | None) -> Change:
    return _live(await own_subscription(session, viewer, subscription_id))


async def plan_resume(session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID | None) -> Change:
    row = await own_subscription(session, viewer, subscription_id)
    change = _live(row)
    if not row.cancel_at_period_end:
        raise DomainError(ErrorCode.INVALID_STATE, "This subscription is not set to cancel.", "subscriptionId")
    return change


async def plan_tier_change(session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID | None,
                           tier_id: uuid.UUID | None, interval: BillingInterval) -> Change:
    row = await own_subscription(session, viewer, subscription_id)
    change = _live(row)
    tier, price = await _tier_price(session, tier_id, interval)
    if tier.organization_id != row.organization_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No subscription tier of this organization has this id.", "tierId")
    if price.stripe_price_id == row.stripe_price_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "The subscription already has this tier and interval.", "tierId")
    other = await repository.live_for_tier(session, row.organization_id, row.user_id, tier.id)
    if other is not None and other.id != row.id:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "You already subscribe to this tier.", "tierId")
    return Change(change.organization_id, change.subscription_id, change.provider_subscription_id,
                  price_id=price.stripe_price_id)


async def plan_portal(session: AsyncSession, settings: Settings, viewer: Viewer, subscription_id: uuid.UUID | None,
                      return_url: str) -> tuple[Change, str]:
    row = await own_subscription(session, viewer, subscription_id)
    return_url = commerce.check_redirect(return_url, settings, "returnUrl")
    if row.stripe_customer_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "This subscription has no billing account yet.", "subscriptionId")
    return Change(row.organization_id, row.id, str(row.stripe_subscription_id), customer_id=row.stripe_customer_id), return_url


async def record_state(session: AsyncSession, change: Change, state: SubscriptionState) -> None:
    """The provider's answer, applied like the webhook that reports the same change."""
    async with acting_in(session, change.organization_id):
        row = await repository.lock(session, change.organization_id, change.subscription_id)
        assert row is not None
        await billing.apply(session, row, state, billing.provider_time(None))


async def row(session: AsyncSession, viewer: Viewer, subscription_id: uuid.UUID) -> Subscription:
    found = await repository.own(session, viewer.user_id, subscription_id) if viewer.user_id else None
    assert found is not None
    return found
