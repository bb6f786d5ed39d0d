"""SQL of creators' figures: the viewer's dashboard across organizations and ``Organization.creatorEarnings``.

Every figure comes from the summaries the ledger's triggers keep (migration 0038): ``creator_earning_summary``
(all-time totals and payouts, one row per organization, creator and currency), ``creator_item_daily`` (per item,
UTC day and currency) and ``content_play_daily`` (per item and UTC day). Each function is one statement,
whatever the number of organizations, items or days. The dashboard's statements name the viewer in every
subquery (``user_id = :user`` or the SECURITY DEFINER ``codex_creator_items()``): row-level security lets staff
of the active organization read every creator's rows there, and a creator must still see only their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.earnings.models import CreatorEarningSummary, balance

# Both statements start from the organizations of a creator's dashboard (``orgs``): where they are a CREATOR
# member, and wherever the ledger names them (whatever their role, or after they left) or they co-create an item.
_TOTALS = text("""
WITH orgs AS (
  SELECT m.organization_id FROM organization_membership m WHERE m.user_id = :user AND m.role = 'CREATOR'
  UNION SELECT s.organization_id FROM creator_earning_summary s WHERE s.user_id = :user
  UNION SELECT k.organization_id FROM content_contributor k WHERE k.user_id = :user),
figures AS (
  SELECT d.organization_id, d.currency, d.sales, d.gross_cents, d.earned_cents, d.refunded_cents, d.pool_cents,
         0::bigint AS all_earned, 0::bigint AS all_refunded, 0::bigint AS all_pool, 0::bigint AS pending,
         0::bigint AS paid
  FROM creator_item_daily d WHERE d.user_id = :user AND d.day BETWEEN :start AND :end
  UNION ALL
  SELECT s.organization_id, s.currency, 0, 0, 0, 0, 0, s.earned_cents, s.refunded_cents, s.pool_cents,
         s.pending_payout_cents, s.paid_out_cents
  FROM creator_earning_summary s WHERE s.user_id = :user)
SELECT o.organization_id, f.currency, coalesce(sum(f.sales), 0) AS sales, coalesce(sum(f.gross_cents), 0) AS gross,
       coalesce(sum(f.earned_cents), 0) AS earned, coalesce(sum(f.refunded_cents), 0) AS refunded,
       coalesce(sum(f.pool_cents), 0) AS pool, coalesce(sum(f.all_earned), 0) AS all_earned,
       coalesce(sum(f.all_refunded), 0) AS all_refunded, coalesce(sum(f.all_pool), 0) AS all_pool,
       coalesce(sum(f.pending), 0) AS pending, coalesce(sum(f.paid), 0) AS paid
FROM orgs o JOIN organization g ON g.id = o.organization_id
LEFT JOIN figures f ON f.organization_id = o.organization_id
GROUP BY o.organization_id, g.name, f.currency
ORDER BY g.name, o.organization_id, f.currency""")

_ITEMS = text("""
WITH orgs AS (
  SELECT m.organization_id FROM organization_membership m WHERE m.user_id = :user AND m.role = 'CREATOR'
  UNION SELECT s.organization_id FROM creator_earning_summary s WHERE s.user_id = :user
  UNION SELECT k.organization_id FROM content_contributor k WHERE k.user_id = :user),
money AS (
  SELECT d.organization_id, d.content_id, d.currency, sum(d.sales) AS sales, sum(d.gross_cents) AS gross,
         sum(d.earned_cents) AS earned, sum(d.refunded_cents) AS refunded, sum(d.pool_cents) AS pool
  FROM creator_item_daily d WHERE d.user_id = :user AND d.day BETWEEN :start AND :end
  GROUP BY d.organization_id, d.content_id, d.currency),
mine AS (
  SELECT organization_id, content_id FROM money
  UNION SELECT k.organization_id, k.content_id FROM content_contributor k WHERE k.user_id = :user
  UNION SELECT c.organization_id, c.id FROM content c WHERE c.creator_id = :user AND c.deleted_at IS NULL
  UNION SELECT p.organization_id, p.content_id FROM content_play_daily p
        WHERE p.content_id IN (SELECT codex_creator_items()) AND p.day BETWEEN :start AND :end),
played AS (
  SELECT p.organization_id, p.content_id, sum(p.plays) AS plays, sum(p.completions) AS completions
  FROM content_play_daily p JOIN mine USING (organization_id, content_id)
  WHERE p.day BETWEEN :start AND :end GROUP BY p.organization_id, p.content_id)
SELECT mine.organization_id, mine.content_id, coalesce(played.plays, 0) AS plays,
       coalesce(played.completions, 0) AS completions, money.currency, coalesce(money.sales, 0) AS sales,
       coalesce(money.gross, 0) AS gross, coalesce(money.earned, 0) AS earned,
       coalesce(money.refunded, 0) AS refunded, coalesce(money.pool, 0) AS pool
FROM mine JOIN orgs USING (organization_id)
LEFT JOIN played USING (organization_id, content_id)
LEFT JOIN money USING (organization_id, content_id)
ORDER BY mine.organization_id, mine.content_id, money.currency""")


@dataclass(frozen=True, slots=True)
class TotalsRow:
    """A creator's figures in one organization and currency (``currency`` None: an organization without any)."""

    organization_id: uuid.UUID
    currency: str | None
    sales: int
    gross_cents: int
    earned_cents: int
    refunded_cents: int
    pool_cents: int
    all_earned_cents: int
    all_refunded_cents: int
    all_pool_cents: int
    pending_payout_cents: int
    paid_out_cents: int


@dataclass(frozen=True, slots=True)
class ItemRow:
    """A creator's figures for one item in the range (one row per currency it earned in; ``currency`` None:
    no money in the range), with the item's plays and completions in the range."""

    organization_id: uuid.UUID
    content_id: uuid.UUID
    plays: int
    completions: int
    currency: str | None
    sales: int
    gross_cents: int
    earned_cents: int
    refunded_cents: int
    pool_cents: int


async def dashboard_totals(session: AsyncSession, user_id: uuid.UUID, start: date, end: date) -> list[TotalsRow]:
    """Per organization of the creator's dashboard (by name) and currency: the range's figures and the all-time
    ones; an organization with no figures at all comes back once with ``currency`` None."""
    rows = (await session.execute(_TOTALS, {"user": user_id, "start": start, "end": end})).all()
    return [TotalsRow(r[0], r[1], *(int(v) for v in r[2:])) for r in rows]


async def dashboard_items(session: AsyncSession, user_id: uuid.UUID, start: date, end: date) -> list[ItemRow]:
    """The creator's items in the organizations of their dashboard: those they earned from in the range, those
    they created or co-create (as far as row-level security shows them) and those played in the range."""
    rows = (await session.execute(_ITEMS, {"user": user_id, "start": start, "end": end})).all()
    return [ItemRow(r[0], r[1], int(r[2]), int(r[3]), r[4], *(int(v) for v in r[5:])) for r in rows]


@dataclass(frozen=True, slots=True)
class EarningsRow:
    """A creator's all-time ledger totals in one organization and currency."""

    user_id: uuid.UUID
    currency: str
    sales: int
    gross_cents: int
    earned_cents: int
    refunded_cents: int
    pool_cents: int
    pending_payout_cents: int
    paid_out_cents: int

    @property
    def net_cents(self) -> int:
        return self.earned_cents - self.refunded_cents + self.pool_cents

    @property
    def balance_cents(self) -> int:
        return balance(self.earned_cents, self.refunded_cents, self.pool_cents, self.pending_payout_cents,
                       self.paid_out_cents)


async def organization_earnings(session: AsyncSession, organization_id: uuid.UUID,
                                user_id: uuid.UUID | None) -> list[EarningsRow]:
    """Every creator's ledger totals in the organization (``user_id`` None), or only that creator's, one summary
    row each (gross net of refunds); the biggest earners first."""
    s = CreatorEarningSummary
    statement = in_organization(select(s), s, organization_id)
    if user_id is not None:
        statement = statement.where(s.user_id == user_id)
    statement = statement.order_by((s.earned_cents - s.refunded_cents + s.pool_cents).desc(), s.user_id, s.currency)
    return [EarningsRow(row.user_id, row.currency, row.sales, row.gross_cents - row.refunded_gross_cents,
                        row.earned_cents, row.refunded_cents, row.pool_cents, row.pending_payout_cents,
                        row.paid_out_cents)
            for row in (await session.scalars(statement)).all()]


__all__ = ["EarningsRow", "ItemRow", "TotalsRow", "dashboard_items", "dashboard_totals", "organization_earnings"]
