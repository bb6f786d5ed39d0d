"""GraphQL types of offerings and their sessions, ``Organization.offerings`` and ``node(id:)`` for offerings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.offerings import loaders, repository, service
from codex_graphql.offerings.models import Offering as OfferingModel
from codex_graphql.offerings.models import OfferingSession as SessionModel
from codex_graphql.offerings.models import OfferingStatus, OfferingType
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.types import Organization
from codex_graphql.relay import Connection, Node, build_connection, check_first, register_node, to_global_id
from codex_graphql.row_types import from_row


@strawberry.type(description="A dated session of an offering (for a service: a booked slot).")
class OfferingSession(Node):
    starts_at: datetime = strawberry.field(description="When it starts.")
    ends_at: datetime = strawberry.field(description="When it ends.")
    capacity: int = strawberry.field(description="Seats in it.")
    seats_taken: int = strawberry.field(description="Seats taken by confirmed bookings and held for people promoted "
                                        "from the waitlist.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled; null while it is on.")
    row: strawberry.Private[SessionModel]

    @classmethod
    def from_model(cls, row: SessionModel) -> OfferingSession:
        return from_row(cls, row, "OfferingSession", row=row)

    @strawberry.field(description="Seats left; 0 when full (booking then joins the waitlist).")
    def seats_left(self) -> int:
        return max(self.row.capacity - self.row.seats_taken, 0)


@strawberry.type(description="Something an organization sells on its calendar: an event, a program, a cohort "
                 "course or one-to-one service sessions. Drafts are its staff's; published and cancelled offerings "
                 "are public.")
class Offering(Node):
    type: OfferingType = strawberry.field(description="EVENT, PROGRAM, COHORT or SERVICE.")
    status: OfferingStatus = strawberry.field(description="DRAFT, PUBLISHED or CANCELLED.")
    title: str = strawberry.field(description="Title, 1 to 200 characters.")
    description: str = strawberry.field(description="Description (plain text, up to 20,000 characters).")
    price_cents: int = strawberry.field(description="Price of one booking in minor units of `currency`; 0 is free.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    credit_price: int | None = strawberry.field(
        description="Credits one booking costs (`bookOffering(payWith: CREDITS)`); null when credits are not taken.")
    capacity: int = strawberry.field(description="Seats per session (a new session's default).")
    time_zone: str = strawberry.field(description="IANA time zone its times are shown and scheduled in.")
    location: str | None = strawberry.field(description="Where it takes place; null for online only.")
    online: bool = strawberry.field(description="Whether it takes place online.")
    cancellation_hours: int = strawberry.field(
        description="Bookings may be cancelled by their person up to this many hours before the session starts, "
        "with their credits returned.")
    published_at: datetime | None = strawberry.field(description="When it was published.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    created_at: datetime = strawberry.field(description="When it was created.")
    row: strawberry.Private[OfferingModel]

    @classmethod
    def from_model(cls, row: OfferingModel) -> Offering:
        return from_row(cls, row, "Offering", row=row)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="The organization selling it.")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        row = await organization_loaders.organizations(info.context).load(self.row.organization_id)
        return Organization.from_model(row) if row else None

    @strawberry.field(description="Global ids of its categories.")
    async def category_ids(self, info: strawberry.Info) -> list[strawberry.ID]:
        return [to_global_id("Category", c) for c in await loaders.category_ids(info.context).load(self.row.id)]

    @strawberry.field(description="Its sessions by start (a service's booked slots), within [`from`, `to`) when "
                      "given; cancelled sessions only with `includeCancelled`.")
    async def sessions(
        self, info: strawberry.Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from", description="Sessions ending after.")] = None,
        to: Annotated[datetime | None, strawberry.argument(description="Sessions starting before.")] = None,
        include_cancelled: Annotated[bool, strawberry.argument(description="Cancelled sessions too.")] = False,
    ) -> list[OfferingSession]:
        rows = await loaders.sessions(info.context).load(self.row.id)
        return [OfferingSession.from_model(r) for r in rows
                if (include_cancelled or r.cancelled_at is None) and (from_ is None or r.ends_at > from_)
                and (to is None or r.starts_at < to)]


def visible(ctx: Context, row: OfferingModel | None) -> Offering | None:
    return Offering.from_model(row) if row is not None and service.visible_to(ctx.viewer, row) else None


@register_node("Offering")
async def visible_offering(ctx: Context, offering_id: uuid.UUID) -> Offering | None:
    return visible(ctx, await repository.by_id(ctx.db, offering_id))


@strawberry.input(description="Which offerings to list.")
class OfferingFilter:
    type: OfferingType | None = strawberry.field(default=None, description="Only this type.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="Only offerings with a session "
                                              "ending after this instant (services always match).")
    to: datetime | None = strawberry.field(default=None, description="Only offerings with a session starting before "
                                           "this instant (services always match).")


@strawberry.type(description="Offering fields of `Organization` (never served as a type of its own).")
class OrganizationOfferings:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @strawberry.field(description="The organization's offerings, newest first: the published ones for everyone, every "
                      "one (drafts and cancelled ones too) for its staff (CONTENT_READ).")
    async def offerings(self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None,
                        filter: Annotated[OfferingFilter | None, strawberry.argument(
                            description="Narrow the list by type and dates.")] = None) -> Connection[Offering]:
        ctx: Context = info.context
        staff = service.staff_sees_all(ctx.viewer, self.organization_id)
        wanted = filter or OfferingFilter()
        options = {"staff": staff, "offering_type": wanted.type, "start": wanted.from_, "end": wanted.to}
        page = await repository.page(ctx.db, self.organization_id, first=check_first(first), after=after, **options)
        return build_connection(page, Offering.from_model,
                                lambda: repository.count(ctx.db, self.organization_id, **options))
