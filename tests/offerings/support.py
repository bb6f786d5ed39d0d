"""Helpers of the offerings and bookings tests: GraphQL documents, offerings made through the API, credits
granted straight through the ledger, rows read back as the superuser."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from codex_graphql.credits import service as credits
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.relay import to_global_id

OFFERING_FIELDS = """id type status title description priceCents currency creditPrice capacity timeZone location
  online cancellationHours publishedAt cancelledAt categoryIds
  sessions { id startsAt endsAt capacity seatsTaken seatsLeft }"""
ERRORS = "errors { code field message }"
CREATE = f"""mutation($input: CreateOfferingInput!) {{ createOffering(input: $input) {{ {ERRORS}
  offering {{ {OFFERING_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateOfferingInput!) {{ updateOffering(input: $input) {{ {ERRORS}
  offering {{ {OFFERING_FIELDS} }} }} }}"""
PUBLISH = f"""mutation($input: OfferingInput!) {{ publishOffering(input: $input) {{ {ERRORS}
  offering {{ id status publishedAt }} }} }}"""
CANCEL_OFFERING = f"""mutation($input: OfferingInput!) {{ cancelOffering(input: $input) {{ {ERRORS}
  offering {{ id status cancelledAt }} }} }}"""
ADD_SESSION = f"""mutation($input: AddOfferingSessionInput!) {{ addOfferingSession(input: $input) {{ {ERRORS}
  offering {{ id }} session {{ id startsAt endsAt capacity seatsTaken }} }} }}"""
LIST = """query($slug: String!, $filter: OfferingFilter) { organization(slug: $slug) {
  offerings(first: 50, filter: $filter) { totalCount nodes { id title status type } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id ... on Offering { title status } ... on Booking { bookingStatus: status
  participant { email } } } }"""

BOOKING_FIELDS = """id status payWith creditsSpent holdExpiresAt checkedInAt cancelledAt waitlistPosition
  offering { id } session { id }"""
BOOK = f"""mutation($input: BookOfferingInput!) {{ bookOffering(input: $input) {{ {ERRORS}
  booking {{ {BOOKING_FIELDS} }} }} }}"""
CANCEL_BOOKING = f"""mutation($input: BookingInput!) {{ cancelBooking(input: $input) {{ {ERRORS}
  booking {{ {BOOKING_FIELDS} }} }} }}"""
CHECK_IN = f"""mutation($input: BookingInput!) {{ checkInParticipant(input: $input) {{ {ERRORS}
  booking {{ id status checkedInAt }} }} }}"""
PARTICIPANTS = """query($id: ID!, $session: ID) { node(id: $id) { ... on Offering {
  participants(sessionId: $session) { id status participant { email } } } } }"""
MY_BOOKINGS = """query { viewer { bookings(first: 50) { totalCount nodes { id status offering { id } } } } }"""


OMIT = object()  # a field left out of an input


def soon(days: float = 3, hours: float = 0) -> datetime:
    """A whole-second instant ``days`` from now (GraphQL round-trips it exactly)."""
    return (utcnow() + timedelta(days=days, hours=hours)).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def oid(offering_id: str) -> uuid.UUID:
    from codex_graphql.relay import decode_id

    found = decode_id(offering_id, "Offering")
    assert found is not None
    return found


def raw_id(global_id: str, type_name: str) -> uuid.UUID:
    from codex_graphql.relay import decode_id

    found = decode_id(global_id, type_name)
    assert found is not None
    return found


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def create_offering(gql: Any, token: str, **fields: Any) -> dict[str, Any]:
    values = {"type": "EVENT", "title": "Live workshop", "capacity": 10, "creditPrice": 3, "timeZone": "Europe/Berlin",
              "currency": "EUR", **fields}
    values = {k: v for k, v in values.items() if v is not OMIT}
    payload = (await gql.ok(CREATE, {"input": values}, token))["createOffering"]
    return payload["offering"]


async def add_session(gql: Any, token: str, offering: str, starts_at: datetime, hours: float = 2,
                      capacity: int | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"offeringId": offering, "startsAt": iso(starts_at),
                              "endsAt": iso(starts_at + timedelta(hours=hours))}
    if capacity is not None:
        values["capacity"] = capacity
    return (await gql.ok(ADD_SESSION, {"input": values}, token))["addOfferingSession"]["session"]


async def publish(gql: Any, token: str, offering: str) -> dict[str, Any]:
    return (await gql.ok(PUBLISH, {"input": {"offeringId": offering}}, token))["publishOffering"]["offering"]


async def published_event(gql: Any, token: str, *, capacity: int = 10, sessions: int = 1, days: float = 3,
                          **fields: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A published offering (EVENT unless ``type`` is given) with ``sessions`` sessions a day apart."""
    offering = await create_offering(gql, token, capacity=capacity, **fields)
    added = [await add_session(gql, token, offering["id"], soon(days + n)) for n in range(sessions)]
    await publish(gql, token, offering["id"])
    return offering, added


async def grant(db: Database, organization_id: uuid.UUID, user_id: uuid.UUID, amount: int) -> None:
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        await credits.grant(session, organization_id, user_id, amount, f"test-grant:{uuid.uuid4()}",
                            credits.Source("test", "grant"))


async def balance(admin_db: Any, organization_id: uuid.UUID, user_id: uuid.UUID) -> int:
    found = await admin_db.fetchval("select balance from credit_balance where organization_id = $1 and user_id = $2",
                                    organization_id, user_id)
    return int(found or 0)


async def book(gql: Any, token: str, offering: str, session: str | None = None, *, pay_with: str = "CREDITS",
               key: str | None = None, **extra: Any) -> dict[str, Any]:
    """The bookOffering payload (errors and booking), no GraphQL errors."""
    values = {"offeringId": offering, "payWith": pay_with, "idempotencyKey": key or uuid.uuid4().hex, **extra}
    if session is not None:
        values["sessionId"] = session
    body = await gql(BOOK, {"input": values}, token)
    assert "errors" not in body, body
    return body["data"]["bookOffering"]


async def cancel_booking(gql: Any, token: str, booking: str) -> dict[str, Any]:
    body = await gql(CANCEL_BOOKING, {"input": {"bookingId": booking}}, token)
    assert "errors" not in body, body
    return body["data"]["cancelBooking"]


async def seats(admin_db: Any, session_id: str) -> int:
    return int(await admin_db.fetchval("select seats_taken from offering_session where id = $1",
                                       raw_id(session_id, "OfferingSession")))


async def booking_rows(admin_db: Any, offering: str) -> list[Any]:
    return await admin_db.fetch("select id, user_id, status, credits_spent, credit_transaction_id, hold_expires_at "
                                "from booking where offering_id = $1 order by created_at, id", oid(offering))


async def state(admin_db: Any) -> tuple[Any, ...]:
    """Everything a refused booking change must leave as it was."""
    return (
        await admin_db.fetch("select id, status, hold_expires_at, checked_in_at, credits_spent from booking order by id"),
        await admin_db.fetch("select id, seats_taken from offering_session order by id"),
        await admin_db.fetchval("select count(*) from credit_transaction"),
        await admin_db.fetch("select user_id, balance from credit_balance order by user_id"),
    )


def gid(type_name: str, raw: uuid.UUID) -> str:
    return to_global_id(type_name, raw)
