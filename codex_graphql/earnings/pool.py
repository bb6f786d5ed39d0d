"""The subscription pool: each finished calendar month (UTC), an organization's subscription revenue is divided
between the platform, its creators (by the plays of their items) and the organization, cent for cent.

For one organization, month and currency:

- **Revenue** ``R``: ``amount_paid_cents - tax_cents`` summed over the subscription invoices paid in the month.
- **Platform**: ``floor(R * platform_fee_percent / 100)`` (the platform fee, as with sales).
- **Pool** ``P``: ``floor((R - platform) * creatorPoolPercent / 100)`` (the organization's setting; 0 turns the pool
  off, and such organizations are not closed at all).
- **Plays**: the ``content_view`` rows of the month (one per viewer, item and hour) of the organization's items by
  *subscribers*: the viewers who paid a subscription invoice of the organization, in that currency, in that same
  month. Plays by anyone else (buyers, staff, lapsed subscribers) do not count.
- Each item's share of ``P`` is proportional to its plays; within an item, that share divides between its
  co-creators (their ``content_contributor`` percent) and the item's creator (the rest), exactly as
  ``earnings.split.weights`` divides a sale's creators' share. Each (creator, item) gets their exact share
  (``fractions.Fraction``) rounded **down**; rows of 0 cents are not written.
- **Organization**: ``R - platform - sum(creator rows)``: its part, the pool's dropped fractions and the whole pool
  when nobody played anything. All rows add up to ``R``.

The month's rows are SUBSCRIPTION ledger entries (``period_start`` = the 1st of the month, ``basis_cents`` = ``R``,
``content_id`` on creator rows), written with one ``creator_pool_period`` row in the same transaction of the
organization. The period row is inserted first, ``ON CONFLICT DO NOTHING``: a second closer of the same period
(sequential, or concurrent: it waits for the first one's commit) finds it taken and writes nothing; the ledger's
``uq_earning_entry_subscription`` index is the last guard. Only months that ended are closed; the percentages
used are those in force when the month closes. The periodic job (``INTERVAL_SECONDS``) closes the month that
ended last, once ``CLOSE_DELAY`` (3 days: Stripe's webhook retries) has passed since its end, so that an invoice
paid on the month's last evening and delivered late still counts in it; ``codex-graphql close-creator-pool
--month YYYY-MM`` closes any past month by hand.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.earnings import pool_repository as repository
from codex_graphql.earnings.models import EarningKind
from codex_graphql.earnings.split import SCALE, PartyKind, Terms, weights

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0  # the job looks for a month to close every hour (it closes one once)
# An invoice counts in the month Stripe says it was paid (``paid_at``), and its ``invoice.paid`` webhook may arrive
# up to three days later (Stripe's retries): the job waits that long after a month ends before closing it.
CLOSE_DELAY = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class PoolItem:
    """An item's plays by subscribers in the period and who created it."""

    content_id: uuid.UUID
    plays: int
    creator_id: uuid.UUID | None
    contributors: tuple[tuple[uuid.UUID, int], ...] = ()  # (co-creator, percent of the creators' share)


@dataclass(frozen=True, slots=True)
class PoolDivision:
    revenue_cents: int
    platform_cents: int
    pool_cents: int
    plays: int
    creators: dict[tuple[uuid.UUID, uuid.UUID], int]  # (creator, item) -> cents, each above 0
    organization_cents: int


def divide_pool(revenue_cents: int, platform_fee_percent: int, pool_percent: int,
                items: list[PoolItem]) -> PoolDivision:
    """The period's division (module docstring): pure, no SQL. The parts add up to ``revenue_cents``."""
    if revenue_cents < 0:
        raise ValueError("divide a non-negative revenue")
    if not 0 <= platform_fee_percent <= 100 or not 0 <= pool_percent <= 100:
        raise ValueError("percentages are 0 to 100")
    platform = revenue_cents * platform_fee_percent // 100
    pool = (revenue_cents - platform) * pool_percent // 100
    total = sum(item.plays for item in items if item.plays > 0)
    creators: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    if pool and total:
        for item in items:
            if item.plays <= 0:
                continue
            # The creators' share of a sale with no fee and a 100 % creators' share: co-creators by their percent,
            # the item's creator the rest (what is left, when there is no creator, stays with the organization).
            shares = weights(Terms(platform_fee_percent=0, creators_percent=100, creator_id=item.creator_id,
                                   contributors=item.contributors))
            for party, weight in shares.items():
                if party.kind is not PartyKind.CREATOR or party.user_id is None:
                    continue
                cents = math.floor(Fraction(pool * item.plays * weight, total * SCALE))
                if cents > 0:
                    key = (party.user_id, item.content_id)
                    creators[key] = creators.get(key, 0) + cents
    organization = revenue_cents - platform - sum(creators.values())
    return PoolDivision(revenue_cents=revenue_cents, platform_cents=platform, pool_cents=pool, plays=total,
                        creators=creators, organization_cents=organization)


def month_start(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def next_month(start: date) -> date:
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def previous_month(start: date) -> date:
    return date(start.year - (start.month == 1), (start.month - 2) % 12 + 1, 1)


def _instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def ledger_rows(organization_id: uuid.UUID, period_start: date, currency: str,
                division: PoolDivision) -> list[dict[str, object]]:
    """The SUBSCRIPTION entries of a division: the platform's (when it has a part), the organization's and each
    creator's per item."""
    common = {"organization_id": organization_id, "kind": EarningKind.SUBSCRIPTION, "currency": currency,
              "basis_cents": division.revenue_cents, "period_start": period_start}
    rows: list[dict[str, object]] = []
    if division.platform_cents:
        rows.append({**common, "party": PartyKind.PLATFORM, "user_id": None, "content_id": None,
                     "amount_cents": division.platform_cents})
    rows.append({**common, "party": PartyKind.ORGANIZATION, "user_id": None, "content_id": None,
                 "amount_cents": division.organization_cents})
    for (user_id, content_id), cents in sorted(division.creators.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        rows.append({**common, "party": PartyKind.CREATOR, "user_id": user_id, "content_id": content_id,
                     "amount_cents": cents})
    return rows


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    organization_id: uuid.UUID
    period_start: date
    currency: str
    division: PoolDivision


async def close_organization_month(db: Database, organization_id: uuid.UUID, pool_percent: int,
                                   period_start: date) -> list[ClosedPeriod]:
    """Close one organization's month in every currency it had subscription revenue in (one transaction of the
    organization); returns the periods this call closed (none when another closer did)."""
    start, end = _instant(period_start), _instant(next_month(period_start))
    closed: list[ClosedPeriod] = []
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        fee = await repository.platform_fee_percent(session)
        for currency, revenue in sorted((await repository.revenue_by_currency(session, organization_id, start,
                                                                              end)).items()):
            if await repository.is_closed(session, organization_id, period_start, currency):
                continue
            played = await repository.subscriber_plays(session, organization_id, start, end, currency)
            contributors = await repository.contributors_of(session, organization_id, [p[0] for p in played])
            items = [PoolItem(content_id, plays, creator_id, tuple(contributors.get(content_id, ())))
                     for content_id, plays, creator_id in played]
            division = divide_pool(max(0, revenue), fee, pool_percent, items)
            claimed = await repository.claim_period(session, {
                "organization_id": organization_id, "period_start": period_start, "currency": currency,
                "revenue_cents": division.revenue_cents, "platform_cents": division.platform_cents,
                "pool_cents": division.pool_cents, "plays": division.plays})
            if not claimed:
                continue
            await repository.add_pool_entries(session, ledger_rows(organization_id, period_start, currency, division))
            closed.append(ClosedPeriod(organization_id, period_start, currency, division))
    return closed


class MonthNotOver(ValueError):
    """Only months that ended are closed."""


async def close_month(db: Database, period_start: date, *, organization_slug: str | None = None,
                      now: datetime | None = None) -> list[ClosedPeriod]:
    """Close ``period_start``'s month (its 1st) for every organization with a pool, or only for the one with
    ``organization_slug`` (nothing when its pool is off). MonthNotOver for a month that has not ended."""
    now = now or utcnow()
    period_start = month_start(period_start)
    if _instant(next_month(period_start)) > now:
        raise MonthNotOver(f"{period_start:%Y-%m} has not ended yet.")
    async with db.transaction(TenantScope()) as session:
        organizations = await repository.organizations_with_pool(session, organization_slug)
    closed: list[ClosedPeriod] = []
    for organization_id, percent in organizations:
        closed += await close_organization_month(db, organization_id, percent, period_start)
    if closed:
        log.info("creator pool periods closed", extra={"periods": len(closed), "month": f"{period_start:%Y-%m}"})
    return closed


async def close_finished_months(db: Database, now: datetime | None = None) -> list[ClosedPeriod]:
    """The periodic job: close the month that ended ``CLOSE_DELAY`` ago or earlier and last, for every organization
    with a pool (once each)."""
    now = now or utcnow()
    return await close_month(db, previous_month(month_start(now - CLOSE_DELAY)), now=now)


__all__ = ["CLOSE_DELAY", "INTERVAL_SECONDS", "ClosedPeriod", "MonthNotOver", "PoolDivision", "PoolItem",
           "close_finished_months", "close_month", "close_organization_month", "divide_pool", "ledger_rows",
           "month_start", "next_month", "previous_month"]
