"""Content rules: create with an upload, complete the upload, edit, publish, delete, play.

Services never commit; status changes are events in the outbox, processing is a job. The one exception
in shape is ``complete_upload``, which (like a refund) runs its own two short transactions around the
storage calls, so no network call happens while a transaction is open.

Uploads are immutable once checked: createContent signs PUT or part URLs for a one-use staging key
(``upload_key``, under ``uploads/``); completeContentUpload checks the staged object and copies it to
``storage_key``, which no signed URL can write, and processing reads only ``storage_key``.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import access, repository, rules
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import Database, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings import service as org_settings
from codex_graphql.storage import CompletedPart, SignedRequest, Storage, staging_key

PROCESS_ACTOR = "process_content"
STATUS_EVENT = "content.status_changed"
UPLOAD_TTL = timedelta(hours=24)
COMPLETION_LEASE = timedelta(minutes=15)  # a completion that crashed mid-copy is taken over after this
URL_TTL_SECONDS = 3600
MULTIPART_THRESHOLD = 64 * rules.MB
MIN_PART_SIZE = 8 * rules.MB
MAX_PARTS = 10_000
POSITION_TOLERANCE_SECONDS = 5.0


@dataclass(slots=True)
class UploadPlan:
    request: SignedRequest | None = None
    upload_id: str | None = None
    part_size: int | None = None
    parts: list[SignedRequest] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NewContent:
    kind: ContentKind
    title: str
    filename: str
    mime_type: str
    size_bytes: int
    description: str = ""
    price_cents: int = 0
    tags: list[str] = field(default_factory=list)


def _status_event(session: AsyncSession, content: Content) -> None:
    events.emit(
        session, STATUS_EVENT,
        {"contentId": str(content.id), "status": content.status.value, "failureReason": content.failure_reason},
        content.organization_id,
    )


def part_size_for(size_bytes: int) -> int:
    return max(MIN_PART_SIZE, math.ceil(size_bytes / MAX_PARTS))


async def new_content(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, new: NewContent) -> Content:
    """A checked item (not added yet): ``plan_upload`` then ``add_content``."""
    assert viewer.user_id is not None
    extension = rules.check_file(new.kind, new.filename, new.mime_type, new.size_bytes)
    defaults = await org_settings.content_defaults(session, organization_id)
    content_id = uuid.uuid4()
    return Content(
        id=content_id,
        organization_id=organization_id,
        creator_id=viewer.user_id,
        kind=new.kind,
        status=ContentStatus.UPLOADING,
        title=rules.check_title(new.title),
        description=rules.check_description(new.description),
        price_cents=rules.check_price(new.price_cents),
        currency="USD",
        tags=rules.normalize_tags(new.tags),
        storage_key=f"orgs/{organization_id}/content/{content_id}/original.{extension}",
        upload_key=staging_key(organization_id, f"{content_id}-{secrets.token_hex(16)}"),
        mime_type=new.mime_type.strip().lower(),
        original_filename=new.filename.strip(),
        size_bytes=new.size_bytes,
        upload_expires_at=utcnow() + UPLOAD_TTL,
        listed=defaults.listed,
        allow_downloads=defaults.allow_downloads,
        reviews_enabled=defaults.reviews_enabled,
    )


def needs_multipart(content: Content) -> bool:
    return content.size_bytes > MULTIPART_THRESHOLD


async def plan_upload(storage: Storage, content: Content) -> UploadPlan:
    """Upload instructions for a new item. A multipart upload is started at the storage (a network call:
    the API makes it with no transaction open); one started and never recorded (a crash before
    ``add_content`` commits) is swept by the storage hygiene job (no row remembers it)."""
    plan = UploadPlan()
    ttl = int(UPLOAD_TTL.total_seconds())
    target = content.upload_key
    assert target is not None
    if not needs_multipart(content):
        plan.request = await storage.presign_put(target, content.mime_type, content.size_bytes, ttl)
    else:
        plan.upload_id = await storage.create_multipart(target, content.mime_type)
        plan.part_size = part_size_for(content.size_bytes)
        count = math.ceil(content.size_bytes / plan.part_size)
        plan.parts = [await storage.presign_part(target, plan.upload_id, n, ttl) for n in range(1, count + 1)]
        content.multipart_upload_id = plan.upload_id
    return plan


async def add_content(session: AsyncSession, content: Content) -> Content:
    session.add(content)
    await session.flush()
    return content


async def create(session: AsyncSession, storage: Storage, viewer: Viewer, organization_id: uuid.UUID,
                 new: NewContent) -> tuple[Content, UploadPlan]:
    """All three steps in the caller's transaction (scripts and seeds; the API commits around the storage call)."""
    content = await new_content(session, viewer, organization_id, new)
    plan = await plan_upload(storage, content)
    return await add_content(session, content), plan


async def managed(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None) -> Content:
    """Lock a content item the viewer may manage: their own with CONTENT_MANAGE, any with CONTENT_MANAGE_ALL."""
    organization_id = viewer.active_organization_id
    content = await repository.for_update(session, organization_id, content_id) if content_id and organization_id else None
    if content is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No content has this id in your organization.", "contentId")
    if content.creator_id != viewer.user_id and not viewer.can(Permission.CONTENT_MANAGE_ALL, organization_id):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You can only manage content you created.", "contentId")
    if content.kind is ContentKind.OFFERING:  # kept in step with its offering (offerings/paid.py), never alone
        raise DomainError(ErrorCode.INVALID_STATE, "This item is what an offering sells: change the offering "
                          "instead.", "contentId")
    return content


@dataclass(frozen=True, slots=True)
class UploadClaim:
    """What one completion copies, taken in the first short transaction."""

    organization_id: uuid.UUID
    content_id: uuid.UUID
    upload_key: str
    storage_key: str
    mime_type: str
    size_bytes: int
    upload_id: str | None
    claimed_at: datetime


def claim_upload(content: Content, now: datetime) -> UploadClaim:
    """Mark ``content`` (locked) as being completed by this request; refused when it is not UPLOADING or
    another completion holds it."""
    if content.status is not ContentStatus.UPLOADING or not content.upload_key:
        raise DomainError(ErrorCode.INVALID_STATE, "This upload was already completed.", "contentId")
    if content.upload_claimed_at is not None and content.upload_claimed_at > now - COMPLETION_LEASE:
        raise DomainError(ErrorCode.INVALID_STATE, "This upload is being completed by another request.", "contentId")
    content.upload_claimed_at = now
    return UploadClaim(content.organization_id, content.id, content.upload_key, content.storage_key,
                       content.mime_type, content.size_bytes, content.multipart_upload_id, now)


async def promote_upload(storage: Storage, claim: UploadClaim, parts: list[CompletedPart]) -> None:
    """Outside any transaction: finish a multipart upload, check the staged object, copy it to the final key.
    Safe to repeat after a crash: a final object of the declared size means the copy happened already."""
    final = await storage.head(claim.storage_key)
    if final is not None and final.size == claim.size_bytes:
        return
    staged = await storage.head(claim.upload_key)
    if staged is None and claim.upload_id:
        if not parts:
            raise DomainError(ErrorCode.INVALID_INPUT, "List the uploaded parts with their ETags.", "parts")
        try:
            await storage.complete_multipart(claim.upload_key, claim.upload_id, parts)
        except ValueError as exc:
            raise DomainError(ErrorCode.INVALID_INPUT, "The parts do not match what was uploaded.", "parts") from exc
        staged = await storage.head(claim.upload_key)
    if staged is None:
        raise DomainError(ErrorCode.INVALID_STATE, "No uploaded file was found; upload it first.", "contentId")
    if staged.size != claim.size_bytes:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"The uploaded file has {staged.size} bytes, but {claim.size_bytes} were declared.", "contentId",
        )
    try:
        await storage.promote(claim.upload_key, claim.storage_key, claim.mime_type)
    except FileNotFoundError:
        raise DomainError(ErrorCode.INVALID_STATE, "No uploaded file was found; upload it first.", "contentId") from None


def record_completion(session: AsyncSession, content: Content | None, claim: UploadClaim) -> Content:
    """Second transaction: the copy is done; PROCESSING, and the processing job is queued."""
    if content is None or content.status is not ContentStatus.UPLOADING or content.upload_claimed_at != claim.claimed_at:
        raise DomainError(ErrorCode.INVALID_STATE, "This upload was completed by another request.", "contentId")
    content.status = ContentStatus.PROCESSING
    content.multipart_upload_id = None
    content.upload_expires_at = None
    content.upload_key = None
    content.upload_claimed_at = None
    events.enqueue(session, PROCESS_ACTOR, content.organization_id,
                   content_id=str(content.id), content_organization_id=str(content.organization_id))
    _status_event(session, content)
    return content


async def complete_upload(db: Database, storage: Storage, viewer: Viewer, content_id: uuid.UUID | None,
                          parts: list[CompletedPart]) -> uuid.UUID:
    """completeContentUpload: claim (one short transaction), check and copy the staged object to its final
    key (no transaction open), record PROCESSING (a second short transaction). A refused check releases
    the claim so the uploader can fix the upload and complete again. Returns the content id."""
    async with db.transaction(viewer.scope) as session:
        claim = claim_upload(await managed(session, viewer, content_id), utcnow())
    try:
        await promote_upload(storage, claim, parts)
    except DomainError:
        async with db.transaction(viewer.scope) as session:
            content = await repository.for_update(session, claim.organization_id, claim.content_id)
            if content is not None and content.upload_claimed_at == claim.claimed_at:
                content.upload_claimed_at = None
        raise
    async with db.transaction(viewer.scope) as session:
        content = await repository.for_update(session, claim.organization_id, claim.content_id)
        record_completion(session, content, claim)
        await session.flush()
    return claim.content_id


@dataclass(frozen=True, slots=True)
class ContentChanges:
    title: str | None = None
    description: str | None = None
    price_cents: int | None = None
    tags: list[str] | None = None
    listed: bool | None = None
    allow_downloads: bool | None = None
    reviews_enabled: bool | None = None


async def edit(session: AsyncSession, content: Content, changes: ContentChanges) -> Content:
    if changes.title is not None:
        content.title = rules.check_title(changes.title)
    if changes.description is not None:
        content.description = rules.check_description(changes.description)
    if changes.price_cents is not None:
        content.price_cents = rules.check_price(changes.price_cents)
    if changes.tags is not None:
        content.tags = rules.normalize_tags(changes.tags)
    if changes.listed is not None:
        content.listed = changes.listed
    if changes.allow_downloads is not None:
        content.allow_downloads = changes.allow_downloads
    if changes.reviews_enabled is not None:
        content.reviews_enabled = changes.reviews_enabled
    await session.flush()
    return content


async def publish(session: AsyncSession, content: Content) -> Content:
    if content.status is ContentStatus.PUBLISHED:
        raise DomainError(ErrorCode.INVALID_STATE, "This content is already published.", "contentId")
    if content.status is not ContentStatus.READY:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"Only READY content can be published; this is {content.status.value}.", "contentId"
        )
    before = content.status.value
    content.status = ContentStatus.PUBLISHED
    content.published_at = utcnow()
    await session.flush()
    _status_event(session, content)
    await _audit_status(session, audit.AuditAction.CONTENT_PUBLISHED, content, before)
    return content


async def unpublish(session: AsyncSession, content: Content) -> Content:
    if content.status is not ContentStatus.PUBLISHED:
        raise DomainError(ErrorCode.INVALID_STATE, "Only published content can be unpublished.", "contentId")
    before = content.status.value
    content.status = ContentStatus.READY
    await session.flush()
    _status_event(session, content)
    await _audit_status(session, audit.AuditAction.CONTENT_UNPUBLISHED, content, before)
    return content


async def _audit_status(session: AsyncSession, action: audit.AuditAction, content: Content, before: str) -> None:
    await audit.record(session, action, organization_id=content.organization_id, target_type="Content",
                       target_id=content.id, before={"status": before}, after={"status": content.status.value})


async def soft_delete(session: AsyncSession, content: Content) -> Content:
    """Soft delete: the row stays for purchase history; it leaves every list and playback."""
    content.deleted_at = utcnow()
    await session.flush()
    events.emit(session, "content.deleted", {"contentId": str(content.id)}, content.organization_id)
    return content


def is_staff_reader(viewer: Viewer, content: Content) -> bool:
    return access.is_staff(viewer, content.organization_id)


def can_play(viewer: Viewer, content: Content, entitled: bool) -> bool:
    return access.may_play(viewer, content.status, content.deleted_at is not None, content.organization_id, entitled)


async def playback_url(storage: Storage, content: Content) -> SignedRequest:
    return await storage.presign_get(content.storage_key, URL_TTL_SECONDS, content_type=content.mime_type)


async def save_position(session: AsyncSession, viewer: Viewer, content: Content, entitled: bool, position: float) -> float:
    if not can_play(viewer, content, entitled):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You do not have access to this content.", "contentId")
    if not math.isfinite(position) or position < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The position must be zero or more seconds.", "positionSeconds")
    duration = content.duration_seconds
    if duration is not None and position > duration + POSITION_TOLERANCE_SECONDS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"The position is past the end ({duration:.1f} s).", "positionSeconds"
        )
    # Players report slightly past the end when playback finishes: clamp that to the duration.
    clamped = min(position, duration) if duration is not None else position
    assert viewer.user_id is not None
    await repository.save_position(session, viewer.user_id, content, clamped)
    return clamped
