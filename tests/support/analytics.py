"""Helpers for the analytics and customer tests: purchases written straight into the database (as
codex_app, under RLS, so the summary triggers run the way they do for the app), and the expected
figures computed independently from the purchase rows in Python."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id

ANALYTICS = """query($s: String!, $r: DateRange) { organization(slug: $s) { analytics(range: $r) {
  fromDay toDay totalRevenueCents revenueThisMonthCents customerCount purchaseCount refundCount
  topContent(limit: 5) { content { id title } purchases revenueCents }
  recentPurchases(limit: 10) { id kind status amountCents createdAt }
  revenueByDay { day revenueCents purchases refunds } } } }"""


def raw_id(global_id: str, type_name: str = "Content") -> uuid.UUID:
    decoded = decode_id(global_id, type_name)
    assert decoded is not None
    return decoded


async def add_purchase(db: Any, org: uuid.UUID, user: uuid.UUID, content: uuid.UUID, creator: uuid.UUID, *,
                       at: datetime, kind: str = "PAID", amount: int = 0, tax: int = 0) -> uuid.UUID:
    purchase_id = uuid.uuid4()
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(text(
            "insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status, "
            "amount_cents, tax_cents, currency, created_at) values (:id, :org, :user, :content, :creator, 'Item', "
            ":kind, 'COMPLETED', :amount, :tax, 'USD', :at)"),
            {"id": purchase_id, "org": org, "user": user, "content": content, "creator": creator, "kind": kind,
             "amount": amount, "tax": tax, "at": at})
    return purchase_id


async def refund(db: Any, org: uuid.UUID, purchase_id: uuid.UUID, at: datetime) -> None:
    async with db.transaction(TenantScope(organization_id=org)) as session:
        result = await session.execute(text(
            "update purchase set status = 'REFUNDED', refunded_at = :at where id = :id"), {"id": purchase_id, "at": at})
        assert result.rowcount == 1


@dataclass
class Row:
    id: uuid.UUID
    user_id: uuid.UUID
    content_id: uuid.UUID
    kind: str
    status: str
    amount: int
    tax: int
    created_at: datetime
    refunded_at: datetime | None

    @property
    def net(self) -> int:
        return self.amount - self.tax


async def purchase_rows(admin_db: Any, org: uuid.UUID) -> list[Row]:
    records = await admin_db.fetch(
        "select id, user_id, content_id, kind, status, amount_cents, tax_cents, created_at, refunded_at "
        "from purchase where organization_id = $1", org)
    return [Row(*r) for r in records]


def expected_days(rows: list[Row], tz: str) -> dict[date, list[int]]:
    """local day -> [purchases, gross net of tax, refunds, refunded net of tax]."""
    zone = ZoneInfo(tz)
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        day = r.created_at.astimezone(zone).date()
        days[day][0] += 1
        days[day][1] += r.net
        if r.status == "REFUNDED":
            assert r.refunded_at is not None
            refund_day = r.refunded_at.astimezone(zone).date()
            days[refund_day][2] += 1
            days[refund_day][3] += r.net
    return dict(days)


def expected_analytics(rows: list[Row], tz: str, start: date, end: date, now: datetime) -> dict[str, Any]:
    days = expected_days(rows, tz)
    in_range = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    today = now.astimezone(ZoneInfo(tz)).date()
    month = [d for d in days if d.year == today.year and d.month == today.month and d <= today]
    by_content: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        by_content[r.content_id][0] += 1
        by_content[r.content_id][1] += r.net if r.status == "COMPLETED" else 0
    top = sorted(by_content.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:5]
    recent = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)[:10]
    empty = [0, 0, 0, 0]
    return {
        "totalRevenueCents": sum(days.get(d, empty)[1] - days.get(d, empty)[3] for d in in_range),
        "revenueThisMonthCents": sum(days[d][1] - days[d][3] for d in month),
        "customerCount": len({r.user_id for r in rows}),
        "purchaseCount": sum(days.get(d, empty)[0] for d in in_range),
        "refundCount": sum(days.get(d, empty)[2] for d in in_range),
        "revenueByDay": [{"day": d.isoformat(), "revenueCents": days.get(d, empty)[1] - days.get(d, empty)[3],
                          "purchases": days.get(d, empty)[0], "refunds": days.get(d, empty)[2]} for d in in_range],
        "top": [(content_id, n, revenue) for content_id, (n, revenue) in top],
        "recent": [r.id for r in recent],
    }


def expected_customers(rows: list[Row]) -> dict[uuid.UUID, dict[str, Any]]:
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        c = out.setdefault(r.user_id, {"count": 0, "spent": 0, "first": r.created_at, "last": r.created_at})
        c["count"] += 1
        c["spent"] += r.net if r.status == "COMPLETED" else 0
        c["first"] = min(c["first"], r.created_at)
        c["last"] = max(c["last"], r.created_at)
    return out


async def summaries(admin_db: Any, org: uuid.UUID) -> dict[str, Any]:
    """The three trigger-maintained summaries of one organization, as comparable values."""
    return {
        "daily": {r["day"]: [r["purchases"], r["gross_cents"], r["refunds"], r["refunded_cents"]] for r in await admin_db.fetch(
            "select * from purchase_daily_stats where organization_id = $1", org)
            if (r["purchases"], r["gross_cents"], r["refunds"], r["refunded_cents"]) != (0, 0, 0, 0)},
        "customers": {r["user_id"]: {"count": r["purchase_count"], "spent": r["total_spent_cents"],
                                     "first": r["first_purchase_at"], "last": r["last_purchase_at"]}
                      for r in await admin_db.fetch("select * from customer_summary where organization_id = $1", org)},
        "content": {r["content_id"]: (r["purchases"], r["revenue_cents"], r["refunds"]) for r in await admin_db.fetch(
            "select * from content_sales_summary where organization_id = $1", org)},
    }


def expected_summaries(rows: list[Row], tz: str) -> dict[str, Any]:
    content: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        content[r.content_id][0] += 1
        content[r.content_id][1] += r.net if r.status == "COMPLETED" else 0
        content[r.content_id][2] += r.status == "REFUNDED"
    return {
        "daily": {d: v for d, v in expected_days(rows, tz).items() if v != [0, 0, 0, 0]},
        "customers": expected_customers(rows),
        "content": {k: tuple(v) for k, v in content.items()},
    }
