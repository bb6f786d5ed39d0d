"""Session recordings (docs/conferencing.md, "Recordings"): a Zoom ``recording.completed`` webhook or a staff
upload becomes a VIDEO (or AUDIO) content item attached to the offering's portal.

A webhook's recording is downloaded by a job with no transaction open, stored through the storage backend,
then recorded in one short transaction: a PROCESSING content item (unlisted, created by the offering's
creator) whose processing job is queued exactly as ``completeContentUpload`` queues it, attached to the portal.
The item's id is fixed by the webhook's inbox row, so a rerun finds the item instead of making a second.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.authz import Viewer
from codex_graphql.conferencing import repository
from codex_graphql.content import repository as contents
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings import portal_service
from codex_graphql.offerings.models import Offering, OfferingSession

NAMESPACE = uuid.UUID("5b0c4d49-7a8e-4f5e-9a39-1f0f3b8a2c11")
MAX_TITLE = 200


def content_id_for(event_row_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, str(event_row_id))


def storage_key(organization_id: uuid.UUID, content_id: uuid.UUID) -> str:
    return f"orgs/{organization_id}/content/{content_id}/original.mp4"


def title_for(offering: Offering, target: OfferingSession) -> str:
    return f"Recording: {offering.title} ({target.starts_at:%Y-%m-%d %H:%M} UTC)"[:MAX_TITLE]


def pick_file(payload: dict[str, Any]) -> tuple[str, str | None] | None:
    """The MP4 of a ``recording.completed`` event (the shared screen with the speaker when there are several)
    and the event's ``download_token``; None when it has no completed MP4."""
    files = [f for f in ((payload.get("payload") or {}).get("object") or {}).get("recording_files") or []
             if str(f.get("file_type", "")).upper() == "MP4" and f.get("download_url")
             and str(f.get("status", "completed")) == "completed"]
    if not files:
        return None
    files.sort(key=lambda f: f.get("recording_type") != "shared_screen_with_speaker_view")
    return str(files[0]["download_url"]), payload.get("download_token")


async def attach_to_portal(session: AsyncSession, offering: Offering, content_id: uuid.UUID, title: str) -> None:
    """The item in the offering's portal (``portal_service.attach_content``: attaching it again changes nothing)."""
    await portal_service.attach_content(session, offering.organization_id, offering.id, content_id, title=title,
                                        added_by=None)


async def add_downloaded(session: AsyncSession, offering: Offering, target: OfferingSession, content_id: uuid.UUID,
                         size: int) -> Content:
    """The recording's PROCESSING item (made once) with its processing job queued, as completeContentUpload does."""
    found = await contents.readable_by_id(session, content_id)
    if found is not None:
        return found
    content = Content(
        id=content_id, organization_id=offering.organization_id, creator_id=offering.created_by,
        kind=ContentKind.VIDEO, status=ContentStatus.PROCESSING, title=title_for(offering, target),
        description=f"Recording of the session of {target.starts_at:%Y-%m-%d %H:%M} UTC.", price_cents=0,
        currency=offering.currency, tags=[], storage_key=storage_key(offering.organization_id, content_id),
        mime_type="video/mp4", original_filename="recording.mp4", size_bytes=size, listed=False)
    await content_service.add_content(session, content)
    events.enqueue(session, content_service.PROCESS_ACTOR, content.organization_id,
                   content_id=str(content.id), content_organization_id=str(content.organization_id))
    events.emit(session, content_service.STATUS_EVENT, {"contentId": str(content.id), "status": content.status.value,
                                                        "failureReason": None}, content.organization_id)
    return content


async def attach_uploaded(session: AsyncSession, viewer: Viewer, offering: Offering, target: OfferingSession,
                          content_id: uuid.UUID | None) -> None:
    content = await contents.by_id(session, content_id) if content_id else None
    if content is None or content.organization_id != offering.organization_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No content item of your organization has this id.", "contentId")
    if not portal_service.may_share(viewer, content):  # the portal gives it to every participant
        raise DomainError(ErrorCode.NOT_ALLOWED, "You can only attach items you created (CONTENT_MANAGE_ALL "
                          "attaches any item).", "contentId")
    if content.kind not in (ContentKind.VIDEO, ContentKind.AUDIO):
        raise DomainError(ErrorCode.INVALID_INPUT, "A recording is a video or audio item.", "contentId")
    if content.status in (ContentStatus.UPLOADING, ContentStatus.FAILED):
        raise DomainError(ErrorCode.INVALID_STATE, "Complete the item's upload first.", "contentId")
    meeting = await repository.for_update(session, offering.organization_id, target.id)
    if meeting is not None:
        meeting.recording_content_id = content.id
    await attach_to_portal(session, offering, content.id, content.title)
