"""``Offering.stats``: an offering's revenue, fill rate and attendance for the organization's analytics readers
(ANALYTICS_READ), one statement per page of offerings (``stats_repository``)."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.offerings import loaders
from codex_graphql.offerings.stats_repository import OfferingFigures
from codex_graphql.permissions import HasOrgPermission, guarded


@strawberry.type(description="An offering's figures, as they are now.")
class OfferingStats:
    revenue_cents: int = strawberry.field(description="Card revenue in the offering's currency, minor units net of "
                                          "tax, refunds subtracted (the purchases of paid bookings).")
    purchases: int = strawberry.field(description="Card payments made for bookings (refunded ones included).")
    refunds: int = strawberry.field(description="Card payments refunded (a cancellation inside the policy, a "
                                    "cancelled offering, a payment that came too late).")
    credits_earned: int = strawberry.field(description="Credits spent on the bookings that stand (CONFIRMED).")
    confirmed_bookings: int = strawberry.field(description="Bookings that hold a seat now (CONFIRMED).")
    waitlisted: int = strawberry.field(description="People waiting for a seat now.")
    seats_taken: int = strawberry.field(description="Seats taken over the sessions that are on (a cohort's booking "
                                        "takes one in each), held and pending ones included.")
    seat_capacity: int = strawberry.field(description="Seats over the sessions that are on.")
    fill_rate: float | None = strawberry.field(description="`seatsTaken / seatCapacity` (0 to 1); null without "
                                               "sessions.")
    checked_in: int = strawberry.field(description="Confirmed participants of sessions that have started who were "
                                       "checked in.")
    attendance_rate: float | None = strawberry.field(description="`checkedIn` over the confirmed bookings of "
                                                     "sessions that have started (0 to 1); null before any started.")

    @classmethod
    def from_figures(cls, found: OfferingFigures) -> OfferingStats:
        return cls(revenue_cents=found.revenue_cents, purchases=found.purchases, refunds=found.refunds,
                   credits_earned=found.credits_earned, confirmed_bookings=found.confirmed,
                   waitlisted=found.waitlisted, seats_taken=found.seats_taken, seat_capacity=found.seat_capacity,
                   fill_rate=found.seats_taken / found.seat_capacity if found.seat_capacity else None,
                   checked_in=found.checked_in,
                   attendance_rate=found.checked_in / found.attendable if found.attendable else None)


@strawberry.type(description="Figure fields of `Offering` (never served as a type of its own).")
class OfferingStatsFields:
    row: strawberry.Private[object]  # ``self`` is the Offering object being resolved

    @guarded(HasOrgPermission(Permission.ANALYTICS_READ), description="Revenue, fill rate and attendance of the "
             "offering, as they are now.")
    async def stats(self, info: strawberry.Info) -> OfferingStats | None:
        row = self.row
        found = await loaders.figures(info.context).load((row.id, row.organization_id))  # type: ignore[attr-defined]
        return OfferingStats.from_figures(found) if found else None
