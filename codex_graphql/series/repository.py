"""SQL of series (``in_organization`` scoped where the organization is known; row-level security below)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.content import access
from codex_graphql.content.models import Content
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page
from codex_graphql.series.models import Series, SeriesItem, SeriesStatus


async def add(session: AsyncSession, series: Series) -> Series:
    session.add(series)
    await session.flush()
    return series


async def for_update(session: AsyncSession, organization_id: uuid.UUID, series_id: uuid.UUID) -> Series | None:
    statement = in_organization(select(Series), Series, organization_id).where(Series.id == series_id)
    return await session.scalar(statement.with_for_update())


async def offer_for_update(session: AsyncSession, series: Series) -> Content | None:
    """The series' offer item, locked."""
    if series.offer_content_id is None:
        return None
    statement = in_organization(select(Content), Content, series.organization_id).where(
        Content.id == series.offer_content_id)
    return await session.scalar(statement.with_for_update())


async def add_offer(session: AsyncSession, offer: Content) -> None:
    session.add(offer)
    await session.flush()


async def by_id(session: AsyncSession, series_id: uuid.UUID) -> Series | None:
    """A series the reader may see (its organization's, or a published one)."""
    return await session.scalar(select(Series).where(Series.id == series_id))


async def by_ids(session: AsyncSession, series_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Series]:
    """The series among these the reader may see (row-level security), by id."""
    return {row.id: row for row in (await session.scalars(select(Series).where(Series.id.in_(series_ids)))).all()}


async def page(session: AsyncSession, organization_id: uuid.UUID, staff: bool, first: int,
               after: str | None) -> Page[Series]:
    """The organization's series, newest first: every one for its staff, the published ones for everyone."""
    statement = in_organization(select(Series), Series, organization_id)
    if not staff:
        statement = statement.where(Series.status == SeriesStatus.PUBLISHED)
    return await keyset_page(session, statement, created_col=Series.created_at, id_col=Series.id, first=first,
                             after=after)


async def count(session: AsyncSession, organization_id: uuid.UUID, staff: bool) -> int:
    statement = in_organization(select(func.count()).select_from(Series), Series, organization_id)
    if not staff:
        statement = statement.where(Series.status == SeriesStatus.PUBLISHED)
    return int(await session.scalar(statement) or 0)


async def item_ids(session: AsyncSession, organization_id: uuid.UUID, series_id: uuid.UUID) -> list[uuid.UUID]:
    """Every item of the series (whatever its state), in order."""
    statement = in_organization(select(SeriesItem.content_id), SeriesItem, organization_id).where(
        SeriesItem.series_id == series_id).order_by(SeriesItem.position)
    return list((await session.scalars(statement)).all())


async def series_of_items(session: AsyncSession, organization_id: uuid.UUID,
                          content_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Which series each of these items is in (items in none are absent)."""
    statement = in_organization(select(SeriesItem.content_id, SeriesItem.series_id), SeriesItem,
                                organization_id).where(SeriesItem.content_id.in_(content_ids))
    return {content_id: series_id for content_id, series_id in (await session.execute(statement)).all()}


async def live_items_of(session: AsyncSession, organization_id: uuid.UUID, content_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ids are live items of the organization."""
    statement = in_organization(select(Content.id), Content, organization_id).where(
        Content.id.in_(content_ids), Content.deleted_at.is_(None))
    return set((await session.scalars(statement)).all())


async def replace_items(session: AsyncSession, series: Series, content_ids: Sequence[uuid.UUID]) -> None:
    """Make the series hold exactly ``content_ids``, in that order (positions 0..n-1)."""
    await session.execute(delete(SeriesItem).where(SeriesItem.series_id == series.id,
                                                   SeriesItem.organization_id == series.organization_id))
    if content_ids:
        await session.execute(insert(SeriesItem), [
            {"series_id": series.id, "content_id": content_id, "organization_id": series.organization_id,
             "position": position} for position, content_id in enumerate(content_ids)])


LISTED_ITEMS = (
    "SELECT c.id, si.position FROM series_item si JOIN content c ON c.id = si.content_id "
    "WHERE si.series_id = :series AND si.position > :after AND {listed} ORDER BY si.position LIMIT :limit")


async def listed_items(session: AsyncSession, series_id: uuid.UUID, staff_organization: uuid.UUID | None,
                       after_position: int, limit: int) -> list[tuple[uuid.UUID, int]]:
    """(item id, position) of the series' items the listing rule shows the reader, after a position, in order."""
    statement = text(LISTED_ITEMS.format(listed=access.listed_sql("c", ":staff")))
    rows = await session.execute(statement, {"series": series_id, "after": after_position, "limit": limit,
                                             "staff": staff_organization})
    return [(row[0], row[1]) for row in rows.all()]


LISTED_COUNT = ("SELECT si.series_id, count(*) FROM series_item si JOIN content c ON c.id = si.content_id "
                "WHERE si.series_id = ANY(:ids) AND {listed} GROUP BY si.series_id")


async def listed_count(session: AsyncSession, series_ids: Sequence[uuid.UUID],
                       staff_organization: uuid.UUID | None) -> dict[uuid.UUID, int]:
    statement = text(LISTED_COUNT.format(listed=access.listed_sql("c", ":staff")))
    rows = await session.execute(statement, {"ids": list(series_ids), "staff": staff_organization})
    return {row[0]: int(row[1]) for row in rows.all()}


NEIGHBOURS = (
    "SELECT si.content_id, si.series_id, si.position, "
    "(SELECT n.content_id FROM series_item n JOIN content c ON c.id = n.content_id WHERE n.series_id = si.series_id "
    "AND n.position > si.position AND {listed} ORDER BY n.position LIMIT 1), "
    "(SELECT p.content_id FROM series_item p JOIN content c ON c.id = p.content_id WHERE p.series_id = si.series_id "
    "AND p.position < si.position AND {listed} ORDER BY p.position DESC LIMIT 1) "
    "FROM series_item si WHERE si.content_id = ANY(:ids)")


async def places(session: AsyncSession, content_ids: Sequence[uuid.UUID],
                 staff_organization: uuid.UUID | None) -> dict[uuid.UUID, tuple[Any, ...]]:
    """For each item in a series the reader may see: (series id, position, next listed item, previous listed
    item), one statement for a page of items."""
    statement = text(NEIGHBOURS.format(listed=access.listed_sql("c", ":staff")))
    rows = await session.execute(statement, {"ids": list(content_ids), "staff": staff_organization})
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows.all()}
