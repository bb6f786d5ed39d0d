"""SQL of scheduled publishing (``content.scheduling``). Statements are scoped with ``in_organization``; the
job's work list (``organizations_due``) is read under the platform scope (``platform_read`` on
``content_publish_schedule``, migration 0029)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.content.models import Content
from codex_graphql.content.scheduling_models import ContentPublishSchedule as Schedule
from codex_graphql.db import utcnow
from codex_graphql.organizations.models import Organization


async def put(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID, publish_at: datetime,
              scheduled_by_id: uuid.UUID | None) -> datetime | None:
    """Schedule the item at ``publish_at`` (replacing its schedule, if any); returns the time it replaced (None
    when it had none). The caller holds the item's row lock, so nothing changes the schedule meanwhile."""
    previous = (in_organization(select(Schedule.publish_at), Schedule, organization_id)
                .where(Schedule.content_id == content_id).cte("previous"))
    statement = insert(Schedule).values(content_id=content_id, organization_id=organization_id, publish_at=publish_at,
                                        scheduled_by_id=scheduled_by_id)
    # The CTE reads the snapshot the statement started with: the row as it was before this upsert.
    statement = statement.on_conflict_do_update(
        index_elements=[Schedule.content_id],
        set_={"publish_at": statement.excluded.publish_at, "scheduled_by_id": statement.excluded.scheduled_by_id,
              "updated_at": utcnow()},
    ).add_cte(previous).returning(select(previous.c.publish_at).scalar_subquery())
    return (await session.execute(statement)).scalar_one_or_none()


async def remove(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> datetime | None:
    """Delete the item's schedule; returns the time it had (None when it had none)."""
    statement = in_organization(delete(Schedule), Schedule, organization_id).where(
        Schedule.content_id == content_id).returning(Schedule.publish_at)
    return (await session.execute(statement)).scalar_one_or_none()


async def schedules_of(session: AsyncSession, organization_id: uuid.UUID,
                       content_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[datetime, str]]:
    """The organization's scheduled items among ``content_ids``: (publication time, the organization's time
    zone) by item."""
    statement = in_organization(
        select(Schedule.content_id, Schedule.publish_at, Organization.timezone)
        .join(Organization, Organization.id == Schedule.organization_id), Schedule, organization_id,
    ).where(Schedule.content_id.in_(content_ids))
    return {row[0]: (row[1], row[2]) for row in await session.execute(statement)}


async def organizations_due(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Organizations with schedules due at ``now``, in id order. Platform scope only (``platform_read``,
    migration 0029): the ``scheduled-publishing`` job's work list, on ``ix_content_publish_schedule_due``."""
    statement = select(Schedule.organization_id).where(Schedule.publish_at <= now).distinct().order_by(
        Schedule.organization_id)
    return list((await session.scalars(statement)).all())


async def lock_due(session: AsyncSession, organization_id: uuid.UUID, now: datetime, limit: int) -> list[Content]:
    """Lock, and return, the items of at most ``limit`` of the organization's due schedules (soonest first),
    deleted ones included. Items another transaction holds (a runner publishing them, a staff member changing
    them) are skipped, never waited for: a later pass takes them. Items are locked before their schedules, in
    the order every schedule change takes them (the item, then its schedule), so nothing can deadlock."""
    due = in_organization(select(Schedule.content_id), Schedule, organization_id).where(
        Schedule.publish_at <= now).order_by(Schedule.publish_at, Schedule.content_id).limit(limit)
    statement = in_organization(select(Content), Content, organization_id).where(
        Content.id.in_(due.scalar_subquery())).order_by(Content.id)
    return list((await session.scalars(statement.with_for_update(of=Content, skip_locked=True))).all())


async def claim(session: AsyncSession, organization_id: uuid.UUID, content_ids: list[uuid.UUID],
                now: datetime) -> set[uuid.UUID]:
    """Delete the schedules of ``content_ids`` (items this transaction has locked) that are still due at ``now``;
    returns the items whose schedule this call deleted: this transaction's to publish. A schedule published,
    cancelled or moved later by a transaction that committed before the lock was taken is not deleted, so an
    item is claimed at most once per schedule, whatever the number of runners."""
    if not content_ids:
        return set()
    statement = in_organization(delete(Schedule), Schedule, organization_id).where(
        Schedule.content_id.in_(content_ids), Schedule.publish_at <= now).returning(Schedule.content_id)
    return {row[0] for row in await session.execute(statement)}
