"""SQL of a service's availability (``offering_availability``) and of the sessions that keep its slots busy.
Every statement names the organization (``in_organization``); RLS also lets the public read a published
offering's rules and sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.offerings.models import OfferingAvailability, OfferingSession


async def get(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> OfferingAvailability | None:
    statement = in_organization(select(OfferingAvailability), OfferingAvailability, organization_id).where(
        OfferingAvailability.offering_id == offering_id)
    return await session.scalar(statement.execution_options(populate_existing=True))


async def of_offerings(session: AsyncSession, offering_ids: Sequence[uuid.UUID],
                       organization_id: uuid.UUID) -> dict[uuid.UUID, OfferingAvailability]:
    """The rules of some offerings of one organization (``AvailabilityLoader``), by offering id."""
    statement = in_organization(select(OfferingAvailability), OfferingAvailability, organization_id).where(
        OfferingAvailability.offering_id.in_(list(offering_ids)))
    return {row.offering_id: row for row in await session.scalars(statement)}


async def put(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID, *,
              weekly: list[dict[str, Any]], slot_minutes: int, buffer_minutes: int, notice_minutes: int,
              horizon_days: int) -> OfferingAvailability:
    """Set (insert or replace) an offering's rules; the row as stored."""
    values = {"weekly": weekly, "slot_minutes": slot_minutes, "buffer_minutes": buffer_minutes,
              "notice_minutes": notice_minutes, "horizon_days": horizon_days}
    statement = insert(OfferingAvailability).values(offering_id=offering_id, organization_id=organization_id,
                                                    **values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[OfferingAvailability.offering_id], set_={**values, "updated_at": func.now()},
        where=OfferingAvailability.organization_id == organization_id))
    row = await get(session, organization_id, offering_id)
    assert row is not None
    return row


async def busy(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID, start: datetime,
               end: datetime) -> list[tuple[datetime, datetime]]:
    """The offering's booked sessions (not cancelled, a seat taken) overlapping ``[start, end)``, by start."""
    statement = in_organization(select(OfferingSession.starts_at, OfferingSession.ends_at), OfferingSession,
                                organization_id).where(
        OfferingSession.offering_id == offering_id, OfferingSession.cancelled_at.is_(None),
        OfferingSession.seats_taken > 0, OfferingSession.starts_at < end, OfferingSession.ends_at > start)
    rows = await session.execute(statement.order_by(OfferingSession.starts_at))
    return [(starts_at, ends_at) for starts_at, ends_at in rows]


__all__ = ["busy", "get", "of_offerings", "put"]
