"""Scheduled publication on ``Content``: ``scheduledPublishAt`` (UTC) and ``scheduledPublishAtLocal`` (the same
instant in the organization's time zone), declared here and attached by schema assembly
(codex_graphql/contributions.py). Both are for the organization's staff (CONTENT_READ: whoever sees drafts)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import scheduling, scheduling_loaders
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.permissions import HasOrgPermission, guarded


@strawberry.type(description="An instant shown in a named time zone, for people: the same instant as the "
                 "`DateTime` beside it (which is UTC), as the organization's clock shows it.")
class ZonedDateTime:
    date_time: str = strawberry.field(
        description="ISO 8601 local date and time with the zone's UTC offset at that instant, to the second, e.g. "
        "`2027-03-01T09:00:00+01:00` (daylight saving time applied).")
    time_zone: str = strawberry.field(
        description="IANA name of the time zone, e.g. `Europe/Paris`: the organization's `timezone` setting "
        "(UTC when unset or unknown).")

    @classmethod
    def of(cls, zoned: scheduling.ZonedTime) -> ZonedDateTime:
        return cls(date_time=zoned.date_time, time_zone=zoned.time_zone)


@strawberry.type(description="Scheduled publication's fields of `Content` (never served as a type of its own).")
class ContentScheduling:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @guarded(
        HasOrgPermission(Permission.CONTENT_READ),
        description="When the item will be published (UTC), set with `scheduleContentPublish` (or "
        "`scheduleContentPublishBulk`); null when it is not scheduled. The periodic publishing job publishes it on "
        "its first pass after this time (every minute by default; README, Operations), exactly as "
        "`publishContent` would; publishing the "
        "item by hand, deleting it, its leaving READY in any other way, or `cancelScheduledPublish` clears it. Until then the item stays "
        "READY and out of every public list.",
    )
    async def scheduled_publish_at(self, info: strawberry.Info) -> datetime | None:
        found = await scheduling_loaders.schedules(info.context).load(self.row.id)
        return found[0] if found else None

    @guarded(
        HasOrgPermission(Permission.CONTENT_READ),
        description="`scheduledPublishAt` in the organization's time zone (its `timezone` setting), for display; "
        "null when the item is not scheduled.",
    )
    async def scheduled_publish_at_local(self, info: strawberry.Info) -> ZonedDateTime | None:
        found = await scheduling_loaders.schedules(info.context).load(self.row.id)
        return ZonedDateTime.of(scheduling.in_zone(*found)) if found else None


__all__ = ["ContentScheduling", "ZonedDateTime"]
