"""Scheduled publication: staff choose when a READY item is published; the periodic ``scheduled-publishing``
job (``content.scheduling_jobs``) publishes it then, exactly as ``publishContent`` does (``service.publish``:
status PUBLISHED, ``published_at``, the ``content.status_changed`` event and the CONTENT_PUBLISHED audit entry,
here with ``actorService: scheduler``). Services never commit.

- ``schedule`` / ``schedule_many``: the item is locked and checked as ``publishContent`` checks it
  (``service.managed``: the viewer's own item with CONTENT_MANAGE, any with CONTENT_MANAGE_ALL; NOT_FOUND
  outside the active organization), only READY items, a time after now and at most ``MAX_AHEAD`` ahead.
  Scheduling again replaces the time. ``schedule_many`` checks each item in its own savepoint: one item's
  refusal is its own result and the others are scheduled; one audit entry lists them.
- ``cancel``: removes the schedule (nothing to remove changes nothing).
- ``publish_due``: the job's work in one organization. It locks the due items (rows held elsewhere skipped),
  then deletes their schedules with a conditional DELETE (still due): only the transaction whose DELETE
  removed a schedule publishes its item, so two runners at once publish each item once and emit one event.
  An item no longer READY (or deleted) meanwhile loses its schedule and is not published.

A schedule never outlives its state: a trigger on ``content`` (migration 0029) deletes it when the item
leaves READY or is deleted, by whatever path (``publishContent``, ``deleteContent``, a bulk edit).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.authz import Viewer
from codex_graphql.content import scheduling_repository as repository
from codex_graphql.content import service
from codex_graphql.content.models import Content, ContentStatus
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode, UserError

log = logging.getLogger(__name__)

MAX_AHEAD = timedelta(days=365)
MAX_BULK = 500
SCHEDULER = "scheduler"  # the audit log's actorService for the job's publications


def check_publish_at(publish_at: datetime, now: datetime, field_name: str = "publishAt") -> datetime:
    """The publication time as stored: an instant in UTC, to the second (fractions dropped), after ``now`` and
    at most ``MAX_AHEAD`` later; INVALID_INPUT on ``field_name`` otherwise."""
    if publish_at.tzinfo is None or publish_at.utcoffset() is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the publication time with its UTC offset (e.g. "
                          "2027-03-01T09:00:00+01:00 or 2027-03-01T08:00:00Z).", field_name)
    at = publish_at.astimezone(UTC).replace(microsecond=0)
    if at <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "The publication time must be in the future.", field_name)
    if at > now + MAX_AHEAD:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The publication time must be at most {MAX_AHEAD.days} days "
                          "ahead.", field_name)
    return at


def check_schedulable(content: Content) -> None:
    """Only READY items are scheduled (``publishContent``'s rule, checked again when the time comes)."""
    if content.status is ContentStatus.PUBLISHED:
        raise DomainError(ErrorCode.INVALID_STATE, "This content is already published.", "contentId")
    if content.status is not ContentStatus.READY:
        raise DomainError(ErrorCode.INVALID_STATE, "Only READY content can be scheduled for publication; this is "
                          f"{content.status.value}.", "contentId")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def _put(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None,
               at: datetime) -> tuple[Content, datetime | None]:
    content = await service.managed(session, viewer, content_id)
    check_schedulable(content)
    previous = await repository.put(session, content.organization_id, content.id, at, viewer.user_id)
    return content, previous


async def schedule(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None, publish_at: datetime,
                   now: datetime | None = None) -> Content:
    """scheduleContentPublish: schedule (or reschedule) one item; audited."""
    at = check_publish_at(publish_at, now or utcnow())
    content, previous = await _put(session, viewer, content_id, at)
    await audit.record(session, audit.AuditAction.CONTENT_PUBLISH_SCHEDULED, organization_id=content.organization_id,
                       target_type="Content", target_id=content.id, before={"scheduledPublishAt": _iso(previous)},
                       after={"scheduledPublishAt": _iso(at)})
    return content


async def cancel(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None) -> Content:
    """cancelScheduledPublish: the item stays as it is (READY); audited when there was a schedule to cancel."""
    content = await service.managed(session, viewer, content_id)
    previous = await repository.remove(session, content.organization_id, content.id)
    if previous is not None:
        await audit.record(session, audit.AuditAction.CONTENT_PUBLISH_UNSCHEDULED,
                           organization_id=content.organization_id, target_type="Content", target_id=content.id,
                           before={"scheduledPublishAt": _iso(previous)}, after={"scheduledPublishAt": None})
    return content


@dataclass(slots=True)
class ItemOutcome:
    """One item of ``schedule_many``: the id as given, the item when scheduled, or why not."""

    raw_id: str
    content: Content | None = None
    errors: list[UserError] = field(default_factory=list)


async def schedule_many(session: AsyncSession, viewer: Viewer, items: list[tuple[int, str, uuid.UUID | None]],
                        publish_at: datetime, now: datetime | None = None) -> list[ItemOutcome]:
    """scheduleContentPublishBulk: ``items`` are (position in the input list, id as given, decoded id or None),
    distinct, at most ``MAX_BULK``; an item's errors name its position (``["input", "contentIds", "3"]``). The list and the time are checked first (a refusal there changes nothing); then each item in
    its own savepoint, so a refused item is reported and the others are scheduled. One audit entry lists the
    items scheduled (none when no item was)."""
    if not items:
        raise DomainError(ErrorCode.INVALID_INPUT, "List at least one content id.", "contentIds")
    if len(items) > MAX_BULK:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_BULK} content ids at once; split the list.",
                          "contentIds")
    at = check_publish_at(publish_at, now or utcnow())
    outcomes: list[ItemOutcome] = []
    replaced: dict[str, str | None] = {}
    for index, raw_id, content_id in items:
        outcome = ItemOutcome(raw_id)
        try:
            async with session.begin_nested():
                outcome.content, previous = await _put(session, viewer, content_id, at)
        except DomainError as error:
            outcome.errors = [UserError(code=e.code, message=e.message, field=["input", "contentIds", str(index)])
                              for e in error.errors]
        else:
            replaced[str(outcome.content.id)] = _iso(previous)
        outcomes.append(outcome)
    if replaced:
        assert viewer.active_organization_id is not None
        await audit.record(session, audit.AuditAction.CONTENT_PUBLISH_SCHEDULED,
                           organization_id=viewer.active_organization_id, target_type="Content", target_id=None,
                           before={"scheduledPublishAt": replaced},
                           after={"scheduledPublishAt": _iso(at), "contentIds": list(replaced)})
    return outcomes


async def publish_due(session: AsyncSession, organization_id: uuid.UUID, now: datetime, limit: int) -> tuple[int, int]:
    """Publish up to ``limit`` of the organization's items due at ``now`` (see the module docstring); returns
    (how many this call published, how many due items it locked)."""
    locked = await repository.lock_due(session, organization_id, now, limit)
    claimed = await repository.claim(session, organization_id, [content.id for content in locked], now)
    published = 0
    for content in locked:
        if content.id not in claimed:  # published, cancelled or moved by a transaction that committed meanwhile
            continue
        if content.status is not ContentStatus.READY or content.deleted_at is not None:
            log.info("scheduled publication skipped", extra={"content_id": str(content.id),
                                                             "status": content.status.value})
            continue
        await service.publish(session, content)
        published += 1
    return published, len(locked)


@dataclass(frozen=True, slots=True)
class ZonedTime:
    """An instant shown in a named time zone: ISO 8601 local time with its offset, and the zone's IANA name."""

    date_time: str
    time_zone: str


def in_zone(at: datetime, time_zone: str) -> ZonedTime:
    """``at`` in ``time_zone`` (the organization's; UTC when the stored name is unknown)."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone, time_zone = ZoneInfo("UTC"), "UTC"
    return ZonedTime(at.astimezone(zone).isoformat(timespec="seconds"), time_zone)


__all__ = ["MAX_AHEAD", "MAX_BULK", "SCHEDULER", "ItemOutcome", "ZonedTime", "cancel", "check_publish_at",
           "in_zone", "publish_due", "schedule", "schedule_many"]
