"""iCalendar feeds and attachments of offerings (docs/offerings.md, "Calendars and reminders").

**Feed URLs** are signed with ``SECRET_KEY`` (HMAC-SHA256 under a key of their own, ``_key``), so a URL cannot be
made up or changed into another one:
- a person's feed, ``/calendars/user/{token}.ics``: the token carries the user id and the feed's version
  (``calendar_feed``, migration 0046; 1 until the first rotation). ``rotateCalendarFeed`` bumps the version, so
  every URL signed before is refused;
- an offering's feed, ``/calendars/offering/{token}.ics``: the token carries the offering id (public data, so not
  revocable; a draft's feed is not served).

A token is checked before any database read; a bad, foreign, rotated or unknown one is a plain 404 that tells
nothing about why.

**Events**: one VEVENT per session with a stable UID (``<session id>@<host of PUBLIC_BASE_URL>``, the same in
feeds and in the ``.ics`` of confirmation mails, so a calendar app merges them), DTSTART/DTEND with the
offering's TZID (and its VTIMEZONE), SUMMARY, DESCRIPTION, LOCATION (or "Online"; join links are shown to
participants in the API only, never in a feed), STATUS (CONFIRMED, or
CANCELLED for a cancelled session or offering) and SEQUENCE (1 once cancelled: sessions are never moved, so
cancelling is their one change). Building a calendar makes no network call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar

_CONTEXT = b"codex-graphql calendar feed v1"
PRODID = "-//Codex GraphQL//Offerings//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"
DESCRIPTION_LIMIT = 2000


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _CONTEXT, hashlib.sha256).digest()


def _mac(secret_key: str, message: str) -> str:
    digest = hmac.new(_key(secret_key), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def user_token(secret_key: str, user_id: uuid.UUID, version: int) -> str:
    return f"{user_id.hex}.{version}.{_mac(secret_key, f'user|{user_id}|{version}')}"


def read_user_token(secret_key: str, token: str) -> tuple[uuid.UUID, int] | None:
    """(user id, feed version) of a token this server signed; None for anything else."""
    raw_user, _, rest = token.partition(".")
    raw_version, _, mac = rest.partition(".")
    if (len(raw_user) != 32 or not raw_version.isdigit() or len(raw_version) > 9 or not mac
            or str(int(raw_version)) != raw_version):  # one spelling per version
        return None
    try:
        user_id = uuid.UUID(hex=raw_user)
    except ValueError:
        return None
    version = int(raw_version)
    return (user_id, version) if _same(_mac(secret_key, f"user|{user_id}|{version}"), mac) else None


def offering_token(secret_key: str, offering_id: uuid.UUID) -> str:
    return f"{offering_id.hex}.{_mac(secret_key, f'offering|{offering_id}')}"


def read_offering_token(secret_key: str, token: str) -> uuid.UUID | None:
    raw, _, mac = token.partition(".")
    if len(raw) != 32 or not mac:
        return None
    try:
        offering_id = uuid.UUID(hex=raw)
    except ValueError:
        return None
    return offering_id if _same(_mac(secret_key, f"offering|{offering_id}"), mac) else None


def user_feed_url(base_url: str, secret_key: str, user_id: uuid.UUID, version: int) -> str:
    return f"{base_url.rstrip('/')}/calendars/user/{user_token(secret_key, user_id, version)}.ics"


def offering_feed_url(base_url: str, secret_key: str, offering_id: uuid.UUID) -> str:
    return f"{base_url.rstrip('/')}/calendars/offering/{offering_token(secret_key, offering_id)}.ics"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """What one VEVENT shows: a session of an offering."""

    session_id: uuid.UUID
    offering_id: uuid.UUID
    title: str
    description: str
    location: str | None
    online: bool
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    cancelled: bool
    changed_at: datetime  # when the event last changed (DTSTAMP and LAST-MODIFIED in feeds)


def host_of(base_url: str) -> str:
    return urlsplit(base_url).hostname or "codex.invalid"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):  # validated when the offering was saved; UTC rather than no calendar
        return ZoneInfo("UTC")


def _event(item: SessionEvent, host: str, stamp: datetime | None) -> icalendar.Event:
    zone = _zone(item.time_zone)
    event = icalendar.Event()
    event.add("uid", f"{item.session_id}@{host}")
    event.add("dtstamp", (stamp or item.changed_at).astimezone(UTC))
    event.add("last-modified", item.changed_at.astimezone(UTC))
    event.add("dtstart", item.starts_at.astimezone(zone))
    event.add("dtend", item.ends_at.astimezone(zone))
    event.add("summary", item.title)
    if item.description:
        event.add("description", item.description[:DESCRIPTION_LIMIT])
    event.add("location", item.location or ("Online" if item.online else ""))
    event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
    event.add("sequence", 1 if item.cancelled else 0)
    return event


def build(items: Iterable[SessionEvent], *, name: str, base_url: str, method: str | None = None,
          now: datetime | None = None) -> bytes:
    """An iCalendar document of the sessions (one VEVENT each, a session listed twice once), with the VTIMEZONEs
    they use. ``method`` (PUBLISH for mail attachments) stamps every event with ``now``; a feed has no METHOD and
    stamps each event with its last change, so an unchanged feed is byte for byte the same."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    calendar.add("x-wr-calname", name)
    host = host_of(base_url)
    stamp = (now or datetime.now(UTC)) if method else None
    seen: set[uuid.UUID] = set()
    for item in sorted(items, key=lambda i: (i.starts_at, i.session_id)):
        if item.session_id not in seen:
            seen.add(item.session_id)
            calendar.add_component(_event(item, host, stamp))
    calendar.add_missing_timezones()
    return calendar.to_ical()
