"""Portal announcements are mailed by one job to every participant at send time, exactly once each: the job run
twice in a row and twice at once sends one mail per participant (to a real SMTP server), none to a waitlisted or
cancelled booker; a failed send gives the claim back so the retry sends it, and a claim left by a crashed runner
is taken over once its lease is over."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.db import utcnow
from codex_graphql.mail import SmtpMailer
from codex_graphql.offerings import portal_jobs, portal_service
from tests.offerings.portal_support import ANNOUNCE
from tests.offerings.support import book, cancel_booking, published_event
from tests.support import Actors, make_actors


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory, with_role=OrgRole.ADMIN)


@pytest.fixture
def announcement_actors(settings: Any, app: Any, mailbox: Any, monkeypatch: Any) -> Any:
    from workers.broker import setup_broker

    setup_broker(settings.model_copy(update={"redis_url": None}))  # before the actors module binds to a broker
    from workers import offering_actors

    services = app.state.runtime["services"]
    runtime = SimpleNamespace(db=services.db, storage=services.storage, settings=services.settings,
                              mailer=SmtpMailer(mailbox.url, "codex@example.com"))
    monkeypatch.setattr(offering_actors, "runtime", lambda: runtime)
    return offering_actors


async def jobs(admin_db: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = await admin_db.fetch("select id, payload from outbox_message where kind = 'job' and topic = $1 "
                                "order by created_at, id", portal_service.ANNOUNCEMENT_ACTOR)
    return [(str(r["id"]), json.loads(r["payload"])) for r in rows]


async def run(actors_module: Any, job: tuple[str, dict[str, Any]]) -> None:
    job_id, payload = job
    await actors_module.offering_announcement_mail.fn.__wrapped__(job_id=job_id, **payload)


async def test_an_announcement_is_mailed_once_to_each_participant_however_often_the_job_runs(
        gql: Any, admin_db: Any, factory: Any, actors: Actors, mailbox: Any, announcement_actors: Any) -> None:
    staff = actors.staff_with.token
    offering, [seat] = await published_event(gql, staff, capacity=2)
    first, second, waiting, cancelled = [await factory.user() for _ in range(4)]
    quitter = await book(gql, cancelled.token, offering["id"], seat["id"], pay_with="PURCHASE")
    assert (await cancel_booking(gql, cancelled.token, quitter["booking"]["id"]))["errors"] == []
    for person, status in ((first, "CONFIRMED"), (second, "CONFIRMED"), (waiting, "WAITLISTED")):
        booked = await book(gql, person.token, offering["id"], seat["id"], pay_with="PURCHASE")
        assert booked["booking"]["status"] == status

    body = "Bring a laptop.\nDoors open at 9."
    posted = await gql.ok(ANNOUNCE, {"input": {"offeringId": offering["id"], "title": "Practical details",
                                               "body": body}}, staff)
    assert posted["postOfferingAnnouncement"]["announcement"]["body"] == body
    [job] = await jobs(admin_db)  # one job for everyone
    # Two runners at once: one may find the other's claims still unsent and ask to be retried.
    outcomes = await asyncio.gather(run(announcement_actors, job), run(announcement_actors, job),
                                    return_exceptions=True)
    assert all(o is None or isinstance(o, announcement_actors.AnnouncementPending) for o in outcomes), outcomes
    await run(announcement_actors, job)  # that retry
    await run(announcement_actors, job)  # a redelivery
    for person in (first, second):
        [mail] = await mailbox.wait_for(person.email, 1)
        assert "Practical details" in mail.message["Subject"] and "Doors open at 9." in mail.text
    assert {m.envelope_to[0] for m in mailbox.received} == {first.email, second.email}
    assert len(mailbox.received) == 2
    rows = await admin_db.fetch("select user_id, sent_at from offering_announcement_delivery order by user_id")
    assert sorted(r["user_id"] for r in rows) == sorted([first.user_id, second.user_id])
    assert all(r["sent_at"] is not None for r in rows)


class FlakyMailer:
    """Fails the first send, then delivers through ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    async def send(self, mail: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("SMTP down")
        await self.inner.send(mail)


async def test_a_failed_send_is_retried_and_a_crashed_claim_is_taken_over(
        gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors, mailbox: Any) -> None:
    staff = actors.staff_with.token
    offering, [seat] = await published_event(gql, staff)
    person = await factory.user()
    assert (await book(gql, person.token, offering["id"], seat["id"], pay_with="PURCHASE"))["errors"] == []
    await gql.ok(ANNOUNCE, {"input": {"offeringId": offering["id"], "title": "Hello", "body": "Welcome"}}, staff)
    [(_job_id, payload)] = await jobs(admin_db)
    org, announcement = uuid.UUID(payload["announcement_organization_id"]), uuid.UUID(payload["announcement_id"])
    flaky = FlakyMailer(SmtpMailer(mailbox.url, "codex@example.com"))
    with pytest.raises(ConnectionError):
        await portal_jobs.deliver(db, flaky.send, org, announcement, "http://testserver/")
    assert await admin_db.fetchval("select count(*) from offering_announcement_delivery") == 0  # claim given back
    done = await portal_jobs.deliver(db, flaky.send, org, announcement, "http://testserver/")
    assert (done.sent, done.pending) == (1, 0) and len(mailbox.to(person.email)) == 1

    # A runner that claimed and crashed before sending: others skip the claim until its lease is over.
    await admin_db.execute("update offering_announcement_delivery set sent_at = null, claimed_at = now()")
    skipped = await portal_jobs.deliver(db, flaky.send, org, announcement, "http://testserver/")
    assert (skipped.sent, skipped.pending) == (0, 1)
    later = await portal_jobs.deliver(db, flaky.send, org, announcement, "http://testserver/",
                                      now=lambda: utcnow() + portal_jobs.LEASE + timedelta(seconds=1))
    assert (later.sent, later.pending) == (1, 0)
    assert len(mailbox.to(person.email)) == 2  # the crashed runner's mail never went out; this one did
