"""GraphQL shape of subscription tiers and their prices, and ``node(id:)`` for a tier."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.categories.models import Category as CategoryModel
from codex_graphql.categories.types import Category
from codex_graphql.context import Context
from codex_graphql.credits.models import CreditPolicy
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Node, register_node
from codex_graphql.row_types import from_row
from codex_graphql.subscriptions import loaders, repository, service
from codex_graphql.subscriptions.models import BillingInterval, SubscriptionTierStatus
from codex_graphql.subscriptions.models import SubscriptionTier as TierModel
from codex_graphql.subscriptions.models import SubscriptionTierPrice as PriceModel


@strawberry.type(description="One price of a subscription tier for one billing interval. A price never changes: "
                 "a new amount is a new price, and the old one stays (inactive) for the subscribers who pay it.")
class SubscriptionTierPrice(Node):
    interval: BillingInterval = strawberry.field(description="How often it is billed.")
    amount_cents: int = strawberry.field(description="The amount billed each interval, in minor units of `currency`.")
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. `USD`.")
    active: bool = strawberry.field(description="Offered to new subscribers: false once replaced by a new price "
                                    "or when the tier is archived.")
    created_at: datetime = strawberry.field(description="When the price was set.")
    deactivated_at: datetime | None = strawberry.field(description="When it stopped being offered; null while active.")

    @classmethod
    def from_model(cls, price: PriceModel) -> SubscriptionTierPrice:
        return from_row(cls, price, "SubscriptionTierPrice")


@strawberry.type(description="What an organization sells by the month or the year: every item (`allContent`) or "
                 "the items of some categories, offering access and monthly credits, with a monthly and/or annual "
                 "price. Each tier is a product at the payment provider (Stripe), each price a provider price.")
class SubscriptionTier(Node):
    name: str = strawberry.field(description="Display name, 1 to 80 characters.")
    description: str = strawberry.field(description="Description (plain text); may be empty.")
    status: SubscriptionTierStatus = strawberry.field(description="DRAFT (staff only), PUBLISHED (on sale) or ARCHIVED (no new "
                                          "subscribers; final).")
    trial_days: int = strawberry.field(description="Days of free trial before the first payment (0: none).")
    all_content: bool = strawberry.field(description="Grants every content item of the organization (then "
                                         "`categories` is empty).")
    offering_access: bool = strawberry.field(description="Grants the organization's offerings (workshops, sessions) "
                                             "that are open to subscribers.")
    monthly_credits: int = strawberry.field(description="Credits granted with every paid month (an annual "
                                            "subscription gets them monthly too).")
    credit_policy: CreditPolicy = strawberry.field(description="What happens to unused credits at each period's end.")
    credit_rollover_cap: int | None = strawberry.field(description="ROLLOVER only: the most credits a subscriber "
                                                       "keeps from one period to the next; null for other policies.")
    currency: str = strawberry.field(description="ISO 4217 currency code of its prices, e.g. `USD`.")
    position: int = strawberry.field(description="Sort key: lists show tiers by position, then name.")
    created_at: datetime = strawberry.field(description="When the tier was created.")
    updated_at: datetime = strawberry.field(description="When the tier last changed.")
    published_at: datetime | None = strawberry.field(description="When it was last published; null if never.")
    archived_at: datetime | None = strawberry.field(description="When it was archived; null if not.")
    row: strawberry.Private[TierModel]
    prices: strawberry.Private[list[PriceModel]]
    category_rows: strawberry.Private[list[CategoryModel]]

    @classmethod
    def from_model(cls, tier: TierModel, prices: Sequence[PriceModel],
                   categories: Sequence[CategoryModel]) -> SubscriptionTier:
        return from_row(cls, tier, "SubscriptionTier", row=tier, prices=list(prices), category_rows=list(categories))

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    def _active(self, interval: BillingInterval) -> PriceModel | None:
        return next((p for p in self.prices if p.active and p.interval is interval), None)

    @strawberry.field(description="The price offered for monthly billing; null when the tier has none.")
    def monthly_price(self) -> SubscriptionTierPrice | None:
        price = self._active(BillingInterval.MONTH)
        return SubscriptionTierPrice.from_model(price) if price else None

    @strawberry.field(description="The price offered for annual billing; null when the tier has none.")
    def annual_price(self) -> SubscriptionTierPrice | None:
        price = self._active(BillingInterval.YEAR)
        return SubscriptionTierPrice.from_model(price) if price else None

    @strawberry.field(description="The categories whose items the tier grants, by position then name (empty when "
                      "`allContent`). Only categories the viewer may see are listed.")
    def categories(self) -> list[Category]:
        return [Category.from_model(row) for row in self.category_rows]

    @strawberry.field(description="Ready to sell: its provider product and every active price exist at the payment "
                      "provider. False after a provider failure until the next change of the tier completes it; "
                      "only tiers that are PUBLISHED and ready are shown to customers.")
    def billing_ready(self) -> bool:
        return service.billing_ready(self.row, self.prices)

    @guarded(HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
             description="Every price the tier ever had, newest first, active and replaced ones (subscribers keep "
             "the price they signed up with).")
    def price_history(self) -> list[SubscriptionTierPrice] | None:
        return [SubscriptionTierPrice.from_model(price) for price in self.prices]

    @guarded(HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
             description="The payment provider's product id (Stripe `prod_…`); null until it is created.")
    def stripe_product_id(self) -> str | None:
        return self.row.stripe_product_id

    @guarded(HasOrgPermission(Permission.SUBSCRIPTIONS_MANAGE),
             description="How many customers subscribe to the tier now: subscriptions TRIALING, ACTIVE or PAST_DUE "
             "(in the grace period), whatever price they pay.")
    async def subscriber_count(self, info: strawberry.Info) -> int | None:
        return await loaders.subscriber_counts(info.context).load(self.row.id)


async def tiers_of(ctx: Context, organization_id: uuid.UUID, rows: Sequence[TierModel]) -> list[SubscriptionTier]:
    """The GraphQL tiers for ``rows`` of one organization, with their prices and categories (two statements)."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    prices = await repository.prices_of(ctx.db, organization_id, ids)
    categories = await repository.categories_of(ctx.db, organization_id, ids)
    return [SubscriptionTier.from_model(row, prices[row.id], categories[row.id]) for row in rows]


async def tier_by_id(ctx: Context, tier_id: uuid.UUID) -> SubscriptionTier:
    row = await repository.by_id(ctx.db, tier_id)
    assert row is not None
    return (await tiers_of(ctx, row.organization_id, [row]))[0]


@register_node("SubscriptionTier")
async def visible_tier(ctx: Context, tier_id: uuid.UUID) -> SubscriptionTier | None:
    """What ``Organization.subscriptionTiers`` lists for the viewer: every tier for staff with
    SUBSCRIPTIONS_MANAGE, for everyone else the PUBLISHED tiers that are ready to sell."""
    row = await repository.by_id(ctx.db, tier_id)
    if row is None:
        return None
    tier = (await tiers_of(ctx, row.organization_id, [row]))[0]
    if service.sees_every_tier(ctx.viewer, row.organization_id) or service.on_sale(row, tier.prices):
        return tier
    return None
