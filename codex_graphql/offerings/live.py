"""``bookingEvents``: bookings confirmed and cancelled, live, for integrators (a CRM, a door-check app, a
calendar sync). Staff with CUSTOMERS_READ in the organization (the permission ``Offering.participants`` needs),
the same organization rule, outbox and Redis channel as ``purchaseEvents`` (``bookings.announce`` writes the
events with the change)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql import subscription_guard
from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.enum_docs import describe_values
from codex_graphql.offerings import booking_repository, bookings
from codex_graphql.offerings.booking_types import Booking
from codex_graphql.permissions import HasOrgPermission, guarded_subscription
from codex_graphql.relay import to_global_id


@strawberry.enum(description="What happened to a booking.")
class BookingEventType(enum.StrEnum):
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"


describe_values(BookingEventType, {
    "BOOKING_CONFIRMED": "A seat became the person's: booked with a seat free, paid by card, or a held seat taken.",
    "BOOKING_CANCELLED": "The booking was cancelled by its person or by staff (or with its offering).",
})

EVENT_TYPES = {bookings.CONFIRMED_EVENT: BookingEventType.BOOKING_CONFIRMED,
               bookings.CANCELLED_EVENT: BookingEventType.BOOKING_CANCELLED}


@strawberry.type(description="A booking of one of the organization's offerings was confirmed or cancelled.")
class BookingEvent:
    event_id: strawberry.ID = strawberry.field(description="Unique id of the event; redeliveries repeat it.")
    type: BookingEventType = strawberry.field(description="What happened: BOOKING_CONFIRMED or BOOKING_CANCELLED.")
    booking_id: strawberry.ID = strawberry.field(description="Global id of the Booking.")
    offering_id: strawberry.ID = strawberry.field(description="Global id of the Offering booked.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    booking_uuid: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The booking as it is now (its status may have moved on since the event).")
    async def booking(self, info: strawberry.Info) -> Booking | None:
        ctx: Context = info.context
        row = await booking_repository.by_id(ctx.db, self.booking_uuid)
        return Booking.from_model(row) if row else None


@strawberry.type
class BookingsLive:
    @guarded_subscription(
        HasOrgPermission(Permission.CUSTOMERS_READ),
        description="Bookings of the organization's offerings confirmed and cancelled, live (each change once, as it "
        "commits). `organizationId` must be the active organization. It lasts only while the viewer keeps the "
        "permission there: a role or membership change ends it with an `error` (FORBIDDEN), and a session that ends "
        "closes the socket with 4401.",
    )
    async def booking_events(
        self, info: strawberry.Info,
        organization_id: Annotated[strawberry.ID, strawberry.argument(
            description="Global id of the organization to watch; must be the connection's active organization "
            "(FORBIDDEN otherwise).")],
    ) -> AsyncGenerator[BookingEvent, None]:
        ctx: Context = info.context
        async for kind, message in subscription_guard.organization_events(
                info, organization_id, EVENT_TYPES, "Subscribe to your active organization's booking events."):
            payload = message["payload"]
            booking_uuid = uuid.UUID(payload["bookingId"])
            yield BookingEvent(
                event_id=strawberry.ID(message["id"]), type=kind,
                booking_id=strawberry.ID(to_global_id("Booking", booking_uuid)),
                offering_id=strawberry.ID(to_global_id("Offering", uuid.UUID(payload["offeringId"]))),
                occurred_at=datetime.fromisoformat(message["createdAt"]), booking_uuid=booking_uuid)
            await ctx.next_event()
