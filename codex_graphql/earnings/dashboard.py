"""Creators' figures read from the ledger's summaries (earnings/dashboard_repository.py): the viewer's own
dashboard across organizations, and who sees which rows of ``Organization.creatorEarnings``.

Conventions (also in the schema descriptions): days are UTC days, inclusive; a range defaults to the last 30
days ending today and covers at most 366. Money is integer cents per currency. In a range: ``sales`` and
``grossCents`` (the sales' net of tax) count the day a sale was recorded, ``refundedCents`` the day a refund or
lost dispute took money back from the creator (a refund of an earlier sale counts on its own day), ``poolCents``
the first day of the subscription pool period (month) it divides; ``netCents = earnedCents - refundedCents +
poolCents``. The balance is all time: ``earned - refunded + pool - pendingPayout - paidOut`` (negative when a refund
followed a payout; the next payout carries it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.analytics.service import DayRange, resolve_range
from codex_graphql.authz import Permission, Viewer
from codex_graphql.earnings import dashboard_repository as repository
from codex_graphql.earnings.dashboard_repository import EarningsRow
from codex_graphql.earnings.models import balance

MAX_DASHBOARD_DAYS = 366


def dashboard_range(start: date | None, end: date | None) -> DayRange:
    """Inclusive UTC days (default: the last 30); reversed or over 366 days is a BAD_USER_INPUT error."""
    return resolve_range(start, end, "UTC", max_days=MAX_DASHBOARD_DAYS, argument="")


@dataclass(slots=True)
class Money:
    """Range figures of one currency."""

    currency: str
    sales: int = 0
    gross_cents: int = 0
    earned_cents: int = 0
    refunded_cents: int = 0
    pool_cents: int = 0

    @property
    def net_cents(self) -> int:
        return self.earned_cents - self.refunded_cents + self.pool_cents


@dataclass(slots=True)
class Totals(Money):
    """Range figures of one currency in one organization, with the all-time balance."""

    all_earned_cents: int = 0
    all_refunded_cents: int = 0
    all_pool_cents: int = 0
    pending_payout_cents: int = 0
    paid_out_cents: int = 0

    @property
    def balance_cents(self) -> int:
        return balance(self.all_earned_cents, self.all_refunded_cents, self.all_pool_cents,
                       self.pending_payout_cents, self.paid_out_cents)


@dataclass(slots=True)
class Item:
    organization_id: uuid.UUID
    content_id: uuid.UUID
    plays: int = 0
    completions: int = 0
    money: list[Money] = field(default_factory=list)

    @property
    def completion_rate(self) -> float | None:
        return self.completions / self.plays if self.plays else None


@dataclass(slots=True)
class OrganizationFigures:
    organization_id: uuid.UUID
    totals: list[Totals] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class Dashboard:
    range: DayRange
    organizations: list[OrganizationFigures]


async def dashboard(session: AsyncSession, user_id: uuid.UUID, days: DayRange) -> Dashboard:
    """The creator's figures in every organization of their dashboard (two statements, whatever the number of
    organizations, items and days). Items: the biggest net earnings first (summed over currencies), then the
    most played."""
    totals = await repository.dashboard_totals(session, user_id, days.start, days.end)
    items = await repository.dashboard_items(session, user_id, days.start, days.end)
    organizations: dict[uuid.UUID, OrganizationFigures] = {}
    for row in totals:
        figures = organizations.setdefault(row.organization_id, OrganizationFigures(row.organization_id))
        if row.currency is not None:
            figures.totals.append(Totals(
                currency=row.currency, sales=row.sales, gross_cents=row.gross_cents, earned_cents=row.earned_cents,
                refunded_cents=row.refunded_cents, pool_cents=row.pool_cents, all_earned_cents=row.all_earned_cents,
                all_refunded_cents=row.all_refunded_cents, all_pool_cents=row.all_pool_cents,
                pending_payout_cents=row.pending_payout_cents, paid_out_cents=row.paid_out_cents))
    by_item: dict[tuple[uuid.UUID, uuid.UUID], Item] = {}
    for line in items:
        if line.organization_id not in organizations:
            continue
        item = by_item.get((line.organization_id, line.content_id))
        if item is None:
            item = by_item[(line.organization_id, line.content_id)] = Item(
                line.organization_id, line.content_id, plays=line.plays, completions=line.completions)
            organizations[line.organization_id].items.append(item)
        if line.currency is not None:
            item.money.append(Money(currency=line.currency, sales=line.sales, gross_cents=line.gross_cents,
                                    earned_cents=line.earned_cents, refunded_cents=line.refunded_cents,
                                    pool_cents=line.pool_cents))
    for figures in organizations.values():
        figures.items.sort(key=lambda i: (-sum(m.net_cents for m in i.money), -i.plays, str(i.content_id)))
    return Dashboard(range=days, organizations=list(organizations.values()))


def earnings_visible_to(viewer: Viewer, organization_id: uuid.UUID) -> uuid.UUID | None:
    """Whose rows of ``Organization.creatorEarnings`` the viewer sees (the field's guard has let them in): None
    for everyone's (PURCHASES_READ), else only their own (a creator: CONTENT_CREATE)."""
    if viewer.can(Permission.PURCHASES_READ, organization_id):
        return None
    assert viewer.user_id is not None  # the guard refuses anonymous callers
    return viewer.user_id


async def organization_earnings(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID) -> list[EarningsRow]:
    return await repository.organization_earnings(session, organization_id, earnings_visible_to(viewer, organization_id))


__all__ = ["MAX_DASHBOARD_DAYS", "Dashboard", "Item", "Money", "OrganizationFigures", "Totals", "dashboard",
           "dashboard_range", "earnings_visible_to", "organization_earnings"]
