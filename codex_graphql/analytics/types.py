"""GraphQL types of the dashboard (``Organization.analytics``) and customers (``Organization.customers``).

Money is minor units net of tax (``amountCents - taxCents``), like ``Content.revenueCents``; FREE and
GRANT purchases count as purchases with 0 revenue; refunds (partial ones too) subtract on the local day they happen.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry

from codex_graphql.accounts.models import User as UserModel
from codex_graphql.analytics import loaders, repository
from codex_graphql.analytics.models import CustomerSummary
from codex_graphql.analytics.service import DayRange, month_of
from codex_graphql.commerce import loaders as commerce_loaders
from codex_graphql.commerce.types import Purchase
from codex_graphql.content.types import AfterArg, Content, FirstArg
from codex_graphql.context import Context
from codex_graphql.enum_docs import describe_values
from codex_graphql.pagination import decode_cursor, encode_cursor
from codex_graphql.relay import Connection, Page, build_connection, check_first, to_global_id
from codex_graphql.subscriptions.types import SubscriptionTier, tiers_of

MAX_TOP = 50
MAX_RECENT = 50


@strawberry.input(description="Inclusive range of local days in the organization's timezone.")
class DateRange:
    from_: date = strawberry.field(name="from", description="First day, inclusive.")
    to: date = strawberry.field(description="Last day, inclusive.")


@strawberry.type(description="One local day (organization timezone) of sales.")
class RevenueDay:
    day: date = strawberry.field(description="The local day.")
    revenue_cents: int = strawberry.field(
        description="Minor units, net of tax: one-time revenue plus recurring revenue of that day.")
    one_time_revenue_cents: int = strawberry.field(
        description="Minor units, net of tax: purchases made that day minus refunds (partial ones too) made that day.")
    recurring_revenue_cents: int = strawberry.field(
        description="Minor units, net of tax: subscription invoices paid that day (first payments, renewals, "
        "prorations).")
    purchases: int = strawberry.field(description="Purchases made that day (FREE and GRANT included).")
    refunds: int = strawberry.field(
        description="Purchases fully refunded (or grants revoked, disputes lost) that day; partial refunds only "
        "subtract from revenueCents.")


@strawberry.type(description="A best-selling content item (all time).")
class TopContent:
    content: Content | None = strawberry.field(description="The item (deleted items included).")
    purchases: int = strawberry.field(description="Purchases ever made, refunded ones included.")
    revenue_cents: int = strawberry.field(description="Revenue in minor units, net of tax and refunds.")


@strawberry.type(description="A subscription tier's subscriptions now. Money is minor units.")
class TierSubscribers:
    tier: SubscriptionTier = strawberry.field(description="The tier.")
    trialing: int = strawberry.field(description="Subscriptions in their free trial.")
    active: int = strawberry.field(description="Paid-up subscriptions.")
    past_due: int = strawberry.field(description="Subscriptions whose renewal payment failed, in the grace period.")
    mrr_cents: int = strawberry.field(description="The tier's monthly recurring revenue: ACTIVE and PAST_DUE "
                                      "subscriptions at the price they pay, annual prices as a twelfth.")


def _clamp(limit: int, most: int) -> int:
    return max(0, min(limit, most))


@strawberry.type(description=(
    "Sales figures of an organization, read from summaries maintained in the purchase transaction. "
    "Money is minor units net of tax; FREE and GRANT purchases count as purchases with 0 revenue; "
    "a refund, partial or full, subtracts its amount on the local day it happens."
))
class Analytics:
    organization_id: strawberry.Private[uuid.UUID]
    range: strawberry.Private[DayRange]
    today: strawberry.Private[date]
    _days: strawberry.Private[asyncio.Future[list[repository.DayRow]] | None] = None
    _totals: strawberry.Private[asyncio.Future[tuple[int, int]] | None] = None

    async def _rows(self, info: strawberry.Info) -> list[repository.DayRow]:
        # Sibling fields resolve concurrently: the first one starts the query, the others await it.
        if self._days is None:
            self._days = asyncio.ensure_future(
                repository.days(info.context.db, self.organization_id, self.range.start, self.range.end))
        return await self._days

    @strawberry.field(description="First day of the range (local).")
    def from_day(self) -> date:
        return self.range.start

    @strawberry.field(description="Last day of the range (local).")
    def to_day(self) -> date:
        return self.range.end

    @strawberry.field(description="Revenue in the range, in minor units net of tax: one-time revenue (purchases "
                      "minus refunds) plus recurring revenue (paid subscription invoices).")
    async def total_revenue_cents(self, info: strawberry.Info) -> int:
        return sum(r.one_time_cents + r.recurring_cents for r in await self._rows(info))

    @strawberry.field(description="One-time revenue in the range, in minor units: purchases minus refunds (partial "
                      "ones too), net of tax.")
    async def one_time_revenue_cents(self, info: strawberry.Info) -> int:
        return sum(r.one_time_cents for r in await self._rows(info))

    @strawberry.field(description="Recurring revenue in the range, in minor units: subscription invoices paid "
                      "(first payments, renewals, prorations), net of tax; a trial's free invoice adds nothing.")
    async def recurring_revenue_cents(self, info: strawberry.Info) -> int:
        return sum(r.recurring_cents for r in await self._rows(info))

    @strawberry.field(description="Subscriptions that started in the range: first became TRIALING, ACTIVE or "
                      "PAST_DUE (a checkout never completed does not count).")
    async def new_subscriptions(self, info: strawberry.Info) -> int:
        return sum(r.subscriptions_started for r in await self._rows(info))

    @strawberry.field(description="Subscriptions that ended in the range after having started (CANCELED: at the "
                      "period end after a cancellation, at once when deleted, or after a failed payment).")
    async def churned_subscriptions(self, info: strawberry.Info) -> int:
        return sum(r.subscriptions_churned for r in await self._rows(info))

    @strawberry.field(description="Subscriptions that started with a free trial in the range.")
    async def trials_started(self, info: strawberry.Info) -> int:
        return sum(r.trials_started for r in await self._rows(info))

    @strawberry.field(description="Trials that turned into a paid, ACTIVE subscription in the range (counted on the "
                      "day of the conversion, whenever the trial started).")
    async def trial_conversions(self, info: strawberry.Info) -> int:
        return sum(r.trials_converted for r in await self._rows(info))

    @strawberry.field(description="Monthly recurring revenue now, whatever the range, in minor units: ACTIVE and "
                      "PAST_DUE subscriptions at the price they pay, an annual price as a twelfth (rounded to the "
                      "cent); trials count once they pay.")
    async def mrr_cents(self, info: strawberry.Info) -> int:
        return (await self._subscription_totals(info))[1]

    @strawberry.field(description="Customers with at least one TRIALING, ACTIVE or PAST_DUE subscription now, whatever "
                      "the range (a customer with two tiers counts once).")
    async def active_subscribers(self, info: strawberry.Info) -> int:
        return (await self._subscription_totals(info))[0]

    @strawberry.field(description="Subscriptions now per tier, whatever the range: every tier on sale, and any "
                      "other tier that still has subscriptions; in the storefront's order.")
    async def subscribers_by_tier(self, info: strawberry.Info) -> list[TierSubscribers]:
        rows = await repository.tier_figures(info.context.db, self.organization_id)
        tiers = await tiers_of(info.context, self.organization_id, [tier for tier, _ in rows])
        return [TierSubscribers(tier=tier, trialing=m.trialing if m else 0, active=m.active if m else 0,
                                past_due=m.past_due if m else 0, mrr_cents=m.mrr_cents if m else 0)
                for tier, (_, m) in zip(tiers, rows, strict=True)]

    async def _subscription_totals(self, info: strawberry.Info) -> tuple[int, int]:
        if self._totals is None:
            self._totals = asyncio.ensure_future(repository.subscription_totals(info.context.db, self.organization_id))
        return await self._totals

    @strawberry.field(description="Revenue of the current calendar month in the organization's timezone, whatever "
                      "the range; minor units, net of tax and refunds, one-time and recurring.")
    async def revenue_this_month_cents(self, info: strawberry.Info) -> int:
        start, end = month_of(self.today)
        return await repository.month_revenue(info.context.db, self.organization_id, start, end)

    @strawberry.field(description="People with at least one purchase (any kind) in the organization, all time.")
    async def customer_count(self, info: strawberry.Info) -> int:
        return await repository.customer_count(info.context.db, self.organization_id)

    @strawberry.field(description="Purchases made in the range (PAID, FREE and GRANT; later refunds included).")
    async def purchase_count(self, info: strawberry.Info) -> int:
        return sum(r.purchases for r in await self._rows(info))

    @strawberry.field(description="Purchases fully refunded (or revoked) in the range; partial refunds are not counted.")
    async def refund_count(self, info: strawberry.Info) -> int:
        return sum(r.refunds for r in await self._rows(info))

    @strawberry.field(description="Every day of the range, oldest first, days without sales included.")
    async def revenue_by_day(self, info: strawberry.Info) -> list[RevenueDay]:
        found = {r.day: r for r in await self._rows(info)}
        out = []
        for day in self.range.days():
            row = found.get(day)
            one_time, recurring = (row.one_time_cents, row.recurring_cents) if row else (0, 0)
            out.append(RevenueDay(day=day, revenue_cents=one_time + recurring, one_time_revenue_cents=one_time,
                                  recurring_revenue_cents=recurring, purchases=row.purchases if row else 0,
                                  refunds=row.refunds if row else 0))
        return out

    @strawberry.field(description="Best sellers of all time by revenue (then purchases); at most 50.")
    async def top_content(self, info: strawberry.Info, limit: Annotated[int, strawberry.argument(
            description="How many items to return, 0 to 50 (default 5); values outside are clamped to that range.")] = 5,
    ) -> list[TopContent]:
        rows = await repository.top_content(info.context.db, self.organization_id, _clamp(limit, MAX_TOP))
        contents = await commerce_loaders.purchased_content(info.context).load_many([r.content_id for r in rows])
        return [TopContent(content=Content.from_model(c) if c else None, purchases=r.purchases,
                           revenue_cents=r.revenue_cents) for r, c in zip(rows, contents, strict=True)]

    @strawberry.field(description="Latest purchases, newest first, whatever the range; at most 50.")
    async def recent_purchases(self, info: strawberry.Info, limit: Annotated[int, strawberry.argument(
            description="How many purchases to return, 0 to 50 (default 10); values outside are clamped to that range.")] = 10,
    ) -> list[Purchase]:
        rows = await repository.recent_purchases(info.context.db, self.organization_id, _clamp(limit, MAX_RECENT))
        return [Purchase.from_model(p) for p in rows]


@strawberry.enum(description="What to sort customers by.")
class CustomerOrderField(enum.StrEnum):
    LAST_PURCHASE_AT = "LAST_PURCHASE_AT"
    TOTAL_SPENT = "TOTAL_SPENT"
    JOINED_AT = "JOINED_AT"
    EMAIL = "EMAIL"


describe_values(CustomerOrderField, {
    "LAST_PURCHASE_AT": "Time of the customer's latest purchase in the organization (the default sort key).",
    "TOTAL_SPENT": "Total the customer paid the organization, in minor units, net of refunds.",
    "JOINED_AT": "When the customer's account was created (registration time).",
    "EMAIL": "The customer's email address, alphabetically.",
})


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


describe_values(OrderDirection, {
    "ASC": "Ascending: smallest, oldest or A first.",
    "DESC": "Descending: largest, newest or Z first (the default).",
})


@strawberry.input(description="Customer sort order; ties are broken by user id, so pages are stable.")
class CustomerOrder:
    field: CustomerOrderField = strawberry.field(description="Sort key.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="ASC or DESC.")


@strawberry.input(description="Narrow the customer list.")
class CustomerFilter:
    search: str | None = strawberry.field(default=None, description="Part of the email or name, case-insensitive.")
    purchased_content_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only people with a purchase (any kind or status) of this content item.")


@strawberry.type(description="A person who bought, claimed or was granted content in the organization.")
class Customer:
    id: strawberry.ID = strawberry.field(description="The person's User id.")
    email: str = strawberry.field(description="Email address of the account.")
    name: str = strawberry.field(description="Display name; may be empty.")
    joined_at: datetime = strawberry.field(description="When the account was created.")
    purchase_count: int = strawberry.field(description="Purchases in this organization (any kind or status).")
    total_spent_cents: int = strawberry.field(description="Spent here net of tax and refunds, in minor units.")
    first_purchase_at: datetime = strawberry.field(description="First purchase here.")
    last_purchase_at: datetime = strawberry.field(description="Latest purchase here.")
    user_id: strawberry.Private[uuid.UUID]
    organization_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: tuple[CustomerSummary, UserModel]) -> Customer:
        summary, user = row
        return cls(
            id=to_global_id("User", user.id), email=user.email, name=user.name, joined_at=user.created_at,
            purchase_count=summary.purchase_count, total_spent_cents=summary.total_spent_cents,
            first_purchase_at=summary.first_purchase_at, last_purchase_at=summary.last_purchase_at,
            user_id=user.id, organization_id=summary.organization_id,
        )

    @strawberry.field(description="Their purchases here (grants and free claims included), newest first.")
    async def purchases(self, info: strawberry.Info, first: FirstArg = None,
                        after: AfterArg = None) -> Connection[Purchase]:
        ctx: Context = info.context
        size = check_first(first)
        if after:
            decode_cursor(after)  # reject a malformed cursor before batching
        rows = await loaders.customer_purchases(ctx).load((self.user_id, size, after))
        page = Page(items=rows[:size], cursors=[encode_cursor(p.created_at, p.id) for p in rows[:size]],
                    has_next_page=len(rows) > size, has_previous_page=bool(after))
        count = self.purchase_count

        async def total() -> int:
            return count

        return build_connection(page, Purchase.from_model, total)

    @strawberry.field(description="Items they can play now (active purchases, grants and free claims).")
    async def owned_content(self, info: strawberry.Info) -> list[Content]:
        ctx: Context = info.context
        ids = await loaders.owned_content(ctx).load(self.user_id)
        contents = await commerce_loaders.purchased_content(ctx).load_many(ids)
        return [Content.from_model(c) for c in contents if c is not None and c.deleted_at is None]
