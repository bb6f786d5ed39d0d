"""Calendars (issue 19, item 5): a person's iCalendar feed (their confirmed and held bookings' sessions in every
organization, a cohort's every session) and an offering's feed, parsed with icalendar: stable UIDs, times in the
offering's zone across a daylight-saving change, cancelled sessions marked; forged, foreign and rotated tokens
refused alike with nothing leaked; the .ics attached to the confirmation mail."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.offerings import bookings, calendar
from tests.offerings.calendar_support import (
    Worker,
    attachments,
    calendar_of,
    dst_days,
    events_by_uid,
    load_offering_actors,
    local,
)
from tests.offerings.support import (
    CANCEL_OFFERING,
    add_session,
    book,
    cancel_booking,
    create_offering,
    grant,
    publish,
    published_event,
    raw_id,
    soon,
)
from tests.support import Actors, make_actors

FEED = "query { viewer { calendarFeedUrl } }"
OFFERING_FEED = "query($id: ID!) { node(id: $id) { ... on Offering { calendarFeedUrl } } }"
ROTATE = """mutation($input: RotateCalendarFeedInput) { rotateCalendarFeed(input: $input) {
  errors { code field message } calendarFeedUrl } }"""


@pytest.fixture
def offering_actors(settings: Any) -> Any:
    return load_offering_actors(settings)


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory, with_role=OrgRole.ADMIN)


def path_of(url: str) -> str:
    assert url.startswith("http://testserver/"), url
    return url.removeprefix("http://testserver")


async def feed_url(gql: Any, token: str) -> str:
    return (await gql.ok(FEED, {}, token))["viewer"]["calendarFeedUrl"]


async def fetch(http: Any, url: str) -> Any:
    return await http.get(path_of(url))


def uid(session: dict[str, Any]) -> str:
    return f"{raw_id(session['id'], 'OfferingSession')}@testserver"


async def test_a_persons_feed_lists_their_booked_sessions_in_every_organization_across_a_dst_change(
        gql: Any, http: Any, db: Any, factory: Any, actors: Actors) -> None:
    staff, customer = actors.staff_with.token, actors.customer
    await grant(db, actors.org, customer.user_id, 50)
    before, after = dst_days()
    workshop = await create_offering(gql, staff, title="Spring workshop", location="Studio 4, Berlin")
    first = await add_session(gql, staff, workshop["id"], local(before, 10).astimezone(UTC), hours=2)
    second = await add_session(gql, staff, workshop["id"], local(after, 10).astimezone(UTC), hours=2)
    unbooked = await add_session(gql, staff, workshop["id"], local(after, 15).astimezone(UTC))
    await publish(gql, staff, workshop["id"])
    cohort = await create_offering(gql, staff, type="COHORT", title="Six weeks", online=True)
    cohort_sessions = [await add_session(gql, staff, cohort["id"], soon(10 + 7 * n)) for n in range(3)]
    await publish(gql, staff, cohort["id"])
    cancelled = await create_offering(gql, staff, title="Changed my mind")
    dropped = await add_session(gql, staff, cancelled["id"], soon(6))
    await publish(gql, staff, cancelled["id"])
    # Another organization sells the customer a session too.
    other = await create_offering(gql, actors.other_staff.token, title="Elsewhere", timeZone="America/New_York")
    elsewhere = await add_session(gql, actors.other_staff.token, other["id"], soon(5))
    await publish(gql, actors.other_staff.token, other["id"])
    await grant(db, actors.other_org, customer.user_id, 10)

    for offering, session in ((workshop, first), (workshop, second), (other, elsewhere), (cancelled, dropped)):
        assert (await book(gql, customer.token, offering["id"], session["id"]))["errors"] == []
    assert (await book(gql, customer.token, cohort["id"]))["errors"] == []
    gone = (await book(gql, customer.token, cancelled["id"], (await add_session(
        gql, staff, cancelled["id"], soon(7)))["id"]))["booking"]
    assert (await cancel_booking(gql, customer.token, gone["id"]))["errors"] == []
    # Someone else's booking never shows in this feed.
    stranger = await factory.user()
    await grant(db, actors.org, stranger.user_id, 10)
    await book(gql, stranger.token, workshop["id"], unbooked["id"])

    response = await fetch(http, await feed_url(gql, customer.token))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    cal = calendar_of(response.content)
    found = events_by_uid(cal)
    expected = [first, second, elsewhere, dropped, *cohort_sessions]
    assert set(found) == {uid(s) for s in expected}
    assert uid(unbooked) not in found
    # Times: 10:00 in Berlin on both sides of the change, so 09:00 UTC before it and 08:00 UTC after it.
    early, late = found[uid(first)], found[uid(second)]
    for event, day in ((early, before), (late, after)):
        start = event.decoded("DTSTART")
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert (start.hour, start.minute, start.date()) == (10, 0, day)
        assert start.astimezone(UTC) == local(day, 10).astimezone(UTC)
        assert event.decoded("DTEND") - start == timedelta(hours=2)
        assert str(event["SUMMARY"]) == "Spring workshop" and str(event["LOCATION"]) == "Studio 4, Berlin"
        assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 0
    assert early.decoded("DTSTART").utcoffset() != late.decoded("DTSTART").utcoffset()
    assert {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")} == {"Europe/Berlin", "America/New_York"}
    assert str(found[uid(cohort_sessions[0])]["LOCATION"]) == "Online"
    assert found[uid(elsewhere)].decoded("DTSTART").tzinfo.key == "America/New_York"
    # The same feed fetched again is the same document (stable UIDs and stamps: calendar apps see no change).
    assert (await fetch(http, await feed_url(gql, customer.token))).content == response.content

    # Cancelling the offering marks its session cancelled in the feed (the booking is cancelled too, so it
    # leaves the person's feed; the offering's own feed keeps it, marked).
    offering_url = (await gql.ok(OFFERING_FEED, {"id": cancelled["id"]}, None))["node"]["calendarFeedUrl"]
    await gql.ok(CANCEL_OFFERING, {"input": {"offeringId": cancelled["id"]}}, staff)
    mine = events_by_uid(calendar_of((await fetch(http, await feed_url(gql, customer.token))).content))
    assert uid(dropped) not in mine and uid(first) in mine
    public = events_by_uid(calendar_of((await fetch(http, offering_url)).content))
    assert str(public[uid(dropped)]["STATUS"]) == "CANCELLED" and int(public[uid(dropped)]["SEQUENCE"]) == 1


async def test_an_offerings_feed_is_public_once_published(gql: Any, http: Any, actors: Actors) -> None:
    staff = actors.staff_with.token
    draft = await create_offering(gql, staff, title="Not yet")
    await add_session(gql, staff, draft["id"], soon(4))
    assert (await gql.ok(OFFERING_FEED, {"id": draft["id"]}, staff))["node"]["calendarFeedUrl"] is None
    # A correctly signed token of a draft is still not served.
    draft_url = calendar.offering_feed_url("http://testserver", "test-secret-key-not-for-production",
                                           raw_id(draft["id"], "Offering"))
    refused = await fetch(http, draft_url)
    assert (refused.status_code, refused.text) == (404, "not found")
    offering, sessions = await published_event(gql, staff, sessions=2, title="Concert")
    url = (await gql.ok(OFFERING_FEED, {"id": offering["id"]}, None))["node"]["calendarFeedUrl"]
    response = await fetch(http, url)
    assert response.status_code == 200
    found = events_by_uid(calendar_of(response.content))
    assert set(found) == {uid(s) for s in sessions}
    assert all(str(e["SUMMARY"]) == "Concert" for e in found.values())


async def test_forged_foreign_and_rotated_feed_tokens_are_refused_alike(gql: Any, http: Any, db: Any,
                                                                        actors: Actors) -> None:
    customer = actors.customer
    await grant(db, actors.org, customer.user_id, 10)
    offering, sessions = await published_event(gql, actors.staff_with.token, title="Secret title")
    await book(gql, customer.token, offering["id"], sessions[0]["id"])
    url = await feed_url(gql, customer.token)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    user_hex, version, mac = token.split(".")
    other = actors.staff_without
    offering_token = calendar.offering_token("test-secret-key-not-for-production", raw_id(offering["id"], "Offering"))
    bad = [
        f"{user_hex}.{version}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # a changed signature
        f"{other.user_id.hex}.{version}.{mac}",  # someone else's id with this signature
        f"{user_hex}.{int(version) + 1}.{mac}",  # another version with this signature
        f"{user_hex}.0{version}.{mac}",  # the same version spelled otherwise
        calendar.user_token("another-secret", customer.user_id, int(version)),  # signed with another key
        offering_token,  # an offering's token on the person's route
        f"{uuid.uuid4().hex}.1.{mac}", "garbage", "..", f"{user_hex}.{version}",
    ]
    for forged in bad:
        response = await http.get(f"/calendars/user/{forged}.ics")
        assert (response.status_code, response.text) == (404, "not found"), forged
    person_on_offering_route = await http.get(f"/calendars/offering/{token}.ics")
    assert (person_on_offering_route.status_code, person_on_offering_route.text) == (404, "not found")

    # Rotating ends the old URL at once; a retry naming the old URL rotates nothing more.
    anonymous = await gql(ROTATE, {"input": None}, None)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await fetch(http, url)).status_code == 200
    rotated = (await gql.ok(ROTATE, {"input": {"currentUrl": url}}, customer.token))["rotateCalendarFeed"]
    new_url = rotated["calendarFeedUrl"]
    assert new_url != url and new_url == await feed_url(gql, customer.token)
    gone = await fetch(http, url)
    assert (gone.status_code, gone.text) == (404, "not found")
    assert "Secret title" in (await fetch(http, new_url)).text
    retried = (await gql.ok(ROTATE, {"input": {"currentUrl": url}}, customer.token))["rotateCalendarFeed"]
    assert retried["calendarFeedUrl"] == new_url
    again = (await gql.ok(ROTATE, {"input": None}, customer.token))["rotateCalendarFeed"]["calendarFeedUrl"]
    assert again not in (url, new_url) and (await fetch(http, new_url)).status_code == 404
    # Another person's rotation does not touch this feed.
    await gql.ok(ROTATE, {"input": None}, other.token)
    assert (await fetch(http, again)).status_code == 200


async def test_the_confirmation_mail_carries_the_sessions_as_an_ics(gql: Any, db: Any, app: Any, admin_db: Any,
                                                                     actors: Actors, offering_actors: Any,
                                                                     mailbox: Any, monkeypatch: Any) -> None:
    worker = Worker(app, admin_db, offering_actors, mailbox, monkeypatch)
    customer = actors.customer
    await grant(db, actors.org, customer.user_id, 20)
    offering, sessions = await published_event(gql, actors.staff_with.token, sessions=2, title="Pottery")
    await book(gql, customer.token, offering["id"], sessions[1]["id"])
    cohort = await create_offering(gql, actors.staff_with.token, type="COHORT", title="Course")
    course = [await add_session(gql, actors.staff_with.token, cohort["id"], soon(8 + n)) for n in range(3)]
    await publish(gql, actors.staff_with.token, cohort["id"])
    await book(gql, customer.token, cohort["id"])

    assert await worker.run(bookings.MAIL_ACTOR, offering_actors.booking_mail) == 2
    received = await mailbox.wait_for(customer.email, 2)
    by_subject = {m.message["Subject"]: m.message for m in received}
    pottery = attachments(by_subject["Your booking is confirmed: Pottery"])
    assert [(a.get_content_type(), a.get_filename(), a.get_param("method")) for a in pottery] == [
        ("text/calendar", "invite.ics", "PUBLISH")]
    cal = calendar_of(pottery[0].get_content().encode() if isinstance(pottery[0].get_content(), str)
                      else pottery[0].get_content())
    assert str(cal["METHOD"]) == "PUBLISH"
    found = events_by_uid(cal)
    assert list(found) == [uid(sessions[1])]  # the booked session only, with the feed's UID
    event = found[uid(sessions[1])]
    assert event.decoded("DTSTART").astimezone(UTC).isoformat() == sessions[1]["startsAt"].replace("Z", "+00:00")
    course_ics = attachments(by_subject["Your booking is confirmed: Course"])[0].get_content()
    assert set(events_by_uid(calendar_of(course_ics))) == {uid(s) for s in course}

    # The cancellation mail cancels the same event (METHOD:CANCEL, the same UID, a higher SEQUENCE); running the
    # jobs again sends nothing more.
    booking = (await book(gql, customer.token, offering["id"], sessions[0]["id"]))["booking"]
    await cancel_booking(gql, customer.token, booking["id"])
    await worker.run(bookings.MAIL_ACTOR, offering_actors.booking_mail)
    received = await mailbox.wait_for(customer.email, 4)
    cancelled = [m for m in received if m.message["Subject"].startswith("Your booking is cancelled")]
    assert len(cancelled) == 1
    [cancel_ics] = attachments(cancelled[0].message)
    assert (cancel_ics.get_filename(), cancel_ics.get_param("method")) == ("cancel.ics", "CANCEL")
    content = cancel_ics.get_content()
    cancel_cal = calendar_of(content.encode() if isinstance(content, str) else content)
    assert str(cancel_cal["METHOD"]) == "CANCEL"
    [(cancelled_uid, cancelled_event)] = events_by_uid(cancel_cal).items()
    assert cancelled_uid == uid(sessions[0]) and str(cancelled_event["STATUS"]) == "CANCELLED"
    assert int(cancelled_event["SEQUENCE"]) > int(event["SEQUENCE"])
    await worker.run(bookings.MAIL_ACTOR, offering_actors.booking_mail)
    assert len(mailbox.to(customer.email)) == 4
