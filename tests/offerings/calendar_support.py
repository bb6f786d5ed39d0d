"""Helpers of the calendar, reminder and export tests: the offering actors run the way a worker runs them
(outbox payloads as arguments, mail to a local SMTP server), .ics parsing and a DST-straddling pair of days."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from codex_graphql.db import utcnow
from codex_graphql.mail import SmtpMailer


def load_offering_actors(settings: Any) -> Any:
    """workers.offering_actors, bound to a stub broker (the fixture ``offering_actors`` of the test modules)."""
    from workers.broker import setup_broker

    setup_broker(settings.model_copy(update={"redis_url": None}))  # before the actors module binds to a broker
    from workers import offering_actors

    return offering_actors


class Worker:
    """Runs the offering mail jobs found in the outbox, each at most once per call of ``run``."""

    def __init__(self, app: Any, admin_db: Any, actors: Any, mailbox: Any, monkeypatch: Any) -> None:
        services = app.state.runtime["services"]
        self.admin_db, self.actors, self.mailbox = admin_db, actors, mailbox
        self.runtime = SimpleNamespace(db=services.db, storage=services.storage, settings=services.settings,
                                       mailer=SmtpMailer(mailbox.url, "codex@example.com"))
        monkeypatch.setattr(actors, "runtime", lambda: self.runtime)

    async def jobs(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.admin_db.fetch("select id, payload from outbox_message where kind = 'job' and topic = $1 "
                                         "order by created_at, id", topic)
        return [(str(r["id"]), json.loads(r["payload"])) for r in rows]

    async def run(self, topic: str, actor: Any, **match: Any) -> int:
        ran = 0
        for job_id, payload in await self.jobs(topic):
            if all(payload.get(k) == v for k, v in match.items()):
                await actor.fn.__wrapped__(job_id=job_id, **payload)
                ran += 1
        return ran


def calendar_of(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def events_by_uid(cal: icalendar.Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def attachments(message: Any) -> list[Any]:
    return [part for part in message.iter_attachments()]


def dst_days(zone_name: str = "Europe/Berlin") -> tuple[date, date]:
    """The day before and the day after the next daylight-saving change of the zone, at least 3 days ahead."""
    zone = ZoneInfo(zone_name)
    day = (utcnow() + timedelta(days=3)).astimezone(zone).date()
    for _ in range(400):
        noon, after = (datetime.combine(d, time(12), zone) for d in (day, day + timedelta(days=1)))
        if noon.utcoffset() != after.utcoffset():
            return day, day + timedelta(days=1)
        day += timedelta(days=1)
    raise AssertionError(f"{zone_name} has no daylight-saving change within a year")


def local(day: date, hour: int, zone_name: str = "Europe/Berlin") -> datetime:
    return datetime.combine(day, time(hour), ZoneInfo(zone_name))
