"""SQL of offering portals: items, announcements and announcement deliveries (migration 0044).

Writes name the organization (``in_organization``) and run in its scope. Reads by offering see what RLS shows
the transaction: the organization's rows, or a participant's (a CONFIRMED booking of the offering)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from codex_graphql.accounts.models import User
from codex_graphql.authz import in_organization
from codex_graphql.offerings.models import Booking, BookingStatus
from codex_graphql.offerings.portal_models import Announcement, AnnouncementDelivery, PortalItem

MAX_ITEMS = 200  # per portal
ANNOUNCEMENTS_SHOWN = 50


async def add_item(session: AsyncSession, item: PortalItem) -> PortalItem:
    session.add(item)
    await session.flush()
    return item


async def add_content_item(session: AsyncSession, item: PortalItem) -> PortalItem:
    """The content item in the portal, made once: a concurrent attach of the same item finds the same row."""
    await session.execute(insert(PortalItem).values(
        id=item.id or uuid.uuid4(), organization_id=item.organization_id, offering_id=item.offering_id,
        kind=item.kind, content_id=item.content_id, title=item.title, position=item.position,
        added_by=item.added_by).on_conflict_do_nothing(index_elements=[PortalItem.offering_id, PortalItem.content_id]))
    found = await content_item(session, item.organization_id, item.offering_id, item.content_id)
    assert found is not None
    return found


async def content_item(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                       content_id: uuid.UUID | None) -> PortalItem | None:
    statement = in_organization(select(PortalItem), PortalItem, organization_id).where(
        PortalItem.offering_id == offering_id, PortalItem.content_id == content_id)
    return await session.scalar(statement.execution_options(populate_existing=True))


async def item_by_id(session: AsyncSession, item_id: uuid.UUID) -> PortalItem | None:
    """The item when RLS shows it (its organization's, or a participant's of its offering)."""
    return await session.scalar(select(PortalItem).where(PortalItem.id == item_id))


async def item_for_update(session: AsyncSession, organization_id: uuid.UUID, item_id: uuid.UUID) -> PortalItem | None:
    statement = in_organization(select(PortalItem), PortalItem, organization_id).where(PortalItem.id == item_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def item_count(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> int:
    statement = in_organization(select(func.count()).select_from(PortalItem), PortalItem, organization_id).where(
        PortalItem.offering_id == offering_id)
    return int(await session.scalar(statement) or 0)


async def items_of_offerings(session: AsyncSession, offering_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PortalItem]]:
    """The portals' items of some offerings, by position, then age (``PortalItemsLoader``; RLS shows them to the
    organization's staff and to participants)."""
    statement = select(PortalItem).where(PortalItem.offering_id.in_(list(offering_ids))).order_by(
        PortalItem.offering_id, PortalItem.position, PortalItem.created_at, PortalItem.id)
    found: dict[uuid.UUID, list[PortalItem]] = {}
    for item in await session.scalars(statement):
        found.setdefault(item.offering_id, []).append(item)
    return found


async def announcements_of_offerings(session: AsyncSession, offering_ids: Sequence[uuid.UUID],
                                     limit: int = ANNOUNCEMENTS_SHOWN) -> dict[uuid.UUID, list[Announcement]]:
    """The latest ``limit`` announcements of each of some offerings, newest first (``AnnouncementsLoader``)."""
    ranked = select(Announcement, func.row_number().over(
        partition_by=Announcement.offering_id,
        order_by=(Announcement.created_at.desc(), Announcement.id.desc())).label("rank")).where(
        Announcement.offering_id.in_(list(offering_ids))).subquery()
    latest = aliased(Announcement, ranked)
    statement = select(latest).where(ranked.c.rank <= limit).order_by(
        latest.offering_id, latest.created_at.desc(), latest.id.desc())
    found: dict[uuid.UUID, list[Announcement]] = {}
    for announcement in await session.scalars(statement):
        found.setdefault(announcement.offering_id, []).append(announcement)
    return found


async def delete_item(session: AsyncSession, organization_id: uuid.UUID, item_id: uuid.UUID) -> None:
    await session.execute(in_organization(delete(PortalItem), PortalItem, organization_id).where(
        PortalItem.id == item_id))


async def add_announcement(session: AsyncSession, announcement: Announcement) -> Announcement:
    session.add(announcement)
    await session.flush()
    return announcement


async def announcement_by_id(session: AsyncSession, organization_id: uuid.UUID,
                             announcement_id: uuid.UUID) -> Announcement | None:
    statement = in_organization(select(Announcement), Announcement, organization_id).where(
        Announcement.id == announcement_id)
    return await session.scalar(statement)


async def participating(session: AsyncSession, user_id: uuid.UUID,
                        offering_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The offerings among ``offering_ids`` ``user_id`` holds a CONFIRMED booking of (their own bookings)."""
    rows = await session.scalars(select(Booking.offering_id).where(
        Booking.user_id == user_id, Booking.offering_id.in_(list(offering_ids)),
        Booking.status == BookingStatus.CONFIRMED).distinct())
    return set(rows)


async def participants(session: AsyncSession, organization_id: uuid.UUID,
                       offering_id: uuid.UUID) -> list[tuple[uuid.UUID, str, str]]:
    """(user id, email, name) of everyone holding a CONFIRMED booking of the offering, once each."""
    confirmed = in_organization(select(Booking.user_id), Booking, organization_id).where(
        Booking.offering_id == offering_id, Booking.status == BookingStatus.CONFIRMED).distinct().subquery()
    rows = await session.execute(select(User.id, User.email, User.name).join(confirmed, confirmed.c.user_id == User.id)
                                 .order_by(User.id))
    return [(user_id, email, name or "") for user_id, email, name in rows]


async def claim_delivery(session: AsyncSession, organization_id: uuid.UUID, announcement_id: uuid.UUID,
                         user_id: uuid.UUID, now: datetime, lease: timedelta) -> datetime | None:
    """Claim the mail of one participant: the claim's instant when this runner is to send it; None when it was
    sent, or another runner's claim is younger than ``lease``. One statement: concurrent runners queue on the
    row and re-check."""
    statement = insert(AnnouncementDelivery).values(
        announcement_id=announcement_id, user_id=user_id, organization_id=organization_id, claimed_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[AnnouncementDelivery.announcement_id, AnnouncementDelivery.user_id],
        set_={"claimed_at": now},
        where=and_(AnnouncementDelivery.sent_at.is_(None), AnnouncementDelivery.claimed_at <= now - lease,
                   AnnouncementDelivery.organization_id == organization_id),
    ).returning(AnnouncementDelivery.claimed_at)
    return await session.scalar(statement)


async def finish_delivery(session: AsyncSession, organization_id: uuid.UUID, announcement_id: uuid.UUID,
                          user_id: uuid.UUID, claimed_at: datetime, sent_at: datetime | None) -> None:
    """Record the mail sent (``sent_at``), or give the claim up after a failed send (None: the row goes, so a
    retry claims it again at once). Only this runner's own claim is touched."""
    mine = in_organization(update(AnnouncementDelivery), AnnouncementDelivery, organization_id).where(
        AnnouncementDelivery.announcement_id == announcement_id, AnnouncementDelivery.user_id == user_id,
        AnnouncementDelivery.claimed_at == claimed_at, AnnouncementDelivery.sent_at.is_(None))
    if sent_at is not None:
        await session.execute(mine.values(sent_at=sent_at))
        return
    await session.execute(in_organization(delete(AnnouncementDelivery), AnnouncementDelivery, organization_id).where(
        AnnouncementDelivery.announcement_id == announcement_id, AnnouncementDelivery.user_id == user_id,
        AnnouncementDelivery.claimed_at == claimed_at, AnnouncementDelivery.sent_at.is_(None)))


async def unsent_count(session: AsyncSession, organization_id: uuid.UUID, announcement_id: uuid.UUID) -> int:
    """Claimed mails not recorded as sent (another runner is sending them, or crashed doing so)."""
    statement = in_organization(select(func.count()).select_from(AnnouncementDelivery), AnnouncementDelivery,
                                organization_id).where(AnnouncementDelivery.announcement_id == announcement_id,
                                                       AnnouncementDelivery.sent_at.is_(None))
    return int(await session.scalar(statement) or 0)
