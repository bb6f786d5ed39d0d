"""GraphQL shape of a customer's subscription to a tier (``TierSubscription``; ``Subscription`` is GraphQL's
root type of subscriptions) and ``node(id:)`` for it: its customer only."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.context import Context
from codex_graphql.db import utcnow
from codex_graphql.relay import Node, register_node
from codex_graphql.row_types import from_row
from codex_graphql.subscriptions import billing_repository as repository
from codex_graphql.subscriptions import repository as tiers
from codex_graphql.subscriptions.models import BillingInterval, SubscriptionStatus
from codex_graphql.subscriptions.models import Subscription as SubscriptionModel
from codex_graphql.subscriptions.types import SubscriptionTier, tiers_of


@strawberry.type(description="A customer's subscription to a tier, as the payment provider (Stripe Billing) "
                 "reports it: the customer's own (`Viewer.subscriptions`), and in `subscriptionEvents` for staff "
                 "with PURCHASES_READ. While it grants access (`hasAccess`), every item the tier grants plays for "
                 "the customer like a bought one.")
class TierSubscription(Node):
    status: SubscriptionStatus = strawberry.field(description="TRIALING, ACTIVE, PAST_DUE, CANCELED or INCOMPLETE.")
    interval: BillingInterval = strawberry.field(description="How often it is billed.")
    current_period_start: datetime | None = strawberry.field(description="Start of the current billing period.")
    current_period_end: datetime | None = strawberry.field(description="End of the current billing period (the "
                                                           "next renewal, or the end when cancelling).")
    cancel_at_period_end: bool = strawberry.field(description="Set to end at `currentPeriodEnd` (cancelSubscription "
                                                  "with `atPeriodEnd`); resumeSubscription undoes it.")
    trial_end: datetime | None = strawberry.field(description="When the free trial ends (or ended); null without one.")
    canceled_at: datetime | None = strawberry.field(description="When the cancellation was asked for; null if never.")
    ended_at: datetime | None = strawberry.field(description="When it ended (CANCELED); null while it runs.")
    access_ends_at: datetime | None = strawberry.field(description="Until when it grants the tier: the period end "
                                                       "when cancelling, the end of the grace period when PAST_DUE; "
                                                       "null when it grants nothing.")
    created_at: datetime = strawberry.field(description="When the customer started the checkout.")
    row: strawberry.Private[SubscriptionModel]

    @classmethod
    def from_model(cls, row: SubscriptionModel) -> TierSubscription:
        return from_row(cls, row, "TierSubscription", row=row, access_ends_at=row.access_until)

    @strawberry.field(description="True while it grants the tier's content (`accessEndsAt` is ahead).")
    def has_access(self) -> bool:
        return self.row.access_until is not None and self.row.access_until > utcnow()

    @strawberry.field(description="The tier subscribed to (also when it was archived since).")
    async def tier(self, info: strawberry.Info) -> SubscriptionTier | None:
        ctx: Context = info.context
        found = await tiers.in_organization_by_id(ctx.db, self.row.organization_id, self.row.tier_id)
        return (await tiers_of(ctx, self.row.organization_id, [found]))[0] if found else None


@register_node("TierSubscription")
async def own_subscription(ctx: Context, subscription_id: uuid.UUID) -> TierSubscription | None:
    if ctx.viewer.user_id is None:
        return None
    row = await repository.own(ctx.db, ctx.viewer.user_id, subscription_id)
    return TierSubscription.from_model(row) if row is not None and row.stripe_subscription_id else None
