"""GraphQL types and mutations of bookings: bookOffering, cancelBooking, checkInParticipant, ``viewer { bookings }``
and ``Offering.participants``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.authz import Permission
from codex_graphql.commerce import service as commerce
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings import booking_repository as repository
from codex_graphql.offerings import bookings, loaders, paid
from codex_graphql.offerings.models import Booking as BookingModel
from codex_graphql.offerings.models import BookingPayment, BookingStatus
from codex_graphql.offerings.types import Offering, OfferingSession
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded
from codex_graphql.relay import (
    Connection,
    Node,
    build_connection,
    check_first,
    decode_id,
    register_node,
    to_global_id,
)
from codex_graphql.row_types import from_row


@strawberry.type(description="A person who booked, as the organization's staff see them.")
class Participant:
    user_id: strawberry.ID = strawberry.field(description="Global id of their account.")
    email: str = strawberry.field(description="Their email address.")
    name: str = strawberry.field(description="Their display name; may be empty.")


@strawberry.type(description="A seat booked in an offering's session (a cohort's booking holds a seat in every "
                 "session), or a place on its waitlist. Seen by its person and the organization's staff.")
class Booking(Node):
    status: BookingStatus = strawberry.field(description="CONFIRMED, WAITLISTED, HELD, PAYMENT_PENDING, CANCELLED or "
                                             "EXPIRED.")
    pay_with: BookingPayment = strawberry.field(description="How it is paid.")
    credits_spent: int = strawberry.field(description="Credits taken for it (0 unless paid with credits).")
    hold_expires_at: datetime | None = strawberry.field(
        description="For HELD: until when the seat is kept; book again before then to confirm it. For "
        "PAYMENT_PENDING: until when the seat is kept for the payment (`checkoutUrl`).")
    checked_in_at: datetime | None = strawberry.field(description="When staff checked the person in.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    created_at: datetime = strawberry.field(description="When it was made.")
    row: strawberry.Private[BookingModel]

    @classmethod
    def from_model(cls, row: BookingModel) -> Booking:
        return from_row(cls, row, "Booking", row=row)

    @strawberry.field(description="The offering booked.")
    async def offering(self, info: strawberry.Info) -> Offering | None:
        row = await loaders.offerings(info.context).load(self.row.offering_id)
        return Offering.from_model(row) if row else None

    @strawberry.field(description="The session booked (a cohort's first session).")
    async def session(self, info: strawberry.Info) -> OfferingSession | None:
        found = await loaders.sessions(info.context).load(self.row.offering_id)
        row = next((s for s in found if s.id == self.row.session_id), None)
        return OfferingSession.from_model(row) if row else None

    @strawberry.field(description="For PAYMENT_PENDING, and for the person who booked only: where to pay (the "
                      "payment provider's checkout). Null otherwise.")
    async def checkout_url(self, info: strawberry.Info) -> str | None:
        ctx: Context = info.context
        if self.row.status is not BookingStatus.PAYMENT_PENDING or ctx.viewer.user_id != self.row.user_id:
            return None
        return await paid.checkout_url(ctx.db, self.row)

    @strawberry.field(description="For WAITLISTED: their place in the queue (1 is next); null otherwise.")
    async def waitlist_position(self, info: strawberry.Info) -> int | None:
        if self.row.status is not BookingStatus.WAITLISTED:
            return None
        return await repository.waitlist_position(info.context.db, self.row)

    @strawberry.field(description="Who booked: for the organization's staff (CUSTOMERS_READ) and the person "
                      "themselves; null for anyone else.")
    async def participant(self, info: strawberry.Info) -> Participant | None:
        ctx: Context = info.context
        if not ctx.viewer.owns_or_can(self.row.user_id, Permission.CUSTOMERS_READ, self.row.organization_id):
            return None
        user = await account_loaders.users(ctx).load(self.row.user_id)
        return Participant(user_id=to_global_id("User", user.id), email=user.email, name=user.name) if user else None


@register_node("Booking")
async def visible_booking(ctx: Context, booking_id: uuid.UUID) -> Booking | None:
    """Its person's and the organization's staff's (RLS shows nobody else the row)."""
    row = await repository.by_id(ctx.db, booking_id)
    return Booking.from_model(row) if row else None


@strawberry.type(description="Booking fields of `Viewer` (never served as a type of its own).")
class ViewerBookings:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's bookings in every organization, newest first.")
    async def bookings(self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None) -> Connection[Booking]:
        db = info.context.db
        page = await repository.own_page(db, self.user_id, check_first(first), after)
        return build_connection(page, Booking.from_model, lambda: repository.own_count(db, self.user_id))


@strawberry.type(description="Participant fields of `Offering` (never served as a type of its own).")
class OfferingParticipants:
    row: strawberry.Private[object]  # ``self`` is the Offering object being resolved

    @guarded(HasOrgPermission(Permission.CUSTOMERS_READ), description="Everyone who booked it (every status), "
             "oldest first; one session's when `sessionId` is given.")
    async def participants(self, info: strawberry.Info, session_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this session's bookings.")] = None) -> list[Booking] | None:
        row = self.row
        session = decode_id(session_id, "OfferingSession") if session_id else None
        found = await repository.of_offering(info.context.db, row.organization_id, row.id, session)  # type: ignore[attr-defined]
        return [Booking.from_model(b) for b in found]


@strawberry.input(description="What to book.")
class BookOfferingInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering (published).")
    session_id: strawberry.ID | None = strawberry.field(default=None, description="The session, for an EVENT or a "
                                                         "PROGRAM. A COHORT is booked as a whole (leave it out).")
    slot_start: datetime | None = strawberry.field(default=None, description="For a SERVICE: the start of an open "
                                                   "slot (`Offering.availableSlots`).")
    pay_with: BookingPayment = strawberry.field(description="CREDITS (the offering's `creditPrice`), PURCHASE (free "
                                                "offerings at once; priced ones by card: give `successUrl` and "
                                                "`cancelUrl`) or SUBSCRIPTION (a tier with offering access).")
    success_url: str | None = strawberry.field(default=None, description="Paying by card: where the person returns "
                                               "after paying (an allowed origin).")
    cancel_url: str | None = strawberry.field(default=None, description="Paying by card: where the person returns "
                                              "when they give up paying (an allowed origin).")
    idempotency_key: str = strawberry.field(description="A key of the client's choosing (1 to 200 characters): a "
                                            "retry with the same key returns the first booking, never a second.")


@strawberry.input(description="The booking to act on.")
class BookingInput:
    booking_id: strawberry.ID = strawberry.field(description="The booking.")


PAYLOAD = {"booking": (Booking, "The booking as it is now.")}
BOOK_PAYLOAD = {**PAYLOAD, "checkout_url": (str, "Paying by card: send the person here to pay (the booking is "
                                                 "PAYMENT_PENDING until they do). Null otherwise.")}


def _card_return(ctx: Context, input: BookOfferingInput) -> tuple[str, str] | None:
    """The checked return URLs of a card payment, None when neither is given."""
    if input.success_url is None and input.cancel_url is None:
        return None
    if input.success_url is None or input.cancel_url is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give both successUrl and cancelUrl.",
                          "cancelUrl" if input.cancel_url is None else "successUrl")
    return (commerce.check_redirect(input.success_url, ctx.settings, "successUrl"),
            commerce.check_redirect(input.cancel_url, ctx.settings, "cancelUrl"))


@strawberry.type
class BookingMutations:
    @mutation_field(IsAuthenticated(), payload=BOOK_PAYLOAD,
                    description="Book a session of a published offering: CONFIRMED with a seat, PAYMENT_PENDING with a "
                    "seat held while the viewer pays by card (`checkoutUrl`), WAITLISTED when it is full, or the "
                    "confirmation of a seat HELD for the viewer. Capacity is never exceeded, however many book at "
                    "once. NOT_FOUND (offering, session), INVALID_STATE (cancelled, started, payment not accepted), "
                    "INVALID_INPUT (not an open slot, return URLs), INSUFFICIENT_CREDITS, ALREADY_EXISTS (booked "
                    "already), PAYMENT_PROVIDER_ERROR (retry with the same key): nothing changed.",
                    input_description="The offering, session or slot, and payment.")
    async def book_offering(ctx: Context, input: BookOfferingInput) -> dict:
        card_return = _card_return(ctx, input)
        booking = await bookings.book(
            ctx.db, ctx.viewer, decode_id(input.offering_id, "Offering"),
            session_id=decode_id(input.session_id, "OfferingSession") if input.session_id else None,
            slot_start=input.slot_start, pay_with=input.pay_with, idempotency_key=input.idempotency_key,
            card_return=card_return is not None)
        booking_id = booking.id
        planned = await paid.plan_checkout(ctx.db, ctx.settings, booking, *card_return) if card_return else None
        if planned is not None:
            # The seat is held and committed; the provider is called with no transaction open (the checkout's id
            # and key follow from the booking's, so a retry with the same idempotencyKey gets the same one).
            async with ctx.outside_transaction():
                created = await commerce.create_at_provider(ctx.services.payments, planned)
            await commerce.record_checkout(ctx.db, ctx.services.payments, planned, created)
        row = await repository.by_id(ctx.db, booking_id)
        assert row is not None
        return {"booking": Booking.from_model(row), "checkout_url": await paid.checkout_url(ctx.db, row)}

    @mutation_field(IsAuthenticated(), payload=PAYLOAD,
                    description="Cancel a booking: its person (credits back until the offering's `cancellationHours` "
                    "before the session, none after) or staff with CONTENT_MANAGE (credits back always). The freed "
                    "seat is held for the first person waiting, who is emailed. NOT_FOUND for anyone else; "
                    "cancelling a cancelled booking changes nothing.", input_description="The booking.")
    async def cancel_booking(ctx: Context, input: BookingInput) -> dict:
        return {"booking": Booking.from_model(await bookings.cancel(ctx.db, ctx.viewer,
                                                                    decode_id(input.booking_id, "Booking")))}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE), payload=PAYLOAD,
                    description="Mark a confirmed participant present. INVALID_STATE unless CONFIRMED; checking in "
                    "twice keeps the first time.", input_description="The booking.")
    async def check_in_participant(ctx: Context, input: BookingInput) -> dict:
        return {"booking": Booking.from_model(await bookings.check_in(ctx.db, ctx.viewer,
                                                                      decode_id(input.booking_id, "Booking")))}


__all__ = ["Booking", "BookingMutations", "OfferingParticipants", "ViewerBookings"]
