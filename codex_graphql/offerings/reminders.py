"""Reminder emails before booked sessions (docs/offerings.md, "Calendars and reminders"), a periodic job run by
workers every minute: 24 hours and 1 hour before each session (``reminder_repository.LEADS``), for CONFIRMED
bookings only (cancelled, waitlisted, held and expired ones are skipped, as are cancelled sessions and
offerings), a cohort's booking for every session.

Exactly once per booking, session and lead time, with any number of runners and runs: the organizations with
reminders due are listed under the platform scope; then, in a short transaction of each organization, the due
reminders are claimed by inserting their ``booking_reminder`` rows (``ON CONFLICT DO NOTHING RETURNING``) and a
mail job is requested through the outbox for each one claimed, in that same transaction. A second runner's insert
waits for the first one's uncommitted keys and then skips them; a crash before the commit leaves nothing claimed
and nothing requested. The mail job (``REMINDER_ACTOR``, ids in) checks again that the booking is CONFIRMED and
the session on and not started before it mails, and mails once per job id (``send_then_record``)."""

from __future__ import annotations

import logging
from datetime import datetime

from codex_graphql import events
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.offerings import reminder_repository

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
BATCH = 200
REMINDER_ACTOR = "booking_reminder_mail"


async def send_due(db: Database, now: datetime | None = None, batch: int = BATCH, max_rounds: int = 50) -> int:
    """Claim every reminder due at ``now`` and request its mail; returns how many this runner claimed."""
    claimed = 0
    for _ in range(max_rounds):
        at = now or utcnow()
        async with db.transaction(TenantScope.platform_wide()) as session:
            due = await reminder_repository.organizations_due(session, at, batch)
        progressed, more = 0, len(due) >= batch
        for organization_id in due:
            async with db.transaction(TenantScope(organization_id=organization_id)) as session:
                found = await reminder_repository.claim_due(session, organization_id, at, batch)
                for booking_id, session_id, lead in found:
                    events.enqueue(session, REMINDER_ACTOR, organization_id, booking_id=str(booking_id),
                                   session_id=str(session_id), lead_minutes=lead,
                                   booking_organization_id=str(organization_id))
            progressed += len(found)
            more = more or len(found) >= batch
        claimed += progressed
        if not (more and progressed):  # nothing left, or a concurrent runner claimed what is left
            break
    if claimed:
        log.info("booking reminders requested", extra={"reminders": claimed})
    return claimed
