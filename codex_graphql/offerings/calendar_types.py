"""GraphQL fields of calendars and the participants export: ``viewer { calendarFeedUrl }``,
``Offering.calendarFeedUrl``, ``Offering.participantsExport`` and ``rotateCalendarFeed``."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.offerings import calendar, calendar_repository, participants_export
from codex_graphql.offerings.models import Offering as OfferingModel
from codex_graphql.offerings.models import OfferingStatus
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded


@strawberry.type(description="A signed, short-lived download link of an offering's participants (CSV).")
class ParticipantsExport:
    url: str = strawberry.field(description="GET it for the CSV: a header line, then one line per booking (name, "
                                "email, session start, status, checked-in time, booking time, payment, credits). "
                                "It works while the requester keeps the permission, until `expiresAt`.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")


def _feed_url(ctx: Context, user_id: uuid.UUID, version: int) -> str:
    return calendar.user_feed_url(ctx.settings.public_base_url, ctx.settings.secret_key, user_id, version)


@strawberry.type(description="Calendar fields of `Viewer` (never served as a type of its own).")
class ViewerCalendar:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's personal iCalendar feed: every session of their confirmed and held "
                      "bookings, in every organization (subscribe to it in a calendar app). The URL is a secret: "
                      "anyone holding it reads the feed; `rotateCalendarFeed` replaces it and ends the old one.")
    async def calendar_feed_url(self, info: strawberry.Info) -> str:
        ctx: Context = info.context
        version = await calendar_repository.feed_version(ctx.db, self.user_id)
        return _feed_url(ctx, self.user_id, version)


@strawberry.type(description="Calendar and export fields of `Offering` (never served as a type of its own).")
class OfferingCalendar:
    row: strawberry.Private[object]  # ``self`` is the Offering object being resolved

    @strawberry.field(description="The offering's public iCalendar feed (its sessions; cancelled ones marked "
                      "cancelled); null for a draft.")
    def calendar_feed_url(self, info: strawberry.Info) -> str | None:
        row: OfferingModel = self.row  # type: ignore[assignment]
        if row.status is OfferingStatus.DRAFT:
            return None
        settings = info.context.settings
        return calendar.offering_feed_url(settings.public_base_url, settings.secret_key, row.id)

    @guarded(HasOrgPermission(Permission.CUSTOMERS_READ), description="A download link of everyone who booked it "
             "(every status, oldest first) as CSV, streamed; valid for 15 minutes.")
    def participants_export(self, info: strawberry.Info) -> ParticipantsExport | None:
        ctx: Context = info.context
        row: OfferingModel = self.row  # type: ignore[assignment]
        assert ctx.viewer.user_id is not None
        url, expires_at = participants_export.issue(ctx.settings.secret_key, ctx.settings.public_base_url, row.id,
                                                    row.organization_id, ctx.viewer.user_id)
        return ParticipantsExport(url=url, expires_at=expires_at)


@strawberry.input(description="Optional guard of a calendar feed rotation.")
class RotateCalendarFeedInput:
    current_url: str | None = strawberry.field(
        default=None, description="The feed URL the client knows. When given and no longer current (a retried "
        "request already rotated it), nothing is rotated and the current URL is returned.")


@strawberry.type
class CalendarMutations:
    @mutation_field(IsAuthenticated(), payload={"calendar_feed_url": (str, "The new feed URL.")},
                    description="Replace the viewer's calendar feed URL (`viewer.calendarFeedUrl`): every earlier URL "
                    "stops working at once.", input_description="Optional: the URL being replaced.")
    async def rotate_calendar_feed(ctx: Context, input: RotateCalendarFeedInput | None = None) -> dict:
        user_id = ctx.viewer.user_id
        assert user_id is not None
        current = await calendar_repository.feed_version(ctx.db, user_id)
        known = input.current_url if input else None
        if known is not None and known != _feed_url(ctx, user_id, current):
            return {"calendar_feed_url": _feed_url(ctx, user_id, current)}
        return {"calendar_feed_url": _feed_url(ctx, user_id, await calendar_repository.rotate(ctx.db, user_id))}


__all__ = ["CalendarMutations", "OfferingCalendar", "ParticipantsExport", "ViewerCalendar"]
