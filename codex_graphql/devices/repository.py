"""SQL for playback devices. Every statement names the organization and the customer (or the device id and
the customer); RLS (migration 0041) admits the organization's staff and the customer themselves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.db import utcnow
from codex_graphql.devices.models import PlaybackDevice


async def lock_customer(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Serialize registrations of one customer in one organization until the transaction ends, so two new
    devices registering at once cannot both take the last free place."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"playback-device:{organization_id}:{user_id}"})


async def active(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> list[PlaybackDevice]:
    """The customer's registered devices in the organization, most recently used first."""
    rows = await session.scalars(
        select(PlaybackDevice)
        .where(PlaybackDevice.organization_id == organization_id, PlaybackDevice.user_id == user_id,
               PlaybackDevice.removed_at.is_(None))
        .order_by(PlaybackDevice.last_seen_at.desc(), PlaybackDevice.id))
    return list(rows)


async def of_customers(session: AsyncSession, organization_id: uuid.UUID,
                       user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PlaybackDevice]]:
    """The registered devices of several customers of the organization (a page of customers), most recent first."""
    rows = await session.scalars(
        select(PlaybackDevice)
        .where(PlaybackDevice.organization_id == organization_id, PlaybackDevice.user_id.in_(list(user_ids)),
               PlaybackDevice.removed_at.is_(None))
        .order_by(PlaybackDevice.last_seen_at.desc(), PlaybackDevice.id))
    found: dict[uuid.UUID, list[PlaybackDevice]] = {}
    for row in rows:
        found.setdefault(row.user_id, []).append(row)
    return found


async def of_user(session: AsyncSession, user_id: uuid.UUID,
                  organization_id: uuid.UUID | None) -> list[PlaybackDevice]:
    """A person's registered devices, in one organization or in every one, most recently used first."""
    statement = select(PlaybackDevice).where(PlaybackDevice.user_id == user_id, PlaybackDevice.removed_at.is_(None))
    if organization_id is not None:
        statement = statement.where(PlaybackDevice.organization_id == organization_id)
    return list(await session.scalars(statement.order_by(PlaybackDevice.last_seen_at.desc(), PlaybackDevice.id)))


async def touch(session: AsyncSession, device_id: uuid.UUID, user_agent: str, name: str) -> None:
    await session.execute(update(PlaybackDevice).where(PlaybackDevice.id == device_id)
                          .values(last_seen_at=utcnow(), user_agent=user_agent, name=name))


async def add(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, device_hash: bytes,
              name: str, user_agent: str) -> PlaybackDevice:
    device = PlaybackDevice(organization_id=organization_id, user_id=user_id, device_hash=device_hash, name=name,
                            user_agent=user_agent)
    session.add(device)
    await session.flush()
    return device


async def by_id(session: AsyncSession, device_id: uuid.UUID, *, for_update: bool = False) -> PlaybackDevice | None:
    """The device (active or removed), locked when asked; None when RLS hides it from the viewer or it does not
    exist."""
    statement = select(PlaybackDevice).where(PlaybackDevice.id == device_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def remove(session: AsyncSession, device_id: uuid.UUID, removed_by: uuid.UUID) -> None:
    await session.execute(update(PlaybackDevice).where(PlaybackDevice.id == device_id,
                                                       PlaybackDevice.removed_at.is_(None))
                          .values(removed_at=utcnow(), removed_by=removed_by))


async def removals_by_owner_since(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                                  since: datetime) -> int:
    """How many of their devices in the organization the customer removed themselves since ``since``."""
    count = await session.scalar(
        select(func.count()).select_from(PlaybackDevice)
        .where(PlaybackDevice.organization_id == organization_id, PlaybackDevice.user_id == user_id,
               PlaybackDevice.removed_by == user_id, PlaybackDevice.removed_at >= since))
    return int(count or 0)


async def is_active(session: AsyncSession, device_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the device is still registered to the person (the HLS key route, in the person's scope)."""
    found = await session.scalar(select(PlaybackDevice.id).where(
        PlaybackDevice.id == device_id, PlaybackDevice.user_id == user_id, PlaybackDevice.removed_at.is_(None)))
    return found is not None
