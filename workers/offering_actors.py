"""Offering actors: the emails of bookings (confirmed, waitlisted, seat held, cancelled) and of portal
announcements (one job per announcement, every participant mailed once)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from zoneinfo import ZoneInfo

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts import repository as accounts
from codex_graphql.db import TenantScope
from codex_graphql.mail import Mail, templates
from codex_graphql.offerings import (
    booking_repository,
    bookings,
    calendar_mail,
    portal_jobs,
    portal_service,
    reminder_mail,
    reminders,
)
from codex_graphql.offerings import repository as offerings
from codex_graphql.organizations import repository as organizations
from workers.mail_jobs import send_then_record
from workers.runtime import runtime

RETRY = {"max_retries": 8, "min_backoff": 1_000, "max_backoff": 300_000, "time_limit": 60_000}


@dramatiq.actor(actor_name=bookings.MAIL_ACTOR, **RETRY)
async def booking_mail(job_id: str, booking_id: str, booking_organization_id: str, kind: str) -> None:
    """Ids in; mailed once per job (``send_then_record`` claims the job id). The mail says the state the job was
    enqueued for; a held seat's mail is skipped when the hold is over (confirmed, expired) by the time it runs."""
    rt = runtime()
    organization_id = uuid.UUID(booking_organization_id)

    async def build(session: AsyncSession) -> Mail | None:
        booking = await booking_repository.by_id(session, uuid.UUID(booking_id))
        if booking is None or kind not in templates.BOOKING_LINES:
            return None
        if kind == bookings.HELD_EVENT and booking.hold_expires_at is None:
            return None
        offering = await offerings.by_id(session, booking.offering_id)
        user = await accounts.user_by_id(session, booking.user_id)
        organization = await organizations.by_id(session, organization_id)
        found = await offerings.sessions_of(session, [booking.offering_id])
        target = next((s for s in found.get(booking.offering_id, []) if s.id == booking.session_id), None)
        if offering is None or user is None or organization is None or target is None:
            return None
        zone = ZoneInfo(offering.time_zone)
        when = target.starts_at.astimezone(zone).strftime("%A %d %B %Y, %H:%M %Z")
        hold = booking.hold_expires_at.astimezone(zone).strftime("%d %B, %H:%M %Z") if booking.hold_expires_at else ""
        link = f"{rt.settings.public_base_url.rstrip('/')}/"
        mail = templates.booking_notice(user.email, user.name, kind, offering.title, organization.name, when, hold,
                                        link)
        if kind == bookings.CONFIRMED_EVENT:  # the sessions booked, for the person's calendar (calendar_mail.py)
            ics = calendar_mail.confirmation_attachment(offering, booking, found.get(booking.offering_id, []),
                                                        rt.settings.public_base_url)
            mail = replace(mail, attachments=(ics,)) if ics else mail
        elif kind == bookings.CANCELLED_EVENT:  # the same events, cancelled (calendar_mail.py)
            ics = calendar_mail.cancellation_attachment(offering, booking, found.get(booking.offering_id, []),
                                                        rt.settings.public_base_url)
            mail = replace(mail, attachments=(ics,)) if ics else mail
        return mail

    await send_then_record(rt, TenantScope(organization_id=organization_id), bookings.MAIL_ACTOR, job_id, build)


@dramatiq.actor(actor_name=reminders.REMINDER_ACTOR, **RETRY)
async def booking_reminder_mail(job_id: str, booking_id: str, session_id: str, lead_minutes: int,
                                booking_organization_id: str) -> None:
    """Ids in; mailed once per job (the reminder job requests one job per booking, session and lead time). Sends
    nothing when the booking is no longer CONFIRMED or the session was cancelled or has started."""
    rt = runtime()
    organization_id = uuid.UUID(booking_organization_id)

    async def build(session: AsyncSession) -> Mail | None:
        return await reminder_mail.build(session, organization_id, uuid.UUID(booking_id), uuid.UUID(session_id),
                                         int(lead_minutes), rt.settings.public_base_url)

    await send_then_record(rt, TenantScope(organization_id=organization_id), reminders.REMINDER_ACTOR, job_id, build)


class AnnouncementPending(Exception):
    """Some participants' mails are claimed by another runner and not recorded yet: retried later, when they are
    recorded (nothing to do) or their claim has lapsed (this runner sends them)."""


@dramatiq.actor(actor_name=portal_service.ANNOUNCEMENT_ACTOR, **RETRY)
async def offering_announcement_mail(job_id: str, announcement_id: str, announcement_organization_id: str) -> None:
    """Ids in; every participant at send time mailed once, however often the job runs (``portal_jobs.deliver``
    claims each person's mail before sending it)."""
    rt = runtime()
    link = f"{rt.settings.public_base_url.rstrip('/')}/"
    done = await portal_jobs.deliver(rt.db, rt.mailer.send, uuid.UUID(announcement_organization_id),
                                     uuid.UUID(announcement_id), link)
    if done.pending:
        raise AnnouncementPending(f"{done.pending} mail(s) of announcement {announcement_id} claimed elsewhere")
