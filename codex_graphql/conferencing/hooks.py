"""What offerings tell conferencing, in their own transaction: sessions of an online offering that need a
meeting, and offerings whose meetings must go. Each is a job request (the outbox), never a network call; this
module imports nothing but events and the offerings' models, so offerings can call it without an import circle."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.offerings.models import Offering, OfferingSession, OfferingStatus

MEETINGS_ACTOR = "conferencing_meetings"
DELETE_ACTOR = "conferencing_delete_meetings"
RECORDING_ACTOR = "conferencing_recording"


def _wants_meetings(offering: Offering) -> bool:
    return offering.online and offering.status is OfferingStatus.PUBLISHED


def offering_published(session: AsyncSession, offering: Offering) -> None:
    """Ask for the meetings of an online offering's upcoming sessions (in the publishing transaction)."""
    if _wants_meetings(offering):
        events.enqueue(session, MEETINGS_ACTOR, offering.organization_id,
                       meeting_organization_id=str(offering.organization_id), offering_id=str(offering.id),
                       session_id=None)


def session_added(session: AsyncSession, offering: Offering, added: OfferingSession) -> None:
    """Ask for the meeting of a session added to (or a slot booked in) a published online offering."""
    if _wants_meetings(offering):
        events.enqueue(session, MEETINGS_ACTOR, offering.organization_id,
                       meeting_organization_id=str(offering.organization_id), offering_id=str(offering.id),
                       session_id=str(added.id))


def offering_cancelled(session: AsyncSession, offering: Offering) -> None:
    """Delete the meetings of a cancelled offering's sessions."""
    events.enqueue(session, DELETE_ACTOR, offering.organization_id,
                   meeting_organization_id=str(offering.organization_id), offering_id=str(offering.id))
