"""The customer's subscription mutations: startSubscriptionCheckout, cancelSubscription, resumeSubscription,
changeSubscriptionTier and createBillingPortalSession (``customer`` module docstring: reserve, call the provider
with no transaction open, record). Only the subscription's own customer may change it: anyone else's id is
NOT_FOUND, whatever their role."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.context import Context
from codex_graphql.errors import DomainError
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import IsAuthenticated
from codex_graphql.relay import decode_id
from codex_graphql.subscriptions import customer
from codex_graphql.subscriptions.customer_types import TierSubscription
from codex_graphql.subscriptions.models import BillingInterval

SUBSCRIPTION_ID = "The subscription (a `TierSubscription` id of the viewer's own)."


@strawberry.input(description="Subscribe to a tier through the payment provider's hosted checkout.")
class StartSubscriptionCheckoutInput:
    tier_id: strawberry.ID = strawberry.field(description="A PUBLISHED tier that is on sale (`billingReady`).")
    interval: BillingInterval = strawberry.field(description="Monthly or annual billing; the tier must have that price.")
    success_url: str = strawberry.field(description="Where the customer returns after subscribing (allowed origins only).")
    cancel_url: str = strawberry.field(description="Where the customer returns when cancelling (allowed origins only).")
    idempotency_key: str = strawberry.field(description="Unique per attempt, 1 to 200 characters; a retry with the "
                                            "same key returns the same checkout.")


@strawberry.input(description="End a subscription, at the end of the period or at once.")
class CancelSubscriptionInput:
    subscription_id: strawberry.ID = strawberry.field(description=SUBSCRIPTION_ID)
    at_period_end: bool = strawberry.field(default=True, description="True (default): access until the period's "
                                           "end, then it ends (resumeSubscription undoes it until then); false: "
                                           "it ends now, and so does access.")


@strawberry.input(description="Undo a cancellation at period end.")
class ResumeSubscriptionInput:
    subscription_id: strawberry.ID = strawberry.field(description=SUBSCRIPTION_ID)


@strawberry.input(description="Move a subscription to another tier (or interval) of the same organization.")
class ChangeSubscriptionTierInput:
    subscription_id: strawberry.ID = strawberry.field(description=SUBSCRIPTION_ID)
    tier_id: strawberry.ID = strawberry.field(description="The new tier, on sale, of the subscription's organization "
                                              "(the same tier to change only the interval).")
    interval: BillingInterval = strawberry.field(description="The billing interval on the new tier.")


@strawberry.input(description="Open the payment provider's customer portal (cards, invoices).")
class CreateBillingPortalSessionInput:
    subscription_id: strawberry.ID = strawberry.field(description=SUBSCRIPTION_ID + " The portal is its billing "
                                                      "account's.")
    return_url: str = strawberry.field(description="Where the portal sends the customer back (allowed origins only).")


def _subscription(raw: strawberry.ID) -> uuid.UUID | None:
    return decode_id(str(raw), "TierSubscription")


async def _after(ctx: Context, subscription_id: uuid.UUID) -> TierSubscription:
    return TierSubscription.from_model(await customer.row(ctx.db, ctx.viewer, subscription_id))


async def _at_provider(ctx: Context, change: customer.Change, call) -> None:  # type: ignore[no-untyped-def]
    async with ctx.outside_transaction():
        try:
            state = await call(ctx.services.payments, change)
        except Exception as error:  # noqa: BLE001 (a refusal or a network failure: nothing recorded)
            raise customer.provider_failed(error) from error
    await customer.record_state(ctx.db, change, state)


SUBSCRIPTION = {"subscription": (TierSubscription, "The subscription after the change.")}
PROVIDER = (" INVALID_STATE when the payment provider refuses; PAYMENT_PROVIDER_ERROR when it cannot be reached "
            "(nothing changed: retry).")


@strawberry.type
class CustomerSubscriptionMutations:
    @mutation_field(
        IsAuthenticated(),
        description="Start subscribing to a tier: a hosted checkout in subscription mode (with the tier's free "
        "trial). The subscription appears in `viewer.subscriptions` once the provider reports it. NOT_FOUND for a "
        "tier that is not on sale; INVALID_STATE for an archived tier; INVALID_INPUT for an interval the tier has no "
        "price for or a redirect URL that is not allowed; ALREADY_EXISTS when the viewer already subscribes to "
        "the tier." + PROVIDER,
        input_description="The tier, the billing interval, the URLs to return to and an idempotency key.",
        payload={"checkout_url": (str | None, "Send the customer here to subscribe."),
                 "subscription_id": (strawberry.ID | None, "The `TierSubscription` id the subscription will have.")},
    )
    async def start_subscription_checkout(ctx: Context, input: StartSubscriptionCheckoutInput) -> dict:
        planned = await customer.plan_checkout(
            ctx.db, ctx.settings, ctx.viewer, decode_id(str(input.tier_id), "SubscriptionTier"), input.interval,
            input.success_url, input.cancel_url, input.idempotency_key)
        async with ctx.outside_transaction():
            created = await customer.create_at_provider(ctx.services.payments, planned)
        row = await customer.record_checkout(ctx.db, planned, created)
        return {"checkout_url": row.checkout_url,
                "subscription_id": TierSubscription.from_model(row).id}

    @mutation_field(
        IsAuthenticated(),
        description="Cancel the viewer's subscription at the period's end (access until then) or at once (access "
        "ends now). NOT_FOUND for a subscription that is not the viewer's; INVALID_STATE once it has ended." + PROVIDER,
        input_description="The subscription and when it ends.",
        payload=SUBSCRIPTION,
    )
    async def cancel_subscription(ctx: Context, input: CancelSubscriptionInput) -> dict:
        change = await customer.plan_cancel(ctx.db, ctx.viewer, _subscription(input.subscription_id))
        await _at_provider(ctx, change, lambda provider, c: provider.cancel_subscription(
            c.provider_subscription_id, at_period_end=input.at_period_end))
        return {"subscription": await _after(ctx, change.subscription_id)}

    @mutation_field(
        IsAuthenticated(),
        description="Keep a subscription that was set to cancel at the period's end. NOT_FOUND for a subscription "
        "that is not the viewer's; INVALID_STATE when it is not set to cancel or has ended." + PROVIDER,
        input_description="The subscription.",
        payload=SUBSCRIPTION,
    )
    async def resume_subscription(ctx: Context, input: ResumeSubscriptionInput) -> dict:
        change = await customer.plan_resume(ctx.db, ctx.viewer, _subscription(input.subscription_id))
        await _at_provider(ctx, change, lambda provider, c: provider.resume_subscription(c.provider_subscription_id))
        return {"subscription": await _after(ctx, change.subscription_id)}

    @mutation_field(
        IsAuthenticated(),
        description="Move the viewer's subscription to another tier or interval with the provider's proration (credit "
        "for the unused time, charge for the rest of the period, on the next invoice; a new interval restarts the "
        "period and is invoiced at once). NOT_FOUND for a subscription that is not the viewer's or a tier not on "
        "sale in its organization; INVALID_STATE for an archived tier or an ended subscription; INVALID_INPUT for "
        "an interval the tier has no price for, or the current tier and interval; ALREADY_EXISTS when the viewer "
        "already subscribes to that tier." + PROVIDER,
        input_description="The subscription, the new tier and the interval.",
        payload=SUBSCRIPTION,
    )
    async def change_subscription_tier(ctx: Context, input: ChangeSubscriptionTierInput) -> dict:
        change = await customer.plan_tier_change(ctx.db, ctx.viewer, _subscription(input.subscription_id),
                                                 decode_id(str(input.tier_id), "SubscriptionTier"), input.interval)
        await _at_provider(ctx, change, lambda provider, c: provider.change_subscription_price(
            c.provider_subscription_id, str(c.price_id), proration_behavior="create_prorations",
            idempotency_key=None))
        return {"subscription": await _after(ctx, change.subscription_id)}

    @mutation_field(
        IsAuthenticated(),
        description="A link to the payment provider's customer portal, where the customer updates their card and "
        "sees their invoices. NOT_FOUND for a subscription that is not the viewer's; INVALID_INPUT for a return URL "
        "that is not allowed." + PROVIDER,
        input_description="The subscription and the URL to return to.",
        payload={"url": (str | None, "Send the customer here (a short-lived link).")},
    )
    async def create_billing_portal_session(ctx: Context, input: CreateBillingPortalSessionInput) -> dict:
        change, return_url = await customer.plan_portal(ctx.db, ctx.settings, ctx.viewer,
                                                        _subscription(input.subscription_id), input.return_url)
        async with ctx.outside_transaction():
            try:
                url = await ctx.services.payments.create_billing_portal_session(str(change.customer_id), return_url)
            except Exception as error:  # noqa: BLE001
                raise customer.provider_failed(error) from error
        return {"url": url}


__all__ = ["CustomerSubscriptionMutations", "DomainError"]
