"""A service's availability through GraphQL (issue 19, item 1): setServiceAvailability's typed refusals that
change nothing and its authorization matrix, ``Offering.availability`` (public once published) and
``Offering.availableSlots`` across a daylight-saving change in Berlin, without the booked sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.db import utcnow
from codex_graphql.relay import to_global_id
from tests.offerings.support import (
    CANCEL_OFFERING,
    balance,
    book,
    codes,
    create_offering,
    grant,
    iso,
    oid,
    publish,
    raw_id,
    state,
)
from tests.support import Actors, make_actors

BERLIN = ZoneInfo("Europe/Berlin")
AVAILABILITY = "availability { weekly { day start end } slotMinutes bufferMinutes noticeMinutes horizonDays }"
SET = f"""mutation($input: SetServiceAvailabilityInput!) {{ setServiceAvailability(input: $input) {{
  errors {{ code field message }} offering {{ id type }} {AVAILABILITY} }} }}"""
SLOTS = f"""query($id: ID!, $from: DateTime!, $to: DateTime!) {{ node(id: $id) {{ ... on Offering {{ type
  {AVAILABILITY} availableSlots(from: $from, to: $to) {{ startsAt endsAt }} }} }} }}"""
MORNINGS = [{"day": day, "start": "09:00", "end": "12:00"}
            for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")]


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory, with_role=OrgRole.CREATOR)  # CONTENT_MANAGE; MEMBER has not


async def service(gql: Any, token: str) -> str:
    return (await create_offering(gql, token, type="SERVICE", title="Coaching", capacity=1))["id"]


async def rows(admin_db: Any) -> list[Any]:
    return await admin_db.fetch("select * from offering_availability order by offering_id")


async def set_rules(gql: Any, token: str | None, values: dict[str, Any]) -> dict[str, Any]:
    """The setServiceAvailability payload (its errors included); no GraphQL errors."""
    body = await gql(SET, {"input": values}, token)
    assert "errors" not in body, body
    return body["data"]["setServiceAvailability"]


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


async def test_refusals_are_typed_and_change_nothing(gql: Any, admin_db: Any, actors: Actors) -> None:
    token = actors.staff_with.token
    offering = await service(gql, token)
    bad = {"offeringId": offering, "slotMinutes": 4, "bufferMinutes": -1, "noticeMinutes": 525_601,
           "horizonDays": 0, "weekly": [
               {"day": "MONDAY", "start": "09:00", "end": "12:00"},
               {"day": "TUESDAY", "start": "9am", "end": "10:00"},
               {"day": "WEDNESDAY", "start": "10:00", "end": "09:59"},
               {"day": "MONDAY", "start": "11:30", "end": "24:00"},
               {"day": "FRIDAY", "start": "23:00", "end": "24:01"}]}
    payload = await set_rules(gql, token, bad)
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "weekly", "1", "start"]), ("INVALID_INPUT", ["input", "weekly", "2", "end"]),
        ("INVALID_INPUT", ["input", "weekly", "3", "start"]), ("INVALID_INPUT", ["input", "weekly", "4", "end"]),
        ("INVALID_INPUT", ["input", "slotMinutes"]), ("INVALID_INPUT", ["input", "bufferMinutes"]),
        ("INVALID_INPUT", ["input", "noticeMinutes"]), ("INVALID_INPUT", ["input", "horizonDays"])]
    assert payload["availability"] is None and await rows(admin_db) == []

    good = {"offeringId": offering, "slotMinutes": 45, "weekly": [MORNINGS[2], MORNINGS[0],
                                                                   {"day": "MONDAY", "start": "13:00", "end": "24:00"}]}
    payload = await set_rules(gql, token, good)
    assert payload["errors"] == []
    assert payload["availability"] == {"weekly": [MORNINGS[0], {"day": "MONDAY", "start": "13:00", "end": "24:00"},
                                                  MORNINGS[2]],
                                       "slotMinutes": 45, "bufferMinutes": 0, "noticeMinutes": 0, "horizonDays": 60}
    stored = await rows(admin_db)
    assert [(r["organization_id"], r["slot_minutes"]) for r in stored] == [(actors.org, 45)]

    # A refused change keeps the rules set before; a good one replaces them.
    refused = {**good, "slotMinutes": 1441}
    assert codes(await set_rules(gql, token, refused)) == ["INVALID_INPUT"]
    assert await rows(admin_db) == stored
    replaced = {**good, "weekly": [], "bufferMinutes": 1440, "noticeMinutes": 525_600, "horizonDays": 366}
    payload = await set_rules(gql, token, replaced)
    assert payload["availability"]["weekly"] == [] and payload["availability"]["horizonDays"] == 366
    assert len(await rows(admin_db)) == 1

    # Not a service, or cancelled: INVALID_STATE; unknown: NOT_FOUND.
    event = (await create_offering(gql, token, type="EVENT"))["id"]
    before = await rows(admin_db)
    for offering_id, code in ((event, "INVALID_STATE"), (to_global_id("Offering", uuid.uuid4()), "NOT_FOUND")):
        payload = await set_rules(gql, token, {**good, "offeringId": offering_id})
        assert codes(payload) == [code] and payload["errors"][0]["field"] == ["input", "offeringId"]
    await gql.ok(CANCEL_OFFERING, {"input": {"offeringId": offering}}, token)
    assert codes(await set_rules(gql, token, good)) == ["INVALID_STATE"]
    assert await rows(admin_db) == before


async def test_set_availability_by_every_caller(gql: Any, admin_db: Any, actors: Actors) -> None:
    offering = await service(gql, actors.staff_with.token)
    variables = {"input": {"offeringId": offering, "slotMinutes": 30, "weekly": MORNINGS[:1]}}
    for name, token in actors.tokens().items():
        if name == "staff_with_permission":
            continue
        body = await gql(SET, variables, token)
        if name == "other_org_staff":  # allowed the mutation in their organization, but not this offering
            assert codes(body["data"]["setServiceAvailability"]) == ["NOT_FOUND"], body
        else:
            assert {e["extensions"]["code"] for e in body["errors"]} == {
                "UNAUTHENTICATED" if token is None else "FORBIDDEN"} and body["data"] is None, (name, body)
        assert await rows(admin_db) == [], name
    payload = (await gql.ok(SET, variables, actors.staff_with.token))["setServiceAvailability"]
    assert payload["errors"] == [] and payload["availability"]["slotMinutes"] == 30
    assert [r["offering_id"] for r in await rows(admin_db)] == [oid(offering)]


def next_change(after: datetime) -> datetime:
    """The first daylight-saving change in Berlin after ``after`` (an instant, UTC, on the hour)."""
    at = after.replace(minute=0, second=0, microsecond=0)
    while (at + timedelta(hours=1)).astimezone(BERLIN).utcoffset() == at.astimezone(BERLIN).utcoffset():
        at += timedelta(hours=1)
    return at + timedelta(hours=1)


async def test_available_slots_across_a_daylight_saving_change(gql: Any, actors: Actors) -> None:
    token = actors.staff_with.token
    offering = await service(gql, token)  # create_offering's time zone: Europe/Berlin
    change = next_change(utcnow() + timedelta(days=1))
    day = change.astimezone(BERLIN).date()
    weekday = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")[day.weekday()]
    await gql.ok(SET, {"input": {"offeringId": offering, "slotMinutes": 60, "horizonDays": 366,
                                 "weekly": [{"day": weekday, "start": "01:00", "end": "04:00"}]}}, token)
    window = {"id": offering, "from": (change - timedelta(hours=12)).isoformat(),
              "to": (change + timedelta(hours=12)).isoformat()}
    assert (await gql.ok(SLOTS, window, actors.customer.token))["node"] is None  # a draft: staff only
    staff_view = (await gql.ok(SLOTS, window, token))["node"]
    await publish(gql, token, offering)
    public = (await gql.ok(SLOTS, window))["node"]  # anonymous
    assert public == staff_view and public["availability"]["weekly"] == [
        {"day": weekday, "start": "01:00", "end": "04:00"}]

    midnight = datetime.combine(day, datetime.min.time())
    if change.month < 7:  # spring forward at 02:00 CET (UTC+1) to 03:00 CEST (UTC+2): 02:00 never shows
        expected = [midnight + timedelta(hours=1) - timedelta(hours=1), midnight + timedelta(hours=3 - 2)]
    else:  # fall back at 03:00 CEST to 02:00 CET: 02:00 shows twice, its slot is at the first (CEST)
        expected = [midnight + timedelta(hours=1 - 2), midnight + timedelta(hours=2 - 2),
                    midnight + timedelta(hours=3 - 1)]
    assert [(parse(s["startsAt"]), parse(s["endsAt"])) for s in public["availableSlots"]] == [
        (at.replace(tzinfo=UTC), at.replace(tzinfo=UTC) + timedelta(hours=1)) for at in expected]

    # Ranges: empty, reversed or longer than 62 days are BAD_USER_INPUT; an event has no slots.
    for start, end in ((change, change), (change, change - timedelta(hours=1)), (change, change + timedelta(days=63))):
        body = await gql(SLOTS, {"id": offering, "from": start.isoformat(), "to": end.isoformat()})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    event = (await create_offering(gql, token, type="EVENT"))["id"]
    node = (await gql.ok(SLOTS, {**window, "id": event}, token))["node"]
    assert node["availability"] is None and node["availableSlots"] == []


async def session_row(admin_db: Any, organization_id: uuid.UUID, offering: str, starts_at: datetime, minutes: int,
                      *, seats_taken: int = 1, cancelled: bool = False) -> None:
    await admin_db.execute(
        "insert into offering_session (id, organization_id, offering_id, starts_at, ends_at, capacity, seats_taken, "
        "cancelled_at) values ($1, $2, $3, $4, $5, 1, $6, $7)", uuid.uuid4(), organization_id, oid(offering),
        starts_at, starts_at + timedelta(minutes=minutes), seats_taken, utcnow() if cancelled else None)


async def test_booked_sessions_and_their_buffer_are_not_open(gql: Any, admin_db: Any, actors: Actors) -> None:
    token = actors.staff_with.token
    offering = await service(gql, token)
    await gql.ok(SET, {"input": {"offeringId": offering, "slotMinutes": 50, "bufferMinutes": 10,
                                 "weekly": MORNINGS}}, token)
    await publish(gql, token, offering)
    day = utcnow().astimezone(BERLIN).date() + timedelta(days=3)

    def local(on: date, hour: int, minute: int = 0) -> datetime:
        return datetime(on.year, on.month, on.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)

    async def starts() -> list[datetime]:
        found = (await gql.ok(SLOTS, {"id": offering, "from": local(day, 0).isoformat(),
                                      "to": local(day + timedelta(days=1), 0).isoformat()}))["node"]
        return [parse(s["startsAt"]) for s in found["availableSlots"]]

    assert await starts() == [local(day, 9), local(day, 10), local(day, 11)]
    # Not busy: a cancelled session, one with no seat taken, one of another day.
    await session_row(admin_db, actors.org, offering, local(day, 10), 50, cancelled=True)
    await session_row(admin_db, actors.org, offering, local(day, 11), 50, seats_taken=0)
    await session_row(admin_db, actors.org, offering, local(day + timedelta(days=1), 10), 50)
    assert await starts() == [local(day, 9), local(day, 10), local(day, 11)]
    # Booked 10:05-10:55: with the 10-minute buffer it blocks 10:00 and 11:00 (which starts 5 minutes after it).
    await session_row(admin_db, actors.org, offering, local(day, 10, 5), 50)
    assert await starts() == [local(day, 9)]


async def test_booking_a_service_slot_takes_it_out_of_the_open_slots(gql: Any, admin_db: Any, db: Any,
                                                                     factory: Any, actors: Actors) -> None:
    """A service's open slot booked through bookOffering: CONFIRMED in a session of its own (capacity 1), gone from
    availableSlots; a second person booking the same slot joins its waitlist; a time that is not an open slot
    (off the grid, outside the hours, too soon) is INVALID_INPUT and books nothing."""
    token = actors.staff_with.token
    offering = (await create_offering(gql, token, type="SERVICE", title="Coaching", capacity=1, timeZone="UTC",
                                      creditPrice=3))["id"]
    assert (await set_rules(gql, token, {"offeringId": offering, "weekly": MORNINGS, "slotMinutes": 60,
                                         "noticeMinutes": 60}))["errors"] == []
    assert (await publish(gql, token, offering))["status"] == "PUBLISHED"
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    window = {"id": offering, "from": iso(start), "to": iso(start + timedelta(days=1))}
    open_before = (await gql.ok(SLOTS, window, None))["node"]["availableSlots"]
    assert [s["startsAt"][11:16] for s in open_before] == ["09:00", "10:00", "11:00"]
    slot = parse(open_before[1]["startsAt"])
    first, second = await factory.user(), await factory.user()
    org = actors.org
    for person in (first, second):
        await grant(db, org, person.user_id, 10)

    booked = await book(gql, first.token, offering, pay_with="CREDITS", slotStart=iso(slot))
    assert booked["errors"] == [] and booked["booking"]["status"] == "CONFIRMED", booked
    open_after = (await gql.ok(SLOTS, window, None))["node"]["availableSlots"]
    assert [s["startsAt"][11:16] for s in open_after] == ["09:00", "11:00"]
    waiting = await book(gql, second.token, offering, pay_with="CREDITS", slotStart=iso(slot))
    assert waiting["booking"]["status"] == "WAITLISTED" and waiting["booking"]["creditsSpent"] == 0
    sessions = await admin_db.fetch("select starts_at, capacity, seats_taken from offering_session "
                                    "where offering_id = $1", raw_id(offering, "Offering"))
    assert [(s["starts_at"], s["capacity"], s["seats_taken"]) for s in sessions] == [(slot, 1, 1)]
    assert await balance(admin_db, org, first.user_id) == 7

    before = await state(admin_db)
    for bad in (slot + timedelta(minutes=30), start + timedelta(hours=15), datetime.now(UTC) + timedelta(minutes=5)):
        refused = await book(gql, first.token, offering, pay_with="CREDITS", slotStart=iso(bad))
        assert codes(refused) == ["INVALID_INPUT"] and refused["booking"] is None, bad
    missing = await book(gql, first.token, offering, pay_with="CREDITS")
    assert codes(missing) == ["INVALID_INPUT"]
    assert await state(admin_db) == before
