"""SQL of offerings, their categories and sessions. Every statement names the organization (``in_organization``)
or reads by ids what RLS lets the viewer see (published offerings are public)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.content.models import Content
from codex_graphql.offerings.models import (
    Offering,
    OfferingAvailability,
    OfferingCategory,
    OfferingSession,
    OfferingStatus,
    OfferingType,
)
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page


async def add(session: AsyncSession, offering: Offering) -> Offering:
    session.add(offering)
    await session.flush()
    return offering


async def for_update(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> Offering | None:
    statement = in_organization(select(Offering), Offering, organization_id).where(Offering.id == offering_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def by_id(session: AsyncSession, offering_id: uuid.UUID) -> Offering | None:
    """The offering when RLS shows it to the viewer (their organization's, or not a draft)."""
    return await session.scalar(select(Offering).where(Offering.id == offering_id))


async def by_ids(session: AsyncSession, offering_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Offering]:
    rows = await session.scalars(select(Offering).where(Offering.id.in_(list(offering_ids))))
    return {row.id: row for row in rows}


async def replace_categories(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                             category_ids: Sequence[uuid.UUID]) -> None:
    await session.execute(in_organization(delete(OfferingCategory), OfferingCategory, organization_id)
                          .where(OfferingCategory.offering_id == offering_id))
    if category_ids:
        await session.execute(insert(OfferingCategory).values([
            {"offering_id": offering_id, "category_id": c, "organization_id": organization_id}
            for c in category_ids]).on_conflict_do_nothing())


async def category_ids_of(session: AsyncSession, offering_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(select(OfferingCategory.offering_id, OfferingCategory.category_id)
                                 .where(OfferingCategory.offering_id.in_(list(offering_ids)))
                                 .order_by(OfferingCategory.category_id))
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for offering_id, category_id in rows:
        found.setdefault(offering_id, []).append(category_id)
    return found


def _listing(organization_id: uuid.UUID, *, staff: bool, offering_type: OfferingType | None,
             start: datetime | None, end: datetime | None) -> list[object]:
    conditions: list[object] = [Offering.organization_id == organization_id]
    if not staff:
        conditions.append(Offering.status == OfferingStatus.PUBLISHED)
    if offering_type is not None:
        conditions.append(Offering.type == offering_type)
    if start is not None or end is not None:
        window = [OfferingSession.offering_id == Offering.id, OfferingSession.cancelled_at.is_(None)]
        if start is not None:
            window.append(OfferingSession.ends_at > start)
        if end is not None:
            window.append(OfferingSession.starts_at < end)
        # A service has no dated sessions until booked: it is listed whatever the range.
        conditions.append(or_(Offering.type == OfferingType.SERVICE,
                              exists(select(OfferingSession.id).where(and_(*window)))))
    return conditions


async def page(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool, offering_type: OfferingType | None,
               start: datetime | None, end: datetime | None, first: int, after: str | None) -> Page[Offering]:
    """Newest first: every offering for the organization's staff, the published ones for everyone."""
    statement = in_organization(select(Offering), Offering, organization_id).where(
        *_listing(organization_id, staff=staff, offering_type=offering_type, start=start, end=end))
    return await keyset_page(session, statement, created_col=Offering.created_at, id_col=Offering.id, first=first,
                             after=after)


async def count(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool, offering_type: OfferingType | None,
                start: datetime | None, end: datetime | None) -> int:
    statement = select(func.count()).select_from(Offering).where(
        *_listing(organization_id, staff=staff, offering_type=offering_type, start=start, end=end))
    return int(await session.scalar(statement) or 0)


async def add_session(session: AsyncSession, row: OfferingSession) -> OfferingSession:
    session.add(row)
    await session.flush()
    return row


async def session_exists_at(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                            starts_at: datetime) -> bool:
    statement = in_organization(select(OfferingSession.id), OfferingSession, organization_id).where(
        OfferingSession.offering_id == offering_id, OfferingSession.starts_at == starts_at)
    return await session.scalar(statement.limit(1)) is not None


async def sessions_of(session: AsyncSession, offering_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[OfferingSession]]:
    """The offerings' sessions, cancelled ones included, by start."""
    rows = await session.scalars(select(OfferingSession).where(OfferingSession.offering_id.in_(list(offering_ids)))
                                 .order_by(OfferingSession.starts_at, OfferingSession.id))
    found: dict[uuid.UUID, list[OfferingSession]] = {}
    for row in rows:
        found.setdefault(row.offering_id, []).append(row)
    return found


async def live_session_count(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                             after: datetime) -> int:
    """Sessions not cancelled that start after ``after``."""
    statement = in_organization(select(func.count()).select_from(OfferingSession), OfferingSession,
                                organization_id).where(OfferingSession.offering_id == offering_id,
                                                       OfferingSession.cancelled_at.is_(None),
                                                       OfferingSession.starts_at > after)
    return int(await session.scalar(statement) or 0)


async def has_availability(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> bool:
    statement = in_organization(select(OfferingAvailability.offering_id), OfferingAvailability,
                                organization_id).where(OfferingAvailability.offering_id == offering_id)
    return await session.scalar(statement) is not None


async def session_at(session: AsyncSession, offering_id: uuid.UUID, starts_at: datetime) -> OfferingSession | None:
    return await session.scalar(select(OfferingSession).where(OfferingSession.offering_id == offering_id,
                                                              OfferingSession.starts_at == starts_at))


async def add_slot_session(session: AsyncSession, row: OfferingSession) -> OfferingSession:
    """A service slot's session, made once: a concurrent booking of the same slot finds the same row."""
    await session.execute(insert(OfferingSession).values(
        id=uuid.uuid4(), organization_id=row.organization_id, offering_id=row.offering_id, starts_at=row.starts_at,
        ends_at=row.ends_at, capacity=row.capacity, seats_taken=0).on_conflict_do_nothing(
        index_elements=[OfferingSession.offering_id, OfferingSession.starts_at]))
    made = await session.scalar(in_organization(select(OfferingSession), OfferingSession, row.organization_id).where(
        OfferingSession.offering_id == row.offering_id, OfferingSession.starts_at == row.starts_at))
    assert made is not None
    return made


async def offer_for_update(session: AsyncSession, offering: Offering) -> Content | None:
    """The offering's offer item (what a paid booking's purchase is of), locked."""
    if offering.offer_content_id is None:
        return None
    statement = in_organization(select(Content), Content, offering.organization_id).where(
        Content.id == offering.offer_content_id)
    return await session.scalar(statement.with_for_update())


async def add_offer(session: AsyncSession, offer: Content) -> None:
    session.add(offer)
    await session.flush()
