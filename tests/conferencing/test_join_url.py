"""``OfferingSession.joinUrl`` (issue 19, item 4): the offering's staff and the people holding a confirmed seat
in the session (a cohort's: in any of its sessions) see it; anonymous visitors, customers who did not book (or
only wait, or cancelled, or booked another session) and other organizations' staff get null. The demo provider
(``CONFERENCING_PROVIDER=local``) makes the meetings here: a room page on this server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conferencing.support import JOIN, meeting_rows, run_meeting_jobs
from tests.offerings.support import (
    UPDATE,
    add_session,
    book,
    cancel_booking,
    create_offering,
    grant,
    publish,
    soon,
)
from tests.support import Actors, make_actors

SET_AVAILABILITY = """mutation($input: SetServiceAvailabilityInput!) { setServiceAvailability(input: $input) {
  errors { code field message } } }"""


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)


async def join_urls(gql: Any, offering: str, token: str | None) -> dict[str, Any]:
    body = await gql(JOIN, {"id": offering}, token)
    assert "errors" not in body, body
    return {s["id"]: s["joinUrl"] for s in body["data"]["node"]["sessions"]}


async def test_join_url_is_shown_to_staff_and_confirmed_participants_only(gql, http, db, admin_db, settings, factory,
                                                                          actors) -> None:
    staff = actors.staff_with.token
    offering = await create_offering(gql, staff, online=True, capacity=1)
    first = await add_session(gql, staff, offering["id"], soon(3))
    second = await add_session(gql, staff, offering["id"], soon(4))
    await publish(gql, staff, offering["id"])
    assert await run_meeting_jobs(admin_db, db, settings) == 2
    rows = {str(r["session_id"]): r for r in await meeting_rows(admin_db)}
    assert {r["provider"] for r in rows.values()} == {"LOCAL"}

    booked, waiting, other_session, cancelled = [await factory.user() for _ in range(4)]
    for person in (booked, waiting, other_session, cancelled):
        await grant(db, actors.org, person.user_id, 10)
    assert (await book(gql, booked.token, offering["id"], first["id"]))["booking"]["status"] == "CONFIRMED"
    assert (await book(gql, waiting.token, offering["id"], first["id"]))["booking"]["status"] == "WAITLISTED"
    mine = await book(gql, cancelled.token, offering["id"], second["id"])
    await cancel_booking(gql, cancelled.token, mine["booking"]["id"])
    assert (await book(gql, other_session.token, offering["id"], second["id"]))["booking"]["status"] == "CONFIRMED"

    staff_view = await join_urls(gql, offering["id"], staff)
    url_first, url_second = staff_view[first["id"]], staff_view[second["id"]]
    assert url_first.startswith("http://testserver/meet/") and url_first != url_second
    assert await join_urls(gql, offering["id"], actors.staff_without.token) == staff_view  # any staff member
    assert await join_urls(gql, offering["id"], booked.token) == {first["id"]: url_first, second["id"]: None}
    assert await join_urls(gql, offering["id"], other_session.token) == {first["id"]: None, second["id"]: url_second}
    nothing = {first["id"]: None, second["id"]: None}
    for token in (None, actors.customer.token, actors.other_staff.token, waiting.token, cancelled.token):
        assert await join_urls(gql, offering["id"], token) == nothing
    page = await http.get(url_first.removeprefix("http://testserver"))
    assert page.status_code == 200 and "Demo meeting room" in page.text


async def test_a_cohort_participant_sees_every_session_s_join_url(gql, db, admin_db, settings, factory,
                                                                  actors) -> None:
    staff = actors.staff_with.token
    cohort = await create_offering(gql, staff, type="COHORT", online=True, capacity=5)
    sessions = [await add_session(gql, staff, cohort["id"], soon(3 + n)) for n in range(3)]
    await publish(gql, staff, cohort["id"])
    assert await run_meeting_jobs(admin_db, db, settings) == 3
    person = await factory.user()
    await grant(db, actors.org, person.user_id, 10)
    assert (await book(gql, person.token, cohort["id"]))["booking"]["status"] == "CONFIRMED"
    seen = await join_urls(gql, cohort["id"], person.token)
    assert set(seen) == {s["id"] for s in sessions} and all(seen.values())
    assert set((await join_urls(gql, cohort["id"], actors.customer.token)).values()) == {None}


async def test_no_meeting_when_the_server_makes_none_and_nothing_is_connected(gql, db, admin_db, settings,
                                                                              actors) -> None:
    quiet = settings.model_copy(update={"conferencing_provider": "none"})
    offering = await create_offering(gql, actors.staff_with.token, online=True)
    await add_session(gql, actors.staff_with.token, offering["id"], soon(3))
    await publish(gql, actors.staff_with.token, offering["id"])
    assert await run_meeting_jobs(admin_db, db, quiet) == 0
    assert await meeting_rows(admin_db) == []
    assert set((await join_urls(gql, offering["id"], actors.staff_with.token)).values()) == {None}


async def test_a_booked_service_slot_and_an_offering_moved_online_get_their_meetings(gql, db, admin_db, settings,
                                                                                    factory, actors) -> None:
    staff = actors.staff_with.token
    coaching = (await create_offering(gql, staff, type="SERVICE", title="Coaching", capacity=1, timeZone="UTC",
                                      online=True))["id"]
    weekly = [{"day": d, "start": "09:00", "end": "12:00"} for d in
              ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")]
    body = await gql(SET_AVAILABILITY, {"input": {"offeringId": coaching, "weekly": weekly, "slotMinutes": 60}}, staff)
    assert body["data"]["setServiceAvailability"]["errors"] == []
    await publish(gql, staff, coaching)
    person = await factory.user()
    await grant(db, actors.org, person.user_id, 10)
    slot = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    booked = await book(gql, person.token, coaching, slotStart=slot.isoformat())
    assert booked["booking"]["status"] == "CONFIRMED", booked
    assert await run_meeting_jobs(admin_db, db, settings) == 1  # the slot's session, queued by the booking
    assert list((await join_urls(gql, coaching, person.token)).values())[0].startswith("http://testserver/meet/")

    event = await create_offering(gql, staff, online=False, title="In the hall")
    await add_session(gql, staff, event["id"], soon(3))
    await publish(gql, staff, event["id"])
    assert await run_meeting_jobs(admin_db, db, settings) == 0
    await gql.ok(UPDATE, {"input": {"offeringId": event["id"], "online": True}}, staff)
    assert await run_meeting_jobs(admin_db, db, settings) == 1
    assert all((await join_urls(gql, event["id"], staff)).values())
