"""The reminder mail of one booking, session and lead time (``reminders.REMINDER_ACTOR``): built only while the
booking is CONFIRMED, the offering PUBLISHED and the session on and not started (a cancellation between the claim
and the send sends nothing). Read in the organization's scope."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts import repository as accounts
from codex_graphql.db import utcnow
from codex_graphql.mail import Attachment, Mail, templates
from codex_graphql.offerings import booking_repository, calendar, calendar_mail
from codex_graphql.offerings import repository as offerings
from codex_graphql.offerings.models import BookingStatus, OfferingStatus
from codex_graphql.organizations import repository as organizations


def lead_text(lead_minutes: int) -> str:
    if lead_minutes % 60:
        return f"in {lead_minutes} minutes"
    hours = lead_minutes // 60
    return "in 1 hour" if hours == 1 else f"in {hours} hours"


async def build(session: AsyncSession, organization_id: uuid.UUID, booking_id: uuid.UUID, session_id: uuid.UUID,
                lead_minutes: int, base_url: str, now: datetime | None = None) -> Mail | None:
    booking = await booking_repository.by_id(session, booking_id)
    if booking is None or booking.status is not BookingStatus.CONFIRMED or booking.organization_id != organization_id:
        return None
    offering = await offerings.by_id(session, booking.offering_id)
    if offering is None or offering.status is not OfferingStatus.PUBLISHED:
        return None
    found = await offerings.sessions_of(session, [offering.id])
    seated = calendar_mail.seated_sessions(offering, booking, found.get(offering.id, []))
    target = next((s for s in seated if s.id == session_id), None)
    if target is None or target.starts_at <= (now or utcnow()):
        return None
    user = await accounts.user_by_id(session, booking.user_id)
    organization = await organizations.by_id(session, organization_id)
    if user is None or organization is None:
        return None
    when = target.starts_at.astimezone(ZoneInfo(offering.time_zone)).strftime("%A %d %B %Y, %H:%M %Z")
    where = f"Where: {offering.location}" if offering.location else ("It takes place online." if offering.online
                                                                     else "")
    mail = templates.booking_reminder(user.email, user.name, offering.title, organization.name, when,
                                      lead_text(lead_minutes), where, f"{base_url.rstrip('/')}/")
    ics = calendar.build(calendar_mail.events_of(offering, [target]), name=offering.title, base_url=base_url,
                         method="PUBLISH")
    attachment = Attachment(calendar_mail.FILENAME, ics, "text/calendar", (("method", "PUBLISH"), ("charset", "utf-8")))
    return Mail(mail.to, mail.subject, mail.text, mail.html, (attachment,))
