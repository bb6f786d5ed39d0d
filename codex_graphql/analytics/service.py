"""Analytics rules: which days a range and "this month" cover in the organization's timezone, and
rebuilding the trigger-maintained summaries.

Conventions (also in the schema descriptions):
- Money is minor units net of tax (``amount_cents - tax_cents``), like ``Content.revenueCents``.
- FREE and GRANT purchases count as purchases (and customers) and add 0 revenue.
- A purchase counts on the local day it was made; a refund, partial or full, subtracts its amount (net
  of tax, proportionally) on the local day it was made, so revenue of a day is ``gross - refunded`` of
  that day. Refund counts count purchases that ended fully refunded (or revoked), on that day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.analytics import repository
from codex_graphql.db import utcnow

MAX_RANGE_DAYS = 1000
DEFAULT_RANGE_DAYS = 30


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_today(timezone: str | None, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(zone(timezone)).date()


def month_of(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


@dataclass(frozen=True, slots=True)
class DayRange:
    start: date
    end: date

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def resolve_range(start: date | None, end: date | None, timezone: str | None, *, max_days: int = MAX_RANGE_DAYS,
                  argument: str = "range.") -> DayRange:
    """Inclusive local days; defaults to the last 30 days ending today in the organization's zone. A reversed
    range or one over ``max_days`` is a BAD_USER_INPUT error naming the arguments (``argument`` + from/to)."""
    today = local_today(timezone)
    end = end or (today if start is None else max(start, today))
    if start is None:
        if (end - date.min).days < DEFAULT_RANGE_DAYS - 1:  # the default start would precede the calendar
            raise GraphQLError(f"`{argument}to` is too early for the default range: give `{argument}from` too.",
                               extensions={"code": "BAD_USER_INPUT"})
        start = end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if end < start:
        raise GraphQLError(f"`{argument}to` must not be before `{argument}from`.",
                           extensions={"code": "BAD_USER_INPUT"})
    if (end - start).days + 1 > max_days:
        raise GraphQLError(f"A range covers at most {max_days} days.", extensions={"code": "BAD_USER_INPUT"})
    return DayRange(start, end)


async def rebuild_daily_rollups(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Recompute ``purchase_daily_stats`` of one organization from its purchases, in its current
    timezone (call after the timezone changes). The session must be scoped to that organization:
    the SQL function refuses any other (it runs as the tables' owner)."""
    await repository.rebuild_daily(session, organization_id)


async def rebuild_summaries(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Recompute all three summaries of one organization (after a bulk load with triggers disabled)."""
    await repository.rebuild_all(session, organization_id)
