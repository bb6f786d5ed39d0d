"""The ``.ics`` attached to booking confirmation mails, and the sessions a booking seats its person in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from codex_graphql.mail import Attachment
from codex_graphql.offerings import calendar
from codex_graphql.offerings.models import Booking, Offering, OfferingSession, OfferingStatus, OfferingType

FILENAME = "invite.ics"
CANCEL_FILENAME = "cancel.ics"


def seated_sessions(offering: Offering, booking: Booking, sessions: Sequence[OfferingSession]) -> list[OfferingSession]:
    """The sessions the booking is for: the booked one, or every session of a cohort that is on."""
    if offering.type is OfferingType.COHORT:
        return [s for s in sessions if s.cancelled_at is None]
    return [s for s in sessions if s.id == booking.session_id]


def events_of(offering: Offering, sessions: Sequence[OfferingSession]) -> list[calendar.SessionEvent]:
    cancelled = offering.status is OfferingStatus.CANCELLED
    return [calendar.SessionEvent(
        session_id=s.id, offering_id=offering.id, title=offering.title, description=offering.description,
        location=offering.location, online=offering.online, time_zone=offering.time_zone, starts_at=s.starts_at,
        ends_at=s.ends_at, cancelled=cancelled or s.cancelled_at is not None,
        changed_at=max(d for d in (s.created_at, s.cancelled_at, offering.cancelled_at, offering.published_at) if d))
        for s in sessions]


def confirmation_attachment(offering: Offering, booking: Booking, sessions: Sequence[OfferingSession],
                            base_url: str) -> Attachment | None:
    """METHOD:PUBLISH rather than REQUEST: the booking is already made, there is nothing to answer, and mail
    clients show REQUEST as an invitation with accept/decline buttons (which would need an ORGANIZER and
    ATTENDEEs). The UIDs are the feeds' own, so adding both leaves one event per session."""
    seated = seated_sessions(offering, booking, sessions)
    if not seated:
        return None
    content = calendar.build(events_of(offering, seated), name=offering.title, base_url=base_url, method="PUBLISH")
    return Attachment(FILENAME, content, "text/calendar", (("method", "PUBLISH"), ("charset", "utf-8")))


def cancellation_attachment(offering: Offering, booking: Booking, sessions: Sequence[OfferingSession],
                            base_url: str) -> Attachment | None:
    """METHOD:CANCEL for the sessions a cancelled booking held: the same UIDs as the confirmation's PUBLISH,
    STATUS:CANCELLED and a higher SEQUENCE, so a calendar that imported the invitation removes the events."""
    held = [s for s in sessions if s.id == booking.session_id] if offering.type is not OfferingType.COHORT \
        else list(sessions)
    if not held:
        return None
    events = [replace(event, cancelled=True) for event in events_of(offering, held)]
    content = calendar.build(events, name=offering.title, base_url=base_url, method="CANCEL")
    return Attachment(CANCEL_FILENAME, content, "text/calendar", (("method", "CANCEL"), ("charset", "utf-8")))
