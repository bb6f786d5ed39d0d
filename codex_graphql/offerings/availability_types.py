"""GraphQL of a service's availability: ``Offering.availability``, ``Offering.availableSlots(from, to)`` and
``setServiceAvailability`` (docs/offerings.md, "Service availability")."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.enum_docs import describe_values
from codex_graphql.errors import DomainError
from codex_graphql.offerings import availability_service, loaders
from codex_graphql.offerings.availability import DAY_NAMES, MAX_RANGE_DAYS, MAX_WINDOWS
from codex_graphql.offerings.models import Offering as OfferingModel
from codex_graphql.offerings.models import OfferingAvailability
from codex_graphql.offerings.types import Offering
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id


@strawberry.enum(description="A day of the week.")
class Weekday(enum.StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


describe_values(Weekday, {name: name.title() + "." for name in DAY_NAMES})


@strawberry.type(description="Hours on one day of the week, in the offering's time zone.")
class WeeklyHours:
    day: Weekday = strawberry.field(description="The day.")
    start: str = strawberry.field(description="When the hours start, `HH:MM` (24-hour clock).")
    end: str = strawberry.field(description="When they end, `HH:MM`, after the start; `24:00` is midnight at the "
                                "end of the day.")


@strawberry.input(description="Hours on one day of the week, in the offering's time zone.")
class WeeklyHoursInput:
    day: Weekday = strawberry.field(description="The day.")
    start: str = strawberry.field(description="When the hours start, `HH:MM` from `00:00` to `23:59`.")
    end: str = strawberry.field(description="When they end, `HH:MM` after the start, up to `24:00` (midnight at the "
                                "end of the day).")


@strawberry.type(description="A service's availability: its weekly hours and how they are cut into slots.")
class ServiceAvailability:
    weekly: list[WeeklyHours] = strawberry.field(description="Weekly hours in the offering's time zone, by day and "
                                                 "start.")
    slot_minutes: int = strawberry.field(description="Length of a slot (and of a booked session), in minutes.")
    buffer_minutes: int = strawberry.field(description="Minutes kept free between two slots, and around booked "
                                           "sessions.")
    notice_minutes: int = strawberry.field(description="A slot is open only when it starts at least this many "
                                           "minutes from now.")
    horizon_days: int = strawberry.field(description="A slot is open only when it starts at most this many days "
                                         "(of 24 hours) from now.")
    updated_at: datetime = strawberry.field(description="When the availability was last set.")

    @classmethod
    def from_model(cls, row: OfferingAvailability) -> ServiceAvailability:
        weekly = [WeeklyHours(day=Weekday(DAY_NAMES[w["day"]]), start=w["start"], end=w["end"])
                  for w in sorted(row.weekly, key=lambda w: (w["day"], w["start"]))]
        return cls(weekly=weekly, slot_minutes=row.slot_minutes, buffer_minutes=row.buffer_minutes,
                   notice_minutes=row.notice_minutes, horizon_days=row.horizon_days, updated_at=row.updated_at)


@strawberry.type(description="An open slot of a service: book it with `bookOffering(input: {slotStart})`.")
class OfferingSlot:
    starts_at: datetime = strawberry.field(description="When it starts (UTC).")
    ends_at: datetime = strawberry.field(description="When it ends (UTC): `slotMinutes` later.")


async def _rules(ctx: Context, row: OfferingModel) -> OfferingAvailability | None:
    return await loaders.availability(ctx).load((row.id, row.organization_id))


@strawberry.type(description="Availability fields of `Offering` (never served as a type of its own).")
class OfferingAvailabilityFields:
    row: strawberry.Private[OfferingModel]  # ``self`` is the Offering object being resolved

    @strawberry.field(description="A service's weekly hours and slot rules (`setServiceAvailability`); null for "
                      "other types and for a service whose availability is not set yet. Public once published.")
    async def availability(self, info: strawberry.Info) -> ServiceAvailability | None:
        rules = await _rules(info.context, self.row)
        return ServiceAvailability.from_model(rules) if rules is not None else None

    @strawberry.field(description="A service's open slots starting in [`from`, `to`), by start: on its weekly "
                      "hours in its time zone (correct across daylight-saving changes: a wall time skipped by "
                      "the change has no slot, one repeated by it has one, at its first occurrence), at least "
                      "`noticeMinutes` and at most `horizonDays` from now, never overlapping a booked session "
                      "(nor its buffer). An empty list for other types, a cancelled offering or a service "
                      f"without availability. `to` after `from` and at most {MAX_RANGE_DAYS} days later, else a "
                      "BAD_USER_INPUT error.")
    async def available_slots(
        self, info: strawberry.Info,
        from_: Annotated[datetime, strawberry.argument(name="from", description="Slots starting at or after.")],
        to: Annotated[datetime, strawberry.argument(description="Slots starting before.")],
    ) -> list[OfferingSlot]:
        ctx: Context = info.context
        rules = await _rules(ctx, self.row)
        try:
            slots = await availability_service.available_slots(ctx.db, self.row, rules, from_, to)
        except DomainError as refused:
            raise GraphQLError(refused.errors[0].message, extensions={"code": "BAD_USER_INPUT"}) from None
        return [OfferingSlot(starts_at=start, ends_at=end) for start, end in slots]


@strawberry.input(description="A service's availability; it replaces the one set before.")
class SetServiceAvailabilityInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering (a SERVICE).")
    weekly: list[WeeklyHoursInput] = strawberry.field(
        description=f"Weekly hours in the offering's time zone, up to {MAX_WINDOWS}; hours of one day may touch but "
        "not overlap. An empty list closes the service (no open slots).")
    slot_minutes: int = strawberry.field(description="Length of a slot, 5 to 1,440 minutes.")
    buffer_minutes: int = strawberry.field(default=0, description="Minutes kept free between slots and around booked "
                                           "sessions, 0 to 1,440.")
    notice_minutes: int = strawberry.field(default=0, description="Minimum notice: slots starting sooner are not "
                                           "open, 0 to 525,600 minutes (a year).")
    horizon_days: int = strawberry.field(default=availability_service.DEFAULT_HORIZON_DAYS,
                                         description="How far ahead slots open, 1 to 366 days (60 by default).")


@strawberry.type
class AvailabilityMutations:
    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"offering": (Offering, "The service."),
                             "availability": (ServiceAvailability, "Its availability as it is now.")},
                    description="Set a service's weekly hours, slot length, buffer, notice and horizon (replacing "
                    "what was set). INVALID_INPUT names every field refused (`weekly.2.end`, `slotMinutes`...); "
                    "INVALID_STATE for an offering that is not a SERVICE or was cancelled; nothing changed then. "
                    "Creators manage their own offerings; CONTENT_MANAGE_ALL manages every offering.",
                    input_description="The service and its availability.")
    async def set_service_availability(ctx: Context, input: SetServiceAvailabilityInput) -> dict:
        rules = availability_service.AvailabilityInput(
            weekly=input.weekly, slot_minutes=input.slot_minutes, buffer_minutes=input.buffer_minutes,
            notice_minutes=input.notice_minutes, horizon_days=input.horizon_days)
        offering, row = await availability_service.set_availability(
            ctx.db, ctx.viewer, decode_id(input.offering_id, "Offering"), rules)
        return {"offering": Offering.from_model(offering), "availability": ServiceAvailability.from_model(row)}


__all__ = ["AvailabilityMutations", "OfferingAvailabilityFields", "OfferingSlot", "ServiceAvailability", "Weekday",
           "WeeklyHours", "WeeklyHoursInput"]
