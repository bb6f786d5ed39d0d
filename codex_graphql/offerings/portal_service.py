"""Offering portals (docs/offerings.md, "Portals"): what staff attach to an offering for its participants, and
announcements mailed to them.

Participants are derived: the people holding a CONFIRMED booking of the offering. A content item in a portal is
an entitlement source (``content.access.entitled_set_sql``): participants read and play it through the one access rule,
as if they had bought it. A file item is uploaded for the portal alone (one signed PUT to a staging key, then
``completePortalFileUpload`` checks and promotes it) and downloaded by participants through short-lived signed GETs.

Staff manage a portal as they manage the offering (``service.managed``: CONTENT_MANAGE on their own offerings,
CONTENT_MANAGE_ALL on any). Every input is checked before anything is written; refusals are DomainErrors.
Services never commit; ``complete_file`` owns its short transactions around the storage calls.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import access
from codex_graphql.content import repository as contents
from codex_graphql.content.models import Content, ContentKind
from codex_graphql.content.rules import MB
from codex_graphql.db import Database, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings import portal_repository as repository
from codex_graphql.offerings import repository as offerings
from codex_graphql.offerings import service
from codex_graphql.offerings.models import Offering
from codex_graphql.offerings.portal_models import Announcement, PortalItem, PortalItemKind
from codex_graphql.storage import SignedRequest, Storage, staging_key
from codex_graphql.storage import repository as cleanup
from codex_graphql.storage.models import CleanupReason

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_FILENAME = 255
MAX_FILE_BYTES = 512 * MB
MAX_POSITION = 100_000
UPLOAD_TTL = timedelta(hours=24)
FILE_URL_SECONDS = 600  # a participant's download link
ANNOUNCEMENT_ACTOR = "offering_announcement_mail"
ANNOUNCED_EVENT = "offering.announcement_posted"
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


@dataclass(frozen=True, slots=True)
class NewFile:
    filename: str
    content_type: str
    size_bytes: int


def _not_found(field: str = "offeringId") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No offering has this id in your organization.", field)


def _title(value: str | None, field: str = "title", *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be empty.", field)
        return None
    text = value.strip()
    if len(text) > MAX_TITLE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_TITLE} characters.", field)
    if not text:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be empty.", field)
        return None
    return text


def _position(value: int | None) -> int:
    if value is None:
        return 0
    if not 0 <= value <= MAX_POSITION:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A whole number from 0 to {MAX_POSITION}.", "position")
    return value


def check_file(new: NewFile) -> NewFile:
    name = new.filename.strip()
    if not name or len(name) > MAX_FILENAME or any(c in name for c in "/\\") or not name.isprintable():
        raise DomainError(ErrorCode.INVALID_INPUT, f"A file name of 1 to {MAX_FILENAME} printable characters, "
                          "without slashes.", "file.filename")
    content_type = new.content_type.strip().lower()
    if not _CONTENT_TYPE.match(content_type):
        raise DomainError(ErrorCode.INVALID_INPUT, "A media type such as application/pdf.", "file.contentType")
    if not 0 < new.size_bytes <= MAX_FILE_BYTES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"From 1 byte to {MAX_FILE_BYTES // MB} MB.", "file.sizeBytes")
    return NewFile(name, content_type, new.size_bytes)


async def _room(session: AsyncSession, offering: Offering) -> None:
    if await repository.item_count(session, offering.organization_id, offering.id) >= repository.MAX_ITEMS:
        raise DomainError(ErrorCode.INVALID_STATE, f"A portal holds at most {repository.MAX_ITEMS} items.",
                          "offeringId")


async def attach_content(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                         content_id: uuid.UUID, *, title: str | None = None,
                         added_by: uuid.UUID | None = None) -> PortalItem:
    """Attach a content item of the organization to the portal of one of its offerings, in the organization's
    scope (a request of its staff, or a job in ``TenantScope(organization_id=...)``). Idempotent: attaching the
    same item again returns the item already there. NOT_FOUND for an offering or content item of another
    organization (or a deleted one); INVALID_INPUT for a series' offer (BUNDLE), which is sold, not attached."""
    offering = await offerings.by_id(session, offering_id)
    if offering is None or offering.organization_id != organization_id:
        raise _not_found()
    return await _attach_content(session, offering, content_id, title=_title(title), position=0, added_by=added_by)


def may_share(viewer: Viewer, content: Content) -> bool:
    """Attaching an item gives it to every participant for free: its own creator may, or staff who manage every
    item (CONTENT_MANAGE_ALL), as for any other change to an item that is not theirs."""
    return content.creator_id == viewer.user_id or viewer.can(Permission.CONTENT_MANAGE_ALL, content.organization_id)


async def _attach_content(session: AsyncSession, offering: Offering, content_id: uuid.UUID | None, *,
                          title: str | None, position: int, added_by: uuid.UUID | None,
                          viewer: Viewer | None = None) -> PortalItem:
    """``viewer``: the staff member attaching (None: a job attaching what it made, a session recording)."""
    content = await contents.by_id(session, content_id) if content_id else None
    if content is None or content.organization_id != offering.organization_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No content item has this id in your organization.", "contentId")
    if viewer is not None and not may_share(viewer, content):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You can only attach items you created (CONTENT_MANAGE_ALL "
                          "attaches any item).", "contentId")
    if content.kind is ContentKind.OFFERING:
        raise DomainError(ErrorCode.INVALID_INPUT, "An offering's offer item cannot be attached.", "contentId")
    if content.kind is ContentKind.BUNDLE:
        raise DomainError(ErrorCode.INVALID_INPUT, "A series' offer is sold, not attached; attach its items.",
                          "contentId")
    existing = await repository.content_item(session, offering.organization_id, offering.id, content.id)
    if existing is not None:
        return existing
    await _room(session, offering)
    return await repository.add_content_item(session, PortalItem(
        id=uuid.uuid4(), organization_id=offering.organization_id, offering_id=offering.id,
        kind=PortalItemKind.CONTENT, content_id=content.id, title=title, position=position, added_by=added_by))


async def attach(session: AsyncSession, storage: Storage, viewer: Viewer, offering_id: uuid.UUID | None, *,
                 content_id: uuid.UUID | None, file: NewFile | None, title: str | None,
                 position: int | None) -> tuple[Offering, PortalItem, SignedRequest | None]:
    """attachToOfferingPortal: a content item (idempotent), or a new file item and its upload (a signed PUT,
    signing only: no network call)."""
    if (content_id is None) == (file is None):
        raise DomainError(ErrorCode.INVALID_INPUT, "Give either a content item or a file.", "contentId")
    checked_title, checked_position = _title(title), _position(position)
    checked_file = check_file(file) if file is not None else None
    offering = await service.managed(session, viewer, offering_id)
    if checked_file is None:
        item = await _attach_content(session, offering, content_id, title=checked_title, position=checked_position,
                                     added_by=viewer.user_id, viewer=viewer)
        return offering, item, None
    await _room(session, offering)
    item_id = uuid.uuid4()
    item = await repository.add_item(session, PortalItem(
        id=item_id, organization_id=offering.organization_id, offering_id=offering.id, kind=PortalItemKind.FILE,
        title=checked_title, position=checked_position, filename=checked_file.filename,
        content_type=checked_file.content_type, size_bytes=checked_file.size_bytes, added_by=viewer.user_id,
        storage_key=staging_key(offering.organization_id, f"portal-{item_id}-{secrets.token_hex(16)}")))
    assert item.storage_key is not None
    # Not completed in time: the staged object goes (a no-op once it was promoted away).
    cleanup.schedule(session, offering.organization_id, item.storage_key, CleanupReason.UPLOAD_ABANDONED,
                     utcnow() + UPLOAD_TTL + timedelta(hours=1))
    upload = await storage.presign_put(item.storage_key, checked_file.content_type, checked_file.size_bytes,
                                       int(UPLOAD_TTL.total_seconds()))
    return offering, item, upload


async def _managed_item(session: AsyncSession, viewer: Viewer, item_id: uuid.UUID | None,
                        field: str = "itemId") -> tuple[Offering, PortalItem]:
    organization_id = viewer.active_organization_id
    found = await repository.item_by_id(session, item_id) if item_id and organization_id else None
    if found is None or found.organization_id != organization_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No portal item has this id in your organization.", field)
    offering = await service.managed(session, viewer, found.offering_id)
    item = await repository.item_for_update(session, offering.organization_id, found.id)
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No portal item has this id in your organization.", field)
    return offering, item


async def detach(session: AsyncSession, viewer: Viewer, item_id: uuid.UUID | None) -> Offering:
    """detachFromOfferingPortal: the item leaves the portal (a file's object is deleted by the hygiene pass)."""
    offering, item = await _managed_item(session, viewer, item_id)
    if item.kind is PortalItemKind.FILE and item.storage_key:
        cleanup.schedule(session, item.organization_id, item.storage_key, CleanupReason.CONTENT_PURGED, utcnow())
    await repository.delete_item(session, item.organization_id, item.id)
    return offering


async def complete_file(db: Database, storage: Storage, viewer: Viewer, item_id: uuid.UUID | None) -> uuid.UUID:
    """completePortalFileUpload: check the staged object (it exists, with the declared size) and promote it to
    its final key, which no upload URL can write; no transaction is open around the storage calls. Completing a
    completed file changes nothing. Returns the item's id."""
    async with db.transaction(viewer.scope) as session:
        _offering, item = await _managed_item(session, viewer, item_id)
        if item.kind is not PortalItemKind.FILE:
            raise DomainError(ErrorCode.INVALID_STATE, "Only a file item is uploaded.", "itemId")
        if item.uploaded_at is not None:
            return item.id
        staged, size, content_type = item.storage_key, item.size_bytes, item.content_type
        organization_id, found_id = item.organization_id, item.id
    assert staged is not None and content_type is not None
    final = f"portal/{organization_id}/{found_id}/{secrets.token_hex(16)}"
    info = await storage.head(staged)
    if info is None or info.size != size:
        raise DomainError(ErrorCode.INVALID_STATE, "Upload the whole file (its declared size) first.", "itemId")
    try:
        await storage.promote(staged, final, content_type)
    except FileNotFoundError:  # a concurrent completion promoted it first
        async with db.transaction(viewer.scope) as session:
            done = await repository.item_by_id(session, found_id)
        if done is not None and done.uploaded_at is not None:
            return found_id
        raise DomainError(ErrorCode.INVALID_STATE, "Upload the file first.", "itemId") from None
    async with db.transaction(viewer.scope) as session:
        _offering, item = await _managed_item(session, viewer, found_id)
        if item.uploaded_at is None:
            item.storage_key, item.uploaded_at = final, utcnow()
        else:  # completed meanwhile: this copy is not used
            cleanup.schedule(session, organization_id, final, CleanupReason.CONTENT_PURGED, utcnow())
        await session.flush()
    return found_id


async def post_announcement(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None, title: str,
                            body: str) -> tuple[Offering, Announcement]:
    """postOfferingAnnouncement: stored, shown in the portal, and one job mailing every participant at send
    time (enqueued in this transaction)."""
    checked_title = _title(title, required=True)
    assert checked_title is not None
    text = body.strip()
    if not text:
        raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be empty.", "body")
    if len(text) > MAX_BODY:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_BODY} characters.", "body")
    offering = await service.managed(session, viewer, offering_id)
    announcement = await repository.add_announcement(session, Announcement(
        organization_id=offering.organization_id, offering_id=offering.id, title=checked_title, body=text,
        posted_by=viewer.user_id))
    events.enqueue(session, ANNOUNCEMENT_ACTOR, offering.organization_id, announcement_id=str(announcement.id),
                   announcement_organization_id=str(offering.organization_id))
    events.emit(session, ANNOUNCED_EVENT, {"offeringId": str(offering.id), "announcementId": str(announcement.id)},
                offering.organization_id)
    return offering, announcement


def is_staff(viewer: Viewer, offering: Offering) -> bool:
    """Staff of the offering's organization, acting in it (CONTENT_READ): RLS shows them its portal."""
    return access.staff_organization(viewer) == offering.organization_id


def may_see_portal(viewer: Viewer, offering: Offering, participant: bool) -> bool:
    """Staff of its organization, or a participant (a CONFIRMED booking of the offering)."""
    return participant or is_staff(viewer, offering)


async def file_url(storage: Storage, item: PortalItem) -> SignedRequest | None:
    """A short-lived download of a completed file item (signing only); None until it is uploaded."""
    if item.kind is not PortalItemKind.FILE or item.uploaded_at is None or not item.storage_key:
        return None
    return await storage.presign_get(item.storage_key, FILE_URL_SECONDS, filename=item.filename,
                                     content_type=item.content_type)
