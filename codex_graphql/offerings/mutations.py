"""Mutations that manage offerings and their sessions (staff of the active organization)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.offerings import bookings, service
from codex_graphql.offerings.models import OfferingType
from codex_graphql.offerings.service import UNSET, OfferingChanges
from codex_graphql.offerings.types import Offering, OfferingSession
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id

RULE = " Creators manage their own offerings; CONTENT_MANAGE_ALL manages every offering."
PAYLOAD = {"offering": (Offering, "The offering as it is now.")}
_FIELDS = ("title", "description", "price_cents", "currency", "credit_price", "capacity", "time_zone", "location",
           "online", "cancellation_hours", "category_ids")


def _changes(input: object) -> OfferingChanges:
    values: dict[str, object] = {}
    for name in _FIELDS:
        value = getattr(input, name, UNSET)
        if value is strawberry.UNSET:
            continue
        if name == "category_ids" and value is not None:
            value = [decode_id(raw, "Category") for raw in value]
        values[name] = value
    return OfferingChanges(**values)


@strawberry.input(description="A new offering (a DRAFT until `publishOffering`).")
class CreateOfferingInput:
    type: OfferingType = strawberry.field(description="EVENT, PROGRAM, COHORT or SERVICE.")
    title: str = strawberry.field(description="Title, 1 to 200 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Plain text, up to 20,000 "
                                               "characters.")
    price_cents: int | None = strawberry.field(default=strawberry.UNSET, description="Price of one booking in minor "
                                               "units, 0 (free, the default) to 10,000,000.")
    currency: str | None = strawberry.field(default=strawberry.UNSET, description="ISO 4217 code; the "
                                            "organization's currency when left out.")
    credit_price: int | None = strawberry.field(default=strawberry.UNSET, description="Credits one booking costs, 1 "
                                                "to 1,000,000; null or left out: not bookable with credits.")
    capacity: int | None = strawberry.field(default=strawberry.UNSET, description="Seats per session, 1 to 100,000; "
                                            "required except for a SERVICE (1 by default).")
    time_zone: str | None = strawberry.field(default=strawberry.UNSET, description="IANA time zone; the "
                                             "organization's when left out.")
    location: str | None = strawberry.field(default=strawberry.UNSET, description="Where it takes place, up to 300 "
                                            "characters; null for online only.")
    online: bool | None = strawberry.field(default=strawberry.UNSET, description="Whether it takes place online.")
    cancellation_hours: int | None = strawberry.field(
        default=strawberry.UNSET, description="Hours before a session until which a booking may be cancelled with "
        "credits returned, 0 to 8,760 (24 by default).")
    category_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Categories of the organization, up to 10.")


@strawberry.input(description="Changes to an offering; fields left out stay as they are.")
class UpdateOfferingInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="Title, 1 to 200 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Plain text, up to 20,000 "
                                               "characters.")
    price_cents: int | None = strawberry.field(default=strawberry.UNSET, description="Price of one booking in minor "
                                               "units; applies to bookings made from now on.")
    currency: str | None = strawberry.field(default=strawberry.UNSET, description="ISO 4217 code.")
    credit_price: int | None = strawberry.field(default=strawberry.UNSET, description="Credits one booking costs; "
                                                "null: not bookable with credits.")
    capacity: int | None = strawberry.field(default=strawberry.UNSET, description="Seats per new session (existing "
                                            "sessions keep theirs).")
    time_zone: str | None = strawberry.field(default=strawberry.UNSET, description="IANA time zone.")
    location: str | None = strawberry.field(default=strawberry.UNSET, description="Where it takes place; null for "
                                            "online only.")
    online: bool | None = strawberry.field(default=strawberry.UNSET, description="Whether it takes place online.")
    cancellation_hours: int | None = strawberry.field(default=strawberry.UNSET, description="Cancellation deadline, "
                                                      "in hours before a session.")
    category_ids: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, description="Replaces its "
                                                                "categories.")


@strawberry.input(description="The offering to act on.")
class OfferingInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering.")


@strawberry.input(description="A dated session of an event, program or cohort.")
class AddOfferingSessionInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering (not a SERVICE).")
    starts_at: datetime = strawberry.field(description="When it starts (in the future).")
    ends_at: datetime = strawberry.field(description="When it ends (after it starts, within 14 days).")
    capacity: int | None = strawberry.field(default=None, description="Seats; the offering's capacity when null.")


def _offering_id(raw: strawberry.ID) -> uuid.UUID | None:
    return decode_id(raw, "Offering")


@strawberry.type
class OfferingMutations:
    @mutation_field(HasOrgPermission(Permission.CONTENT_CREATE), payload=PAYLOAD,
                    description="Create an offering in the active organization, as a DRAFT. INVALID_INPUT names the "
                    "field refused (nothing is created).", input_description="The offering.")
    async def create_offering(ctx: Context, input: CreateOfferingInput) -> dict:
        offering = await service.create(ctx.db, ctx.viewer, input.type, _changes(input))
        return {"offering": Offering.from_model(offering)}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE), payload=PAYLOAD,
                    description="Change an offering (not a cancelled one)." + RULE,
                    input_description="The offering and the fields to change.")
    async def update_offering(ctx: Context, input: UpdateOfferingInput) -> dict:
        offering = await service.update(ctx.db, ctx.viewer, _offering_id(input.offering_id), _changes(input))
        return {"offering": Offering.from_model(offering)}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE), payload=PAYLOAD,
                    description="Make a draft public and bookable: an event, program or cohort needs a session to "
                    "come, a service its availability (INVALID_STATE otherwise)." + RULE,
                    input_description="The offering.")
    async def publish_offering(ctx: Context, input: OfferingInput) -> dict:
        return {"offering": Offering.from_model(await service.publish(ctx.db, ctx.viewer,
                                                                      _offering_id(input.offering_id)))}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE), payload=PAYLOAD,
                    description="Cancel an offering: every live booking is cancelled, its credits returned in full, "
                    "and its person emailed; nobody can book it any more. Cancelling again changes nothing." + RULE,
                    input_description="The offering.")
    async def cancel_offering(ctx: Context, input: OfferingInput) -> dict:
        offering = await service.mark_cancelled(ctx.db, ctx.viewer, _offering_id(input.offering_id))
        await bookings.cancel_offering(ctx.db, ctx.viewer, offering)
        return {"offering": Offering.from_model(offering)}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"offering": (Offering, "The offering."),
                             "session": (OfferingSession, "The new session.")},
                    description="Add a dated session to an event, program or cohort (INVALID_STATE for a service or a "
                    "cancelled offering; ALREADY_EXISTS for a second session starting at the same instant)." + RULE,
                    input_description="The offering and the session's times.")
    async def add_offering_session(ctx: Context, input: AddOfferingSessionInput) -> dict:
        offering, added = await service.add_session(ctx.db, ctx.viewer, _offering_id(input.offering_id),
                                                    input.starts_at, input.ends_at, input.capacity)
        return {"offering": Offering.from_model(offering), "session": OfferingSession.from_model(added)}


__all__ = ["OfferingMutations"]
