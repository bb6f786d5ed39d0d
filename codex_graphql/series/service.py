"""Series rules: create and edit a series, and place items in it. Services never commit.

Series span every creator's items, so changing them takes CONTENT_MANAGE_ALL (as categories do). Every input
is checked before anything is written: an id that is not a live item of the organization is NOT_FOUND, an item
already in another series is ALREADY_EXISTS (an item is in at most one series), and a reorder must name exactly
the series' items.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import rules as content_rules
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.series import repository
from codex_graphql.series.models import Series, SeriesStatus

MAX_ITEMS = 1000


@dataclass(frozen=True, slots=True)
class SeriesChanges:
    title: str | None = None
    description: str | None = None
    published: bool | None = None
    price_cents: int | None = None
    for_sale: bool | None = None


def _active(viewer: Viewer) -> uuid.UUID:
    organization_id = viewer.active_organization_id
    assert organization_id is not None  # the mutations' guard needs one
    return organization_id


def sees_every_series(viewer: Viewer, organization_id: uuid.UUID) -> bool:
    return viewer.can(Permission.CONTENT_READ, organization_id)


async def create(session: AsyncSession, viewer: Viewer, changes: SeriesChanges) -> Series:
    series = Series(organization_id=_active(viewer), title=content_rules.check_title(changes.title or ""),
                    description=content_rules.check_description(changes.description or ""),
                    status=SeriesStatus.PUBLISHED if changes.published else SeriesStatus.DRAFT)
    series = await repository.add(session, series)
    await _sell(session, viewer, series, changes)
    return series


async def _sell(session: AsyncSession, viewer: Viewer, series: Series, changes: SeriesChanges) -> None:
    """Keep the series' offer (a BUNDLE item, bought like any item) in step: its price, title and description,
    and PUBLISHED exactly while the series is published and for sale."""
    offer = await repository.offer_for_update(session, series)
    if changes.price_cents is not None:
        price = content_rules.check_price(changes.price_cents)
        if offer is None:
            assert viewer.user_id is not None
            offer = Content(
                id=uuid.uuid4(), organization_id=series.organization_id, creator_id=viewer.user_id,
                kind=ContentKind.BUNDLE, status=ContentStatus.READY, title=series.title,
                description=series.description, price_cents=price, currency="USD", tags=[], storage_key="",
                mime_type="application/vnd.codex.series", original_filename="", size_bytes=0, listed=False,
                allow_downloads=False, reviews_enabled=False)
            await repository.add_offer(session, offer)
            series.offer_content_id = offer.id
            series.for_sale = True if changes.for_sale is None else changes.for_sale
        else:
            offer.price_cents = price
    if changes.for_sale is not None:
        if offer is None and changes.for_sale:
            raise DomainError(ErrorCode.INVALID_INPUT, "Give the series a price to sell it.", "priceCents")
        series.for_sale = changes.for_sale
    if offer is None:
        return
    offer.title, offer.description = series.title, series.description
    selling = series.status is SeriesStatus.PUBLISHED and series.for_sale
    if selling and offer.status is not ContentStatus.PUBLISHED:
        offer.status, offer.published_at = ContentStatus.PUBLISHED, utcnow()
    elif not selling and offer.status is ContentStatus.PUBLISHED:
        offer.status = ContentStatus.READY
    await session.flush()


async def managed(session: AsyncSession, viewer: Viewer, series_id: uuid.UUID | None) -> Series:
    series = await repository.for_update(session, _active(viewer), series_id) if series_id else None
    if series is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No series has this id in your organization.", "seriesId")
    return series


async def edit(session: AsyncSession, viewer: Viewer, series: Series, changes: SeriesChanges) -> Series:
    if changes.title is not None:
        series.title = content_rules.check_title(changes.title)
    if changes.description is not None:
        series.description = content_rules.check_description(changes.description)
    if changes.published is not None:
        series.status = SeriesStatus.PUBLISHED if changes.published else SeriesStatus.DRAFT
    series.updated_at = utcnow()
    await session.flush()
    await _sell(session, viewer, series, changes)
    return series


async def _check_items(session: AsyncSession, series: Series, content_ids: Sequence[uuid.UUID | None]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(content_ids))
    if not wanted:
        raise DomainError(ErrorCode.INVALID_INPUT, "List at least one content id.", "contentIds")
    known = await repository.live_items_of(session, series.organization_id, [i for i in wanted if i is not None])
    if any(i is None or i not in known for i in wanted):
        raise DomainError(ErrorCode.NOT_FOUND, "No live item of this organization has one of these ids.", "contentIds")
    return [i for i in wanted if i is not None]


async def add_items(session: AsyncSession, viewer: Viewer, series: Series, content_ids: Sequence[uuid.UUID | None],
                    position: int | None) -> Series:
    """Put the items at ``position`` (0-based; None or past the end: at the end), in the order given; items
    already in this series move there."""
    wanted = await _check_items(session, series, content_ids)
    elsewhere = {c for c, s in (await repository.series_of_items(session, series.organization_id, wanted)).items()
                 if s != series.id}
    if elsewhere:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "An item is in at most one series; remove it from its series "
                          "first.", "contentIds")
    current = [i for i in await repository.item_ids(session, series.organization_id, series.id) if i not in wanted]
    if position is not None and position < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The position is 0 or more.", "position")
    at = len(current) if position is None else min(position, len(current))
    items = current[:at] + wanted + current[at:]
    if len(items) > MAX_ITEMS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A series holds at most {MAX_ITEMS} items.", "contentIds")
    await repository.replace_items(session, series, items)
    return await edit(session, viewer, series, SeriesChanges())


async def remove_items(session: AsyncSession, viewer: Viewer, series: Series, content_ids: Sequence[uuid.UUID | None]) -> Series:
    current = await repository.item_ids(session, series.organization_id, series.id)
    unwanted = set(content_ids)
    if not unwanted or not unwanted <= set(current):
        raise DomainError(ErrorCode.NOT_FOUND, "One of these ids is not an item of this series.", "contentIds")
    await repository.replace_items(session, series, [i for i in current if i not in unwanted])
    return await edit(session, viewer, series, SeriesChanges())


async def reorder(session: AsyncSession, viewer: Viewer, series: Series, content_ids: Sequence[uuid.UUID | None]) -> Series:
    current = await repository.item_ids(session, series.organization_id, series.id)
    if len(content_ids) != len(current) or set(content_ids) != set(current):
        raise DomainError(ErrorCode.INVALID_INPUT, "List every item of the series, each once, in the new order.",
                          "contentIds")
    await repository.replace_items(session, series, [i for i in content_ids if i is not None])
    return await edit(session, viewer, series, SeriesChanges())
