"""Reminders (issue 19, item 5): 24 hours and 1 hour before each session, exactly once per person, session and
lead time with two job runners racing and with the job run again; skipped for cancelled, waitlisted and held
bookings and cancelled sessions; a late booking gets the 1-hour reminder only; a cohort is reminded of every
session; the mail job sends nothing when the booking was cancelled after the claim."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.db import Database
from codex_graphql.offerings import reminders
from codex_graphql.settings import Settings
from tests.offerings.calendar_support import (
    Worker,
    attachments,
    calendar_of,
    events_by_uid,
    load_offering_actors,
)
from tests.offerings.support import (
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


@pytest.fixture
def offering_actors(settings: Any) -> Any:
    return load_offering_actors(settings)


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory, with_role=OrgRole.ADMIN)


async def claimed(admin_db: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await admin_db.fetch(
        "select booking_id, session_id, lead_minutes from booking_reminder order by booking_id, session_id, "
        "lead_minutes")]


async def reminder_jobs(admin_db: Any) -> list[tuple[str, str, int]]:
    rows = await admin_db.fetch("select payload from outbox_message where kind = 'job' and topic = $1",
                                reminders.REMINDER_ACTOR)
    return sorted((p["booking_id"], p["session_id"], p["lead_minutes"]) for p in (json.loads(r["payload"])
                                                                                 for r in rows))


def starts(session: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(session["startsAt"].replace("Z", "+00:00"))


def sid(session: dict[str, Any]) -> str:
    return str(raw_id(session["id"], "OfferingSession"))


def bid(booking: dict[str, Any]) -> str:
    return str(raw_id(booking["id"], "Booking"))


@pytest.mark.timeout(120)
async def test_two_runners_racing_send_each_reminder_once(gql: Any, db: Any, admin_db: Any, factory: Any,
                                                          actors: Actors, api_database_url: str) -> None:
    staff = actors.staff_with.token
    offering, (session,) = await published_event(gql, staff, capacity=30, title="Big talk")
    people = [await factory.user() for _ in range(12)]
    booked = []
    for person in people:
        await grant(db, actors.org, person.user_id, 5)
        booked.append((await book(gql, person.token, offering["id"], session["id"]))["booking"])
    start = starts(session)
    second = Database(Settings(database_url=api_database_url).database_url or "", pool_size=4, max_overflow=2)
    try:
        day_before = start - timedelta(hours=23)
        counts = await asyncio.gather(reminders.send_due(db, now=day_before, batch=5),
                                      reminders.send_due(second, now=day_before, batch=5))
        assert sum(counts) == 12
        assert await reminder_jobs(admin_db) == sorted((bid(b), sid(session), 1440) for b in booked)
        # Run again, and again racing: nothing more.
        assert await reminders.send_due(db, now=day_before + timedelta(minutes=5)) == 0
        hour_before = start - timedelta(minutes=50)
        counts = await asyncio.gather(*(reminders.send_due(d, now=hour_before, batch=3) for d in (db, second, db)))
        assert sum(counts) == 12
        assert await asyncio.gather(reminders.send_due(db, now=hour_before), reminders.send_due(second,
                                                                                                now=hour_before)) == [0, 0]
    finally:
        await second.dispose()
    expected = sorted((bid(b), sid(session), lead) for b in booked for lead in (60, 1440))
    assert await reminder_jobs(admin_db) == expected
    assert len(await claimed(admin_db)) == 24
    # After the start nothing is due any more.
    assert await reminders.send_due(db, now=start + timedelta(minutes=1)) == 0


async def test_who_is_reminded_of_what(gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors) -> None:
    staff = actors.staff_with.token
    offering, (full,) = await published_event(gql, staff, capacity=1, title="Tiny")
    seated, waiting, leaving = await factory.user(), await factory.user(), await factory.user()
    for person in (seated, waiting, leaving):
        await grant(db, actors.org, person.user_id, 20)
    kept = (await book(gql, seated.token, offering["id"], full["id"]))["booking"]
    queued = (await book(gql, waiting.token, offering["id"], full["id"]))["booking"]
    assert queued["status"] == "WAITLISTED"
    # A second session, booked then cancelled; a third one, cancelled by staff (straight in the table: there is
    # no mutation for it yet).
    other = await add_session(gql, staff, offering["id"], starts(full) + timedelta(hours=3), capacity=5)
    gone = (await book(gql, leaving.token, offering["id"], other["id"]))["booking"]
    await cancel_booking(gql, leaving.token, gone["id"])
    dropped = await add_session(gql, staff, offering["id"], starts(full) + timedelta(hours=5), capacity=5)
    await book(gql, leaving.token, offering["id"], dropped["id"])
    await admin_db.execute("update offering_session set cancelled_at = now() where id = $1",
                           raw_id(dropped["id"], "OfferingSession"))
    # A cohort: its booking is reminded of each of its sessions.
    cohort = await create_offering(gql, staff, type="COHORT", title="Course")
    course = [await add_session(gql, staff, cohort["id"], starts(full) + timedelta(days=1, hours=2 * n))
              for n in range(3)]
    await publish(gql, staff, cohort["id"])
    student = (await book(gql, seated.token, cohort["id"]))["booking"]

    await reminders.send_due(db, now=starts(full) - timedelta(hours=23, minutes=30))
    assert await reminder_jobs(admin_db) == [(bid(kept), sid(full), 1440)]
    # Every later minute where one of the skipped ones would be due (24 hours, then 1 hour before each).
    for offset in (timedelta(hours=-19), timedelta(minutes=-30), timedelta(hours=2, minutes=30),
                   timedelta(hours=4, minutes=30), timedelta(hours=5)):
        await reminders.send_due(db, now=starts(full) + offset)
    for session in course:
        await reminders.send_due(db, now=starts(session) - timedelta(minutes=10))
    # Nothing for the waitlisted, the cancelled booking or the cancelled session; each cohort session twice.
    assert await reminder_jobs(admin_db) == sorted([(bid(kept), sid(full), 1440), (bid(kept), sid(full), 60)] + [
        (bid(student), sid(s), lead) for s in course for lead in (60, 1440)])
    assert len(await claimed(admin_db)) == 8


async def test_late_bookings_and_late_runs_get_only_the_reminder_still_ahead(gql: Any, db: Any, admin_db: Any,
                                                                             actors: Actors) -> None:
    staff, customer = actors.staff_with.token, actors.customer
    await grant(db, actors.org, customer.user_id, 20)
    offering, (early, late) = await published_event(gql, staff, sessions=2, title="Talk")
    made_early = (await book(gql, customer.token, offering["id"], early["id"]))["booking"]
    made_late = (await book(gql, customer.token, offering["id"], late["id"]))["booking"]
    # Booked 30 minutes before the session: only the 1-hour reminder.
    await admin_db.execute("update booking set created_at = $2 where id = $1", raw_id(made_late["id"], "Booking"),
                           starts(late) - timedelta(minutes=30))
    await reminders.send_due(db, now=starts(late) - timedelta(minutes=25))
    # The job was down for a day: at 30 minutes before the early session, only its 1-hour reminder is sent.
    await reminders.send_due(db, now=starts(early) - timedelta(minutes=30))
    assert await reminder_jobs(admin_db) == sorted([(bid(made_late), sid(late), 60), (bid(made_early), sid(early), 60)])
    # A booking made 10 hours before gets no 24-hour reminder either.
    assert await reminders.send_due(db, now=starts(late) - timedelta(hours=10)) == 0


async def test_the_reminder_mail_is_sent_once_and_not_after_a_cancellation(
        gql: Any, db: Any, app: Any, admin_db: Any, factory: Any, actors: Actors, offering_actors: Any,
        mailbox: Any, monkeypatch: Any) -> None:
    worker = Worker(app, admin_db, offering_actors, mailbox, monkeypatch)
    staff = actors.staff_with.token
    offering = await create_offering(gql, staff, title="Yoga", location="Hall 2")
    session = await add_session(gql, staff, offering["id"], soon(3))
    await publish(gql, staff, offering["id"])
    stays, leaves = actors.customer, await factory.user()
    for person in (stays, leaves):
        await grant(db, actors.org, person.user_id, 10)
    await book(gql, stays.token, offering["id"], session["id"])
    leaving = (await book(gql, leaves.token, offering["id"], session["id"]))["booking"]
    assert await reminders.send_due(db, now=starts(session) - timedelta(minutes=45)) == 2
    await cancel_booking(gql, leaves.token, leaving["id"])  # after the claim, before the mail job runs
    assert await worker.run(reminders.REMINDER_ACTOR, offering_actors.booking_reminder_mail) == 2
    assert await worker.run(reminders.REMINDER_ACTOR, offering_actors.booking_reminder_mail) == 2  # replayed
    (mail,) = await mailbox.wait_for(stays.email)
    assert mail.message["Subject"] == "Starting in 1 hour: Yoga"
    assert "Where: Hall 2" in mail.message.get_body(("plain",)).get_content()
    (ics,) = attachments(mail.message)
    assert list(events_by_uid(calendar_of(ics.get_content()))) == [f"{sid(session)}@testserver"]
    await asyncio.sleep(0.2)
    assert mailbox.to(leaves.email) == [] and len(mailbox.to(stays.email)) == 1
