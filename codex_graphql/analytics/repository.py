"""SQL of analytics: views, the trigger-maintained summaries, and customer pages.

Every statement on a tenant table is scoped with ``in_organization``; RLS enforces the same below.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from graphql import GraphQLError
from sqlalchemy import Select, and_, exists, func, literal, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts.models import User
from codex_graphql.analytics.models import (
    AnalyticsTotals,
    ContentSalesSummary,
    ContentView,
    CustomerSummary,
    PurchaseDailyStats,
)
from codex_graphql.authz import in_organization
from codex_graphql.commerce.models import Purchase
from codex_graphql.content.models import ContentEntitlement
from codex_graphql.pagination import cursor_instant, cursor_int, cursor_text
from codex_graphql.relay import Page
from codex_graphql.subscriptions.models import (
    SubscriptionTier,
    SubscriptionTierStatus,
    SubscriptionTierSummary,
)

# -- views ----------------------------------------------------------------------------------------


# Built once: its compiled form is cached (a ``.values(rows)`` statement compiled anew for every view).
_INSERT_VIEWS = insert(ContentView).on_conflict_do_nothing(
    index_elements=[ContentView.content_id, ContentView.user_id, ContentView.hour])


async def record_views(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One statement for many views; a viewer counts once per item per hour (the primary key)."""
    if rows:
        await session.execute(_INSERT_VIEWS, rows)


async def view_counts(session: AsyncSession, organization_id: uuid.UUID,
                      content_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(views, unique viewers) per item; a view is one viewer-hour."""
    statement = in_organization(
        select(ContentView.content_id, func.count(), func.count(func.distinct(ContentView.user_id))),
        ContentView, organization_id,
    ).where(ContentView.content_id.in_(content_ids)).group_by(ContentView.content_id)
    return {c: (int(v), int(u)) for c, v, u in (await session.execute(statement)).all()}


async def sales(session: AsyncSession, organization_id: uuid.UUID,
                content_ids: list[uuid.UUID]) -> dict[uuid.UUID, ContentSalesSummary]:
    statement = in_organization(select(ContentSalesSummary), ContentSalesSummary, organization_id).where(
        ContentSalesSummary.content_id.in_(content_ids))
    return {row.content_id: row for row in (await session.scalars(statement)).all()}


# -- dashboard ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    purchases: int
    gross_cents: int
    refunds: int
    refunded_cents: int
    recurring_cents: int = 0
    invoices: int = 0
    subscriptions_started: int = 0
    subscriptions_churned: int = 0
    trials_started: int = 0
    trials_converted: int = 0

    @property
    def one_time_cents(self) -> int:
        return self.gross_cents - self.refunded_cents


async def days(session: AsyncSession, organization_id: uuid.UUID, start: date, end: date) -> list[DayRow]:
    statement = in_organization(select(PurchaseDailyStats), PurchaseDailyStats, organization_id).where(
        PurchaseDailyStats.day >= start, PurchaseDailyStats.day <= end).order_by(PurchaseDailyStats.day)
    return [DayRow(r.day, r.purchases, r.gross_cents, r.refunds, r.refunded_cents, r.recurring_cents, r.invoices,
                   r.subscriptions_started, r.subscriptions_churned, r.trials_started, r.trials_converted)
            for r in (await session.scalars(statement)).all()]


async def month_revenue(session: AsyncSession, organization_id: uuid.UUID, start: date, end: date) -> int:
    """One-time and recurring revenue of the days, net of tax and refunds."""
    s = PurchaseDailyStats
    statement = in_organization(
        select(func.coalesce(func.sum(s.gross_cents - s.refunded_cents + s.recurring_cents), 0)), s, organization_id,
    ).where(s.day >= start, s.day <= end)
    return int(await session.scalar(statement) or 0)


async def subscription_totals(session: AsyncSession, organization_id: uuid.UUID) -> tuple[int, int]:
    """(customers with a live subscription, MRR in minor units) as the triggers keep them (no row: zeros)."""
    statement = in_organization(select(AnalyticsTotals.subscribers, AnalyticsTotals.mrr_cents), AnalyticsTotals,
                                organization_id)
    row = (await session.execute(statement)).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def tier_figures(session: AsyncSession, organization_id: uuid.UUID) -> list[tuple[SubscriptionTier, Any]]:
    """Every tier on sale or with live subscriptions, in the storefront's order, with its summary row (None:
    no subscription ever)."""
    t, m = SubscriptionTier, SubscriptionTierSummary
    statement = in_organization(select(t, m), t, organization_id).outerjoin(
        m, and_(m.organization_id == t.organization_id, m.tier_id == t.id)).where(or_(
            t.status == SubscriptionTierStatus.PUBLISHED, m.trialing + m.active + m.past_due > 0,
        )).order_by(t.position, t.name, t.id)
    return [(tier, summary) for tier, summary in (await session.execute(statement)).all()]


async def customer_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    """The organization's ``customer_summary`` rows, as kept by its triggers in ``analytics_totals`` (no row: 0)."""
    statement = in_organization(select(AnalyticsTotals.customers), AnalyticsTotals, organization_id)
    return int(await session.scalar(statement) or 0)


async def top_content(session: AsyncSession, organization_id: uuid.UUID, limit: int) -> list[ContentSalesSummary]:
    statement = in_organization(select(ContentSalesSummary), ContentSalesSummary, organization_id).order_by(
        ContentSalesSummary.revenue_cents.desc(), ContentSalesSummary.purchases.desc(), ContentSalesSummary.content_id
    ).limit(limit)
    return list((await session.scalars(statement)).all())


async def recent_purchases(session: AsyncSession, organization_id: uuid.UUID, limit: int) -> list[Purchase]:
    statement = in_organization(select(Purchase), Purchase, organization_id).order_by(
        Purchase.created_at.desc(), Purchase.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def rebuild_daily(session: AsyncSession, organization_id: uuid.UUID) -> None:
    await session.execute(text("select analytics_rebuild_daily(:org)"), {"org": organization_id})


async def rebuild_all(session: AsyncSession, organization_id: uuid.UUID) -> None:
    await session.execute(text("select analytics_rebuild(:org)"), {"org": organization_id})


# -- customers ------------------------------------------------------------------------------------

SORT_COLUMNS: dict[str, Any] = {
    "LAST_PURCHASE_AT": CustomerSummary.last_purchase_at,
    "TOTAL_SPENT": CustomerSummary.total_spent_cents,
    "JOINED_AT": User.created_at,
    "EMAIL": User.email,
}


def encode_customer_cursor(field: str, value: Any, user_id: uuid.UUID) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([field, raw, str(user_id)]).encode()).decode()


def decode_customer_cursor(cursor: str, field: str) -> tuple[Any, uuid.UUID]:
    try:
        name, raw, user_id = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        if name != field:
            raise ValueError("cursor of another order")
        # Range-checked like PostgreSQL's columns (pagination.py): a forged value is a bad cursor, never a 500.
        if field in ("LAST_PURCHASE_AT", "JOINED_AT"):
            value: Any = cursor_instant(raw)
        elif field == "TOTAL_SPENT":
            value = cursor_int(raw)
        else:
            value = cursor_text(raw)
        return value, uuid.UUID(cursor_text(user_id))
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError) as exc:
        raise GraphQLError("Invalid cursor.", extensions={"code": "BAD_USER_INPUT"}) from exc


def _customers(organization_id: uuid.UUID, search: str | None, content_id: uuid.UUID | None) -> Select[Any]:
    statement = in_organization(select(CustomerSummary, User), CustomerSummary, organization_id).join(
        User, User.id == CustomerSummary.user_id)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\")))
    if content_id is not None:
        bought = in_organization(select(literal(1)), Purchase, organization_id).where(
            Purchase.user_id == CustomerSummary.user_id, Purchase.content_id == content_id)
        statement = statement.where(exists(bought))
    return statement


async def customers_page(session: AsyncSession, organization_id: uuid.UUID, *, first: int, after: str | None,
                         search: str | None, content_id: uuid.UUID | None, field: str,
                         descending: bool) -> Page[tuple[CustomerSummary, User]]:
    column = SORT_COLUMNS[field]
    statement = _customers(organization_id, search, content_id)
    if after:
        value, user_id = decode_customer_cursor(after, field)
        key = tuple_(column, CustomerSummary.user_id)
        statement = statement.where(key < tuple_(literal(value, column.type), literal(user_id))
                                    if descending else key > tuple_(literal(value, column.type), literal(user_id)))
    order = (column.desc(), CustomerSummary.user_id.desc()) if descending else (column.asc(), CustomerSummary.user_id.asc())
    rows = [(r[0], r[1]) for r in (await session.execute(statement.order_by(*order).limit(first + 1))).all()]
    has_next = len(rows) > first
    rows = rows[:first]
    values = {
        "LAST_PURCHASE_AT": lambda s, u: s.last_purchase_at, "TOTAL_SPENT": lambda s, u: s.total_spent_cents,
        "JOINED_AT": lambda s, u: u.created_at, "EMAIL": lambda s, u: u.email,
    }[field]
    return Page(items=rows, cursors=[encode_customer_cursor(field, values(s, u), s.user_id) for s, u in rows],
                has_next_page=has_next, has_previous_page=bool(after))


async def customers_count(session: AsyncSession, organization_id: uuid.UUID, search: str | None,
                          content_id: uuid.UUID | None) -> int:
    inner = _customers(organization_id, search, content_id).subquery()
    return int(await session.scalar(select(func.count()).select_from(inner)) or 0)


async def customer_purchases(session: AsyncSession, organization_id: uuid.UUID, user_ids: list[uuid.UUID],
                             first: int, after: tuple[datetime, uuid.UUID] | None) -> dict[uuid.UUID, list[Purchase]]:
    """Up to ``first + 1`` purchases per customer, newest first, in one statement."""
    ranked = in_organization(
        select(Purchase.id, func.row_number().over(
            partition_by=Purchase.user_id, order_by=(Purchase.created_at.desc(), Purchase.id.desc())).label("n")),
        Purchase, organization_id,
    ).where(Purchase.user_id.in_(user_ids))
    if after is not None:
        ranked = ranked.where(or_(Purchase.created_at < after[0],
                                  and_(Purchase.created_at == after[0], Purchase.id < after[1])))
    sub = ranked.subquery()
    statement = select(Purchase).join(sub, sub.c.id == Purchase.id).where(sub.c.n <= first + 1).order_by(
        Purchase.user_id, Purchase.created_at.desc(), Purchase.id.desc())
    found: dict[uuid.UUID, list[Purchase]] = {u: [] for u in user_ids}
    for purchase in (await session.scalars(statement)).all():
        found[purchase.user_id].append(purchase)
    return found


async def owned_content_ids(session: AsyncSession, organization_id: uuid.UUID,
                            user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    statement = in_organization(
        select(ContentEntitlement.user_id, ContentEntitlement.content_id), ContentEntitlement, organization_id,
    ).where(ContentEntitlement.user_id.in_(user_ids), ContentEntitlement.revoked_at.is_(None)).order_by(
        ContentEntitlement.user_id, ContentEntitlement.created_at, ContentEntitlement.content_id)
    found: dict[uuid.UUID, list[uuid.UUID]] = {u: [] for u in user_ids}
    for user_id, content_id in (await session.execute(statement)).all():
        found[user_id].append(content_id)
    return found


async def customer_purchase_counts(session: AsyncSession, organization_id: uuid.UUID,
                                   user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    statement = in_organization(select(CustomerSummary.user_id, CustomerSummary.purchase_count), CustomerSummary,
                                organization_id).where(CustomerSummary.user_id.in_(user_ids))
    return {u: int(n) for u, n in (await session.execute(statement)).all()}
