"""SQL of offering figures (``Offering.stats``): one statement per page of offerings, each figure read from a
counter kept with the change (a session's ``seats_taken``, the purchase triggers' ``content_sales_summary`` row
of the offering's offer item) or counted over the offering's own bookings, so the cost is bounded by the
offering's size and never by the organization's history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class OfferingFigures:
    revenue_cents: int
    purchases: int
    refunds: int
    credits_earned: int
    confirmed: int
    waitlisted: int
    seats_taken: int
    seat_capacity: int
    attendable: int  # confirmed bookings whose session has started
    checked_in: int


_FIGURES = text("""
SELECT o.id,
       coalesce(ss.revenue_cents, 0) AS revenue_cents, coalesce(ss.purchases, 0) AS purchases,
       coalesce(ss.refunds, 0) AS refunds,
       coalesce(b.credits_earned, 0) AS credits_earned, coalesce(b.confirmed, 0) AS confirmed,
       coalesce(b.waitlisted, 0) AS waitlisted, coalesce(s.seats_taken, 0) AS seats_taken,
       coalesce(s.seat_capacity, 0) AS seat_capacity, coalesce(b.attendable, 0) AS attendable,
       coalesce(b.checked_in, 0) AS checked_in
FROM offering o
LEFT JOIN content_sales_summary ss ON ss.content_id = o.offer_content_id AND ss.organization_id = o.organization_id
LEFT JOIN LATERAL (
  SELECT sum(x.seats_taken) AS seats_taken, sum(x.capacity) AS seat_capacity
  FROM offering_session x WHERE x.offering_id = o.id AND x.organization_id = o.organization_id
   AND x.cancelled_at IS NULL) s ON true
LEFT JOIN LATERAL (
  SELECT sum(k.credits_spent) FILTER (WHERE k.status = 'CONFIRMED') AS credits_earned,
         count(*) FILTER (WHERE k.status = 'CONFIRMED') AS confirmed,
         count(*) FILTER (WHERE k.status = 'WAITLISTED') AS waitlisted,
         count(*) FILTER (WHERE k.status = 'CONFIRMED' AND x.starts_at <= now()) AS attendable,
         count(*) FILTER (WHERE k.status = 'CONFIRMED' AND x.starts_at <= now() AND k.checked_in_at IS NOT NULL)
           AS checked_in
  FROM booking k JOIN offering_session x ON x.id = k.session_id
  WHERE k.offering_id = o.id AND k.organization_id = o.organization_id) b ON true
WHERE o.id = ANY(:ids) AND o.organization_id = :organization_id
""")


async def figures_of(session: AsyncSession, offering_ids: Sequence[uuid.UUID],
                     organization_id: uuid.UUID) -> dict[uuid.UUID, OfferingFigures]:
    """Figures of the organization's offerings (staff: RLS shows them every booking of the organization)."""
    rows = await session.execute(_FIGURES, {"ids": list(offering_ids), "organization_id": organization_id})
    return {row.id: OfferingFigures(*(int(value) for value in row[1:])) for row in rows}
