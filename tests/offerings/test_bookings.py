"""Bookings (issue 19, item 2): the concurrency proof (100 customers, 10 seats, exactly 10 confirmed and paid),
idempotent retries, waitlist promotion with a time-limited hold and its expiry by two concurrent job runners,
the cancellation policy (credits back before the deadline and when staff cancel or the offering is cancelled),
bad input refused with typed errors and nothing changed, a cohort booked as one, check-in and participants for
staff only, ``viewer { bookings }`` and RLS on ``node(id:)``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.db import utcnow
from codex_graphql.offerings import jobs
from tests.offerings.support import (
    BOOK,
    CANCEL_OFFERING,
    CHECK_IN,
    MY_BOOKINGS,
    NODE,
    PARTICIPANTS,
    add_session,
    balance,
    book,
    booking_rows,
    cancel_booking,
    codes,
    create_offering,
    grant,
    oid,
    publish,
    published_event,
    raw_id,
    seats,
    soon,
    state,
)
from tests.support import Actors, assert_authz_matrix, make_actors
from tests.support.reviews import without


@pytest.fixture
async def actors(factory: Any) -> Actors:
    # ADMIN holds CONTENT_MANAGE (check-in, cancelling anyone's booking) and CUSTOMERS_READ (participants);
    # MEMBER holds neither.
    return await make_actors(factory, with_role=OrgRole.ADMIN)


async def customers(factory: Any, db: Any, org: uuid.UUID, count: int, credits: int = 10) -> list[Any]:
    # A few sign-ins at a time: in-flight sign-ins from one address count against its throttle.
    people: list[Any] = []
    while len(people) < count:
        people += await asyncio.gather(*(factory.user() for _ in range(min(4, count - len(people)))))
    for person in people:
        if credits:
            await grant(db, org, person.user_id, credits)
    return people


async def spends(admin_db: Any, org: uuid.UUID) -> list[Any]:
    return await admin_db.fetch("select user_id, amount, source_id from credit_transaction where organization_id = $1 "
                                "and kind = 'SPEND' order by created_at", org)


@pytest.mark.timeout(90)
async def test_one_hundred_concurrent_bookings_confirm_exactly_the_ten_seats(gql: Any, db: Any, admin_db: Any,
                                                                            factory: Any, actors: Actors) -> None:
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=10, creditPrice=3)
    people = await customers(factory, db, actors.org, 100, credits=5)

    answers = await asyncio.gather(*(book(gql, p.token, offering["id"], session["id"]) for p in people))
    assert all(a["errors"] == [] for a in answers), [a for a in answers if a["errors"]][:3]
    statuses = [a["booking"]["status"] for a in answers]
    assert statuses.count("CONFIRMED") == 10 and statuses.count("WAITLISTED") == 90
    assert await seats(admin_db, session["id"]) == 10

    rows = await booking_rows(admin_db, offering["id"])
    assert len(rows) == 100 and len({r["user_id"] for r in rows}) == 100
    confirmed = {r["user_id"] for r in rows if r["status"] == "CONFIRMED"}
    assert len(confirmed) == 10
    paid = await spends(admin_db, actors.org)
    assert len(paid) == 10 and {r["user_id"] for r in paid} == confirmed and all(r["amount"] == -3 for r in paid)
    for person in people:
        assert await balance(admin_db, actors.org, person.user_id) == (2 if person.user_id in confirmed else 5)
    assert all(r["credits_spent"] == (3 if r["status"] == "CONFIRMED" else 0) for r in rows)

    # The waitlist is in booking order, 1 to 90.
    waiting = [r for r in rows if r["status"] == "WAITLISTED"]
    by_user = {p.user_id: p for p in people}
    first, last = by_user[waiting[0]["user_id"]], by_user[waiting[-1]["user_id"]]
    positions = []
    for person in (first, last):
        data = await gql.ok("query { viewer { bookings(first: 5) { nodes { waitlistPosition } } } }", None,
                            person.token)
        positions.append(data["viewer"]["bookings"]["nodes"][0]["waitlistPosition"])
    assert positions == [1, 90]


@pytest.mark.timeout(60)
async def test_the_same_idempotency_key_sent_five_times_at_once_books_once(gql: Any, db: Any, admin_db: Any,
                                                                          factory: Any, actors: Actors) -> None:
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=10)
    [person] = await customers(factory, db, actors.org, 1)
    key = "retry-" + uuid.uuid4().hex
    answers = await asyncio.gather(*(book(gql, person.token, offering["id"], session["id"], key=key)
                                     for _ in range(5)))
    assert all(a["errors"] == [] for a in answers), answers
    assert len({a["booking"]["id"] for a in answers}) == 1
    assert {a["booking"]["status"] for a in answers} == {"CONFIRMED"}
    assert len(await booking_rows(admin_db, offering["id"])) == 1
    assert len(await spends(admin_db, actors.org)) == 1
    assert await balance(admin_db, actors.org, person.user_id) == 7
    assert await seats(admin_db, session["id"]) == 1

    # The key names this booking: used for another offering it is refused, nothing changed.
    other, [other_session] = await published_event(gql, actors.staff_with.token, capacity=10, title="Other")
    before = await state(admin_db)
    reused = await book(gql, person.token, other["id"], other_session["id"], key=key)
    assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"] and reused["booking"] is None
    assert await state(admin_db) == before


@pytest.mark.timeout(60)
async def test_a_cancellation_holds_the_seat_for_the_first_waiting_and_unused_holds_expire_once(
        gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors) -> None:
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=2, creditPrice=4)
    a, b, c, d, e = await customers(factory, db, actors.org, 5)
    booked = {}
    for person in (a, b, c, d, e):
        booked[person.user_id] = (await book(gql, person.token, offering["id"], session["id"]))["booking"]
    assert [booked[p.user_id]["status"] for p in (a, b, c, d, e)] == [
        "CONFIRMED", "CONFIRMED", "WAITLISTED", "WAITLISTED", "WAITLISTED"]
    assert [booked[p.user_id]["waitlistPosition"] for p in (c, d, e)] == [1, 2, 3]
    assert await balance(admin_db, actors.org, c.user_id) == 10  # waiting costs nothing

    # A cancels before the deadline: credits back, the seat held for C.
    cancelled = await cancel_booking(gql, a.token, booked[a.user_id]["id"])
    assert cancelled["errors"] == [] and cancelled["booking"]["status"] == "CANCELLED"
    assert await balance(admin_db, actors.org, a.user_id) == 10
    rows = {r["user_id"]: r for r in await booking_rows(admin_db, offering["id"])}
    assert rows[c.user_id]["status"] == "HELD" and rows[c.user_id]["hold_expires_at"] is not None
    assert rows[d.user_id]["status"] == "WAITLISTED"
    assert await seats(admin_db, session["id"]) == 2
    mine = (await gql.ok(MY_BOOKINGS, None, c.token))["viewer"]["bookings"]["nodes"]
    assert [n["status"] for n in mine] == ["HELD"]
    held = (await gql.ok(NODE, {"id": booked[c.user_id]["id"]}, c.token))["node"]
    assert held["bookingStatus"] == "HELD"

    # Nobody else takes the held seat.
    late = await customers(factory, db, actors.org, 1)
    queued = await book(gql, late[0].token, offering["id"], session["id"])
    assert queued["booking"]["status"] == "WAITLISTED" and queued["booking"]["waitlistPosition"] == 3

    # C books again: the held seat is confirmed and paid now.
    confirmed = await book(gql, c.token, offering["id"], session["id"])
    assert confirmed["errors"] == [] and confirmed["booking"]["id"] == booked[c.user_id]["id"]
    assert confirmed["booking"]["status"] == "CONFIRMED" and confirmed["booking"]["holdExpiresAt"] is None
    assert confirmed["booking"]["creditsSpent"] == 4
    assert await balance(admin_db, actors.org, c.user_id) == 6
    assert await seats(admin_db, session["id"]) == 2

    # B cancels: D is held, and lets the hold run out.
    await cancel_booking(gql, b.token, booked[b.user_id]["id"])
    rows = {r["user_id"]: r for r in await booking_rows(admin_db, offering["id"])}
    assert rows[d.user_id]["status"] == "HELD"
    due = rows[d.user_id]["hold_expires_at"]
    assert timedelta(hours=11) < due - utcnow() <= timedelta(hours=12)
    before = await state(admin_db)
    assert await jobs.expire_holds(db, now=due - timedelta(seconds=1)) == 0  # not yet
    assert await state(admin_db) == before

    runs = await asyncio.gather(jobs.expire_holds(db, now=due), jobs.expire_holds(db, now=due))
    assert sorted(runs) == [0, 1]
    rows = {r["user_id"]: r for r in await booking_rows(admin_db, offering["id"])}
    assert rows[d.user_id]["status"] == "EXPIRED" and rows[d.user_id]["hold_expires_at"] is None
    assert rows[e.user_id]["status"] == "HELD" and rows[e.user_id]["hold_expires_at"] > due
    assert rows[late[0].user_id]["status"] == "WAITLISTED"
    assert await seats(admin_db, session["id"]) == 2
    assert await balance(admin_db, actors.org, d.user_id) == 10  # never paid, never charged
    assert await jobs.expire_holds(db, now=due) == 0  # E's hold is not due then

    # D's expired hold cannot be confirmed any more; D may join the waitlist again.
    again = await book(gql, d.token, offering["id"], session["id"])
    assert again["booking"]["status"] == "WAITLISTED" and again["booking"]["id"] != booked[d.user_id]["id"]


async def test_cancellation_policy_and_cancelling_an_offering(gql: Any, db: Any, admin_db: Any, factory: Any,
                                                              actors: Actors) -> None:
    # The deadline (a year before a session three days away) has passed for every booking.
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=2, creditPrice=5,
                                                cancellationHours=8760)
    a, b, c = await customers(factory, db, actors.org, 3)
    booked = {p.user_id: (await book(gql, p.token, offering["id"], session["id"]))["booking"] for p in (a, b, c)}
    assert await balance(admin_db, actors.org, a.user_id) == 5

    # Someone else's booking: NOT_FOUND for another customer, a member without CONTENT_MANAGE and other staff.
    before = await state(admin_db)
    for token in (b.token, actors.staff_without.token, actors.other_staff.token):
        refused = await cancel_booking(gql, token, booked[a.user_id]["id"])
        assert codes(refused) == ["NOT_FOUND"] and refused["booking"] is None
    anonymous = await gql("mutation($i: BookingInput!) { cancelBooking(input: $i) { booking { id } } }",
                          {"i": {"bookingId": booked[a.user_id]["id"]}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await state(admin_db) == before

    # After the deadline the person's own cancellation keeps the credits.
    own = await cancel_booking(gql, a.token, booked[a.user_id]["id"])
    assert own["booking"]["status"] == "CANCELLED" and own["booking"]["cancelledAt"] is not None
    assert await balance(admin_db, actors.org, a.user_id) == 5
    again = await cancel_booking(gql, a.token, booked[a.user_id]["id"])
    assert again["errors"] == [] and again["booking"]["cancelledAt"] == own["booking"]["cancelledAt"]
    assert await balance(admin_db, actors.org, a.user_id) == 5
    rows = {r["user_id"]: r for r in await booking_rows(admin_db, offering["id"])}
    assert rows[c.user_id]["status"] == "HELD"

    # Staff cancelling gives the credits back whatever the deadline.
    by_staff = await cancel_booking(gql, actors.staff_with.token, booked[b.user_id]["id"])
    assert by_staff["errors"] == [] and by_staff["booking"]["status"] == "CANCELLED"
    assert await balance(admin_db, actors.org, b.user_id) == 10
    assert await admin_db.fetchval("select cancelled_by from booking where id = $1",
                                   raw_id(booked[b.user_id]["id"], "Booking")) == actors.staff_with.user_id

    # Cancelling the offering cancels every live booking (confirmed, held, waiting) and returns all credits.
    d, e = await customers(factory, db, actors.org, 2)
    await book(gql, c.token, offering["id"], session["id"])  # confirms the held seat, pays 5
    assert (await book(gql, d.token, offering["id"], session["id"]))["booking"]["status"] == "CONFIRMED"
    assert (await book(gql, e.token, offering["id"], session["id"]))["booking"]["status"] == "WAITLISTED"
    assert await balance(admin_db, actors.org, c.user_id) == 5
    refused = (await gql(CANCEL_OFFERING, {"input": {"offeringId": offering["id"]}}, actors.staff_without.token))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    done = (await gql.ok(CANCEL_OFFERING, {"input": {"offeringId": offering["id"]}},
                         actors.staff_with.token))["cancelOffering"]["offering"]
    assert done["status"] == "CANCELLED" and done["cancelledAt"] is not None
    statuses = {r["user_id"]: r["status"] for r in await booking_rows(admin_db, offering["id"])}
    assert statuses == {a.user_id: "CANCELLED", b.user_id: "CANCELLED", c.user_id: "CANCELLED",
                        d.user_id: "CANCELLED", e.user_id: "CANCELLED"}
    for person in (b, c, d, e):
        assert await balance(admin_db, actors.org, person.user_id) == 10
    assert await balance(admin_db, actors.org, a.user_id) == 5  # cancelled late before: stays spent
    assert await seats(admin_db, session["id"]) == 0
    mailed = await admin_db.fetch("select payload->>'booking_id' as booking from outbox_message where kind = 'job' "
                                  "and topic = 'booking_mail' and payload->>'kind' = 'booking.cancelled'")
    assert len(mailed) == 5 and len({m["booking"] for m in mailed}) == 5  # everyone emailed, once

    # A cancelled offering cannot be booked; cancelling it again changes nothing.
    before = await state(admin_db)
    late = await book(gql, d.token, offering["id"], session["id"])
    assert codes(late) == ["INVALID_STATE"] and late["booking"] is None
    again_done = (await gql.ok(CANCEL_OFFERING, {"input": {"offeringId": offering["id"]}},
                               actors.staff_with.token))["cancelOffering"]["offering"]
    assert again_done["cancelledAt"] == done["cancelledAt"]
    assert await state(admin_db) == before


async def test_bad_bookings_are_refused_and_change_nothing(gql: Any, db: Any, admin_db: Any, factory: Any,
                                                           actors: Actors) -> None:
    staff = actors.staff_with.token
    offering, [session] = await published_event(gql, staff, capacity=5, creditPrice=4)
    other, [other_session] = await published_event(gql, staff, capacity=5, title="Other")
    started = await add_session(gql, staff, offering["id"], soon(10))
    await admin_db.execute("update offering_session set starts_at = now() - interval '10 minutes', "
                           "ends_at = now() + interval '1 hour' where id = $1",
                           raw_id(started["id"], "OfferingSession"))
    draft = await create_offering(gql, staff, title="Draft")
    draft_session = await add_session(gql, staff, draft["id"], soon(4))
    no_credits = await create_offering(gql, staff, title="Cash only", creditPrice=None, priceCents=2500)
    cash_session = await add_session(gql, staff, no_credits["id"], soon(4))
    await publish(gql, staff, no_credits["id"])
    rich, poor = await customers(factory, db, actors.org, 2, credits=0)
    await grant(db, actors.org, rich.user_id, 20)
    await grant(db, actors.org, poor.user_id, 3)

    cases = [
        (rich, draft["id"], draft_session["id"], "CREDITS", "NOT_FOUND"),
        (rich, offering["id"], started["id"], "CREDITS", "INVALID_STATE"),
        (rich, offering["id"], other_session["id"], "CREDITS", "NOT_FOUND"),
        (rich, offering["id"], None, "CREDITS", "NOT_FOUND"),
        (rich, no_credits["id"], cash_session["id"], "CREDITS", "INVALID_STATE"),
        (rich, no_credits["id"], cash_session["id"], "PURCHASE", "INVALID_INPUT"),  # by card: no return URLs
        (rich, offering["id"], session["id"], "SUBSCRIPTION", "INVALID_STATE"),
        (poor, offering["id"], session["id"], "CREDITS", "INSUFFICIENT_CREDITS"),
    ]
    before = await state(admin_db)
    for person, offering_id, session_id, pay_with, code in cases:
        refused = await book(gql, person.token, offering_id, session_id, pay_with=pay_with)
        assert codes(refused) == [code], (offering_id, session_id, pay_with, refused)
        assert refused["booking"] is None
    assert await state(admin_db) == before
    assert await admin_db.fetchval("select count(*) from booking") == 0
    assert await balance(admin_db, actors.org, poor.user_id) == 3

    # A draft stays unknown to its own staff too (nothing can be booked before it is published).
    assert codes(await book(gql, staff, draft["id"], draft_session["id"])) == ["NOT_FOUND"]
    anonymous = await gql(BOOK, {"input": {"offeringId": offering["id"], "sessionId": session["id"],
                                           "payWith": "CREDITS", "idempotencyKey": "anon"}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    first = await book(gql, rich.token, offering["id"], session["id"])
    assert first["booking"]["status"] == "CONFIRMED"
    before = await state(admin_db)
    twice = await book(gql, rich.token, offering["id"], session["id"])
    assert codes(twice) == ["ALREADY_EXISTS"] and twice["booking"] is None
    assert await state(admin_db) == before
    bad_key = await book(gql, rich.token, offering["id"], session["id"], key="   ")
    assert codes(bad_key) == ["INVALID_INPUT"]
    assert await state(admin_db) == before

    # A free offering is booked with PURCHASE, no checkout and no credits.
    free = await create_offering(gql, staff, title="Free talk", creditPrice=None, priceCents=0)
    free_session = await add_session(gql, staff, free["id"], soon(4))
    await publish(gql, staff, free["id"])
    taken = await book(gql, poor.token, free["id"], free_session["id"], pay_with="PURCHASE")
    assert taken["errors"] == [] and taken["booking"]["status"] == "CONFIRMED"
    assert taken["booking"]["creditsSpent"] == 0 and await balance(admin_db, actors.org, poor.user_id) == 3


async def test_a_cohort_booking_holds_a_seat_in_every_session(gql: Any, db: Any, admin_db: Any, factory: Any,
                                                              actors: Actors) -> None:
    offering, sessions = await published_event(gql, actors.staff_with.token, capacity=2, sessions=3, type="COHORT",
                                               creditPrice=6)
    a, b, c = await customers(factory, db, actors.org, 3)
    first = await book(gql, a.token, offering["id"])
    assert first["errors"] == [] and first["booking"]["status"] == "CONFIRMED"
    assert first["booking"]["session"]["id"] == sessions[0]["id"]
    assert [await seats(admin_db, s["id"]) for s in sessions] == [1, 1, 1]
    assert await balance(admin_db, actors.org, a.user_id) == 4  # paid once for the whole cohort
    second = await book(gql, b.token, offering["id"])
    assert second["booking"]["status"] == "CONFIRMED"
    assert [await seats(admin_db, s["id"]) for s in sessions] == [2, 2, 2]
    third = await book(gql, c.token, offering["id"])
    assert third["booking"]["status"] == "WAITLISTED"
    assert codes(await book(gql, a.token, offering["id"])) == ["ALREADY_EXISTS"]

    await cancel_booking(gql, b.token, second["booking"]["id"])
    assert [await seats(admin_db, s["id"]) for s in sessions] == [2, 2, 2]  # held for C in every session
    rows = {r["user_id"]: r["status"] for r in await booking_rows(admin_db, offering["id"])}
    assert rows[c.user_id] == "HELD"
    await cancel_booking(gql, c.token, third["booking"]["id"])
    await cancel_booking(gql, a.token, first["booking"]["id"])
    assert [await seats(admin_db, s["id"]) for s in sessions] == [0, 0, 0]
    for person in (a, b, c):
        assert await balance(admin_db, actors.org, person.user_id) == 10

    # Once its first session has started a cohort is not bookable.
    await admin_db.execute("update offering_session set starts_at = now() - interval '1 minute' where id = $1",
                           raw_id(sessions[0]["id"], "OfferingSession"))
    late = await book(gql, a.token, offering["id"])
    assert codes(late) == ["INVALID_STATE"]


async def test_check_in_participants_viewer_bookings_and_rls(gql: Any, db: Any, admin_db: Any, factory: Any,
                                                             actors: Actors) -> None:
    offering, [session] = await published_event(gql, actors.staff_with.token, capacity=1)
    a, b = await customers(factory, db, actors.org, 2)
    mine = (await book(gql, a.token, offering["id"], session["id"]))["booking"]
    waiting = (await book(gql, b.token, offering["id"], session["id"]))["booking"]

    async def snapshot() -> Any:
        return await state(admin_db)

    # Participants: CUSTOMERS_READ of the offering's organization.
    results = await assert_authz_matrix(gql, actors, PARTICIPANTS, {"id": offering["id"], "session": None},
                                        path=["node", "participants"], allowed={"staff_with_permission"})
    listed = results["staff_with_permission"]["data"]["node"]["participants"]
    assert [(p["id"], p["status"], p["participant"]["email"]) for p in listed] == [
        (mine["id"], "CONFIRMED", a.email), (waiting["id"], "WAITLISTED", b.email)]
    one = await gql.ok(PARTICIPANTS, {"id": offering["id"], "session": session["id"]}, actors.staff_with.token)
    assert len(one["node"]["participants"]) == 2

    # Check-in: CONTENT_MANAGE; other organizations' staff find no such booking.
    matrix = without(actors, "other_org_staff")
    checked = await assert_authz_matrix(gql, matrix, CHECK_IN, {"input": {"bookingId": mine["id"]}},
                                        path=["checkInParticipant"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    at = checked["staff_with_permission"]["data"]["checkInParticipant"]["booking"]["checkedInAt"]
    assert at is not None
    before = await state(admin_db)
    other = (await gql(CHECK_IN, {"input": {"bookingId": mine["id"]}}, actors.other_staff.token))["data"]
    assert codes(other["checkInParticipant"]) == ["NOT_FOUND"]
    twice = (await gql.ok(CHECK_IN, {"input": {"bookingId": mine["id"]}}, actors.staff_with.token))
    assert twice["checkInParticipant"]["booking"]["checkedInAt"] == at
    not_confirmed = (await gql(CHECK_IN, {"input": {"bookingId": waiting["id"]}}, actors.staff_with.token))["data"]
    assert codes(not_confirmed["checkInParticipant"]) == ["INVALID_STATE"]
    assert await state(admin_db) == before

    # viewer { bookings }: one's own only.
    for person, expected in ((a, [mine["id"]]), (b, [waiting["id"]]), (actors.staff_with, [])):
        nodes = (await gql.ok(MY_BOOKINGS, None, person.token))["viewer"]["bookings"]
        assert [n["id"] for n in nodes["nodes"]] == expected and nodes["totalCount"] == len(expected)
        assert all(n["offering"]["id"] == offering["id"] for n in nodes["nodes"])

    # node(id:): the person and the organization's staff see a booking; nobody else does.
    assert (await gql.ok(NODE, {"id": mine["id"]}, a.token))["node"] == {
        "id": mine["id"], "bookingStatus": "CONFIRMED", "participant": {"email": a.email}}
    for token in (b.token, actors.other_staff.token, None):
        assert (await gql.ok(NODE, {"id": mine["id"]}, token))["node"] is None
    seen = (await gql.ok(NODE, {"id": mine["id"]}, actors.staff_with.token))["node"]
    assert seen["participant"] == {"email": a.email}
    member = (await gql.ok(NODE, {"id": mine["id"]}, actors.staff_without.token))["node"]
    assert member == {"id": mine["id"], "bookingStatus": "CONFIRMED", "participant": None}  # no CUSTOMERS_READ
    assert oid(offering["id"])


@pytest.mark.timeout(60)
async def test_concurrent_cohort_cancellations_and_bookings_keep_every_counter_exact(
        gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors) -> None:
    offering, sessions = await published_event(gql, actors.staff_with.token, capacity=4, sessions=3, type="COHORT",
                                               creditPrice=1)
    # The first session (the one bookings name) gets the highest id: cancelling locks the sessions in id order
    # like booking does, whichever session the booking names.
    ids = sorted(raw_id(s["id"], "OfferingSession") for s in sessions)
    for n, session_id in enumerate(reversed(ids)):
        await admin_db.execute("update offering_session set starts_at = $2::timestamptz, ends_at = $2::timestamptz + interval '1 hour' "
                               "where id = $1", session_id, soon(10 + n))
    people = await customers(factory, db, actors.org, 12)
    first = [(await book(gql, p.token, offering["id"]))["booking"] for p in people[:8]]
    assert [b["status"] for b in first] == ["CONFIRMED"] * 4 + ["WAITLISTED"] * 4
    moves = [cancel_booking(gql, p.token, b["id"]) for p, b in zip(people[:4], first[:4], strict=True)]
    moves += [book(gql, p.token, offering["id"]) for p in people[8:]]
    answers = await asyncio.gather(*moves)
    assert all(a["errors"] == [] for a in answers), answers
    rows = await booking_rows(admin_db, offering["id"])
    seated = [r for r in rows if r["status"] in ("CONFIRMED", "HELD")]
    assert len(seated) == 4
    assert [await admin_db.fetchval("select seats_taken from offering_session where id = $1", i) for i in ids] == [4] * 3
