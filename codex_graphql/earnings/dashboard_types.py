"""GraphQL types of creators' figures: ``Viewer.creatorDashboard`` (contributed to ``Viewer`` by schema
assembly) and the rows of ``Organization.creatorEarnings``. They map figures read by earnings/dashboard.py
and load their organizations, items and creators through the request's loaders (one statement per list)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.commerce import loaders as commerce_loaders
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.earnings import dashboard
from codex_graphql.earnings.dashboard_repository import EarningsRow
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.types import Organization
from codex_graphql.relay import to_global_id

_RANGE = ("UTC days, inclusive (`from` to `to`; default: the last 30 days ending today; at most 366; a reversed or "
          "longer range is a BAD_USER_INPUT error).")


@strawberry.type(description="A creator's figures for an item in one currency over the dashboard's range. A sale "
                 "counts on the UTC day it was recorded, a refund on the day it was made (a refund of an earlier sale "
                 "counts in the range of the refund).")
class CreatorItemEarnings:
    currency: str = strawberry.field(description="ISO 4217 currency code of the amounts.")
    sales: int = strawberry.field(description="Sales of the item in the range (later refunds do not take them back).")
    gross_cents: int = strawberry.field(description="Those sales' amounts net of tax, in minor units (the whole the "
                                        "creator's share is a part of).")
    earned_cents: int = strawberry.field(description="The creator's share of those sales, in minor units.")
    refunded_cents: int = strawberry.field(description="What refunds and lost disputes made in the range took back "
                                           "from the creator, in minor units (positive).")
    pool_cents: int = strawberry.field(description="The creator's part of the subscription pool periods that start "
                                       "in the range (a month's part counts on its first day), for this item's plays, "
                                       "in minor units.")
    net_cents: int = strawberry.field(description="`earnedCents - refundedCents + poolCents`.")

    @classmethod
    def of(cls, money: dashboard.Money) -> CreatorItemEarnings:
        return cls(currency=money.currency, sales=money.sales, gross_cents=money.gross_cents,
                   earned_cents=money.earned_cents, refunded_cents=money.refunded_cents, pool_cents=money.pool_cents,
                   net_cents=money.net_cents)


@strawberry.type(description="A creator's totals in one organization and currency: the dashboard's range "
                 "figures, and the all-time balance.")
class CreatorEarningsTotals:
    currency: str = strawberry.field(description="ISO 4217 currency code of the amounts.")
    sales: int = strawberry.field(description="Sales of the creator's items in the range.")
    gross_cents: int = strawberry.field(description="Those sales' amounts net of tax, in minor units.")
    earned_cents: int = strawberry.field(description="The creator's share of those sales, in minor units.")
    refunded_cents: int = strawberry.field(description="What refunds and lost disputes made in the range took back "
                                           "from the creator, in minor units (positive).")
    pool_cents: int = strawberry.field(description="The creator's part of the subscription pool periods that start "
                                       "in the range (a month's part counts on its first day), in minor units.")
    net_cents: int = strawberry.field(description="`earnedCents - refundedCents + poolCents` of the range.")
    balance_cents: int = strawberry.field(
        description="All time, whatever the range: earned - refunded + pool - pending payouts - paid out, in minor "
        "units. Negative when a refund followed a payout (the next payout carries it).")
    pending_payout_cents: int = strawberry.field(description="All time: payouts started and not paid yet, in minor "
                                                 "units.")
    paid_out_cents: int = strawberry.field(description="All time: payouts paid to the creator, in minor units.")

    @classmethod
    def of(cls, totals: dashboard.Totals) -> CreatorEarningsTotals:
        return cls(currency=totals.currency, sales=totals.sales, gross_cents=totals.gross_cents,
                   earned_cents=totals.earned_cents, refunded_cents=totals.refunded_cents,
                   pool_cents=totals.pool_cents, net_cents=totals.net_cents, balance_cents=totals.balance_cents,
                   pending_payout_cents=totals.pending_payout_cents, paid_out_cents=totals.paid_out_cents)


@strawberry.type(description="One of the creator's items on their dashboard, over its range.")
class CreatorDashboardItem:
    content_id: strawberry.ID = strawberry.field(description="Global id of the item (type `Content`), also when "
                                                 "`content` is null.")
    plays: int = strawberry.field(description="Plays in the range (a viewer counts once per item and hour).")
    completions: int = strawberry.field(description="Completions in the range (a viewer's position passing 90 % of "
                                        "the item's duration).")
    completion_rate: float | None = strawberry.field(description="`completions / plays`; null without plays.")
    earnings: list[CreatorItemEarnings] = strawberry.field(
        description="The creator's money from the item in the range, one entry per currency (empty: none).")
    row_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The item; null when it was deleted or is not visible to the viewer (an "
                      "unpublished item of an organization that is not the active one).")
    async def content(self, info: strawberry.Info) -> Content | None:
        row = await commerce_loaders.purchased_content(info.context).load(self.row_id)
        return Content.from_model(row) if row is not None and row.deleted_at is None else None

    @classmethod
    def of(cls, item: dashboard.Item) -> CreatorDashboardItem:
        return cls(content_id=strawberry.ID(to_global_id("Content", item.content_id)), plays=item.plays,
                   completions=item.completions, completion_rate=item.completion_rate,
                   earnings=[CreatorItemEarnings.of(m) for m in item.money], row_id=item.content_id)


@strawberry.type(description="The creator's figures in one organization.")
class CreatorDashboardOrganization:
    totals: list[CreatorEarningsTotals] = strawberry.field(
        description="Per currency: the range's figures and the all-time balance (empty: no earnings yet).")
    items: list[CreatorDashboardItem] = strawberry.field(
        description="The items they created or co-create, earned from or that were played in the range: the "
        "biggest net earnings first, then the most played.")
    organization_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The organization.")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        row = await organization_loaders.organizations(info.context).load(self.organization_id)
        return Organization.from_model(row) if row is not None else None


@strawberry.type(description="The signed-in creator's own figures in every organization they create for, read "
                 "from the earnings ledger's summaries at a flat cost. " + _RANGE)
class CreatorDashboard:
    from_: date = strawberry.field(name="from", description="First UTC day of the range, inclusive.")
    to: date = strawberry.field(description="Last UTC day of the range, inclusive.")
    organizations: list[CreatorDashboardOrganization] = strawberry.field(
        description="Every organization where the viewer is a CREATOR member, has earnings ledger entries (as "
        "creator or co-creator, whatever their role, also after leaving) or co-creates an item; by name.")


@strawberry.type(description="Earnings' fields of `Viewer` (never served as a type of its own).")
class ViewerCreatorDashboard:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's creator dashboard: per organization, their sales, share, refunds, "
                      "subscription pool, balance and payouts, and per item plays and completions. " + _RANGE)
    async def creator_dashboard(
        self, info: strawberry.Info,
        from_: Annotated[date | None, strawberry.argument(name="from", description="First UTC day, inclusive; "
                                                          "default: 29 days before `to`.")] = None,
        to: Annotated[date | None, strawberry.argument(description="Last UTC day, inclusive; default: today (or "
                                                       "`from` when it is later).")] = None,
    ) -> CreatorDashboard:
        ctx: Context = info.context
        days = dashboard.dashboard_range(from_, to)
        figures = await dashboard.dashboard(ctx.db, self.user_id, days)
        return CreatorDashboard(from_=days.start, to=days.end, organizations=[
            CreatorDashboardOrganization(organization_id=o.organization_id,
                                         totals=[CreatorEarningsTotals.of(t) for t in o.totals],
                                         items=[CreatorDashboardItem.of(i) for i in o.items])
            for o in figures.organizations])


@strawberry.type(description="A creator's all-time earnings in an organization and one currency, from the earnings "
                 "ledger (migration 0036 on). Purchases completed before the ledger existed have no ledger entries "
                 "and count in none of these figures.")
class CreatorEarnings:
    purchases: int = strawberry.field(description="Sales of their items recorded in the ledger (a sale refunded "
                                      "later still counts; `refundedCents` shows what refunds took back).")
    gross_cents: int = strawberry.field(description="Those sales' amounts net of tax and of refunds, in minor "
                                        "units (an item's sale counts for each of its creators).")
    share_cents: int = strawberry.field(description="What they earned, net: their share of sales, less what refunds "
                                        "and lost disputes took back, plus their subscription pool part "
                                        "(`earnedCents - refundedCents + poolCents`).")
    currency: str = strawberry.field(description="ISO 4217 currency code of the amounts.")
    earned_cents: int = strawberry.field(description="Their share of the sales, in minor units.")
    refunded_cents: int = strawberry.field(description="What refunds and lost disputes took back from them, in minor "
                                           "units (positive).")
    pool_cents: int = strawberry.field(description="Their part of closed subscription pool periods, in minor units.")
    pending_payout_cents: int = strawberry.field(description="Payouts started and not paid yet, in minor units.")
    paid_out_cents: int = strawberry.field(description="Payouts paid to them, in minor units.")
    balance_cents: int = strawberry.field(description="`shareCents - pendingPayoutCents - paidOutCents`: what the next "
                                          "payout owes them; negative when a refund followed a payout.")
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The creator.")
    async def creator(self, info: strawberry.Info) -> User | None:
        user = await account_loaders.users(info.context).load(self.user_id)
        return User.from_model(user) if user else None

    @classmethod
    def of(cls, row: EarningsRow) -> CreatorEarnings:
        return cls(purchases=row.sales, gross_cents=row.gross_cents, share_cents=row.net_cents, currency=row.currency,
                   earned_cents=row.earned_cents, refunded_cents=row.refunded_cents, pool_cents=row.pool_cents,
                   pending_payout_cents=row.pending_payout_cents, paid_out_cents=row.paid_out_cents,
                   balance_cents=row.balance_cents, user_id=row.user_id)


async def creator_earnings(ctx: Context, organization_id: uuid.UUID) -> list[CreatorEarnings]:
    return [CreatorEarnings.of(row) for row in await dashboard.organization_earnings(ctx.db, ctx.viewer, organization_id)]


__all__ = ["CreatorDashboard", "CreatorDashboardItem", "CreatorDashboardOrganization", "CreatorEarnings",
           "CreatorEarningsTotals", "CreatorItemEarnings", "ViewerCreatorDashboard", "creator_earnings"]
