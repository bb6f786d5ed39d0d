"""Preview link rules: make a link (a fresh token, only its hash stored), revoke it, and answer its holder.

Staff: ``create`` and ``revoke`` act on items the viewer may manage (``content.service.managed``: their own with
CONTENT_MANAGE, any with CONTENT_MANAGE_ALL) and are audited. Holder: ``preview`` turns a token into what the
link shows, through ``repository.preview`` (the SECURITY DEFINER function); it records no view and creates no
entitlement, and every URL it signs stops working no later than the link does. Services never commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.articles import document
from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content, ContentStatus
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.previews import repository
from codex_graphql.previews.models import ContentPreviewLink
from codex_graphql.storage import SignedRequest, Storage

TOKEN_BYTES = 32  # 256 random bits: guessing a live token is out of reach, whatever the rate
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32): 43 URL-safe base64 characters
MIN_HOURS = 1
MAX_HOURS = 720  # 30 days
DEFAULT_HOURS = 72
MAX_LIVE_LINKS = 20  # per item: beyond that, revoke one first
PLAYABLE = (ContentStatus.READY, ContentStatus.PUBLISHED)
PATH = "/preview/"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What is stored and looked up: the hex SHA-256 of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of one this service makes (anything else is answered without a lookup)."""
    return _TOKEN.fullmatch(token) is not None


def link_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}{PATH}{token}"


def check_hours(hours: int) -> timedelta:
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A preview link lasts {MIN_HOURS} to {MAX_HOURS} hours.",
                          "expiresInHours")
    return timedelta(hours=hours)


@dataclass(frozen=True, slots=True)
class CreatedLink:
    link: ContentPreviewLink
    token: str  # shown once: only its hash is kept


async def create(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None, hours: int) -> CreatedLink:
    """A new link to an item the viewer may manage (NOT_FOUND for another organization's or a deleted item,
    NOT_ALLOWED for another creator's), live for ``hours``."""
    lasts = check_hours(hours)
    content = await content_service.managed(session, viewer, content_id)  # locked: the count below holds
    now = utcnow()
    if await repository.live_count(session, content.organization_id, content.id, now) >= MAX_LIVE_LINKS:
        raise DomainError(ErrorCode.NOT_ALLOWED, f"An item has at most {MAX_LIVE_LINKS} working preview links: "
                          "revoke one first.", "contentId")
    token = new_token()
    link = await repository.add(session, ContentPreviewLink(
        organization_id=content.organization_id, content_id=content.id, token_hash=hash_token(token),
        created_at=now, expires_at=now + lasts, created_by_user_id=viewer.user_id))
    await audit.record(session, audit.AuditAction.CONTENT_PREVIEW_LINK_CREATED,
                       organization_id=link.organization_id, target_type="ContentPreviewLink", target_id=link.id,
                       after={"contentId": str(content.id), "expiresAt": link.expires_at.isoformat()})
    return CreatedLink(link=link, token=token)


async def revoke(session: AsyncSession, viewer: Viewer, link_id: uuid.UUID | None) -> ContentPreviewLink:
    """Stop a link of an item the viewer may manage; a link revoked already stays as it is (no second entry)."""
    organization_id = viewer.active_organization_id
    link = await repository.for_update(session, organization_id, link_id) if link_id and organization_id else None
    if link is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No preview link has this id in your organization.", "previewLinkId")
    try:
        await content_service.managed(session, viewer, link.content_id)
    except DomainError as error:  # the item's rule, said of the link
        code = error.errors[0].code
        message = ("You can only revoke preview links of content you created." if code is ErrorCode.NOT_ALLOWED
                   else "No preview link has this id in your organization.")
        raise DomainError(code, message, "previewLinkId") from None
    if link.revoked_at is not None:
        return link
    link.revoked_at = utcnow()
    link.revoked_by_user_id = viewer.user_id
    await session.flush()
    await audit.record(session, audit.AuditAction.CONTENT_PREVIEW_LINK_REVOKED,
                       organization_id=link.organization_id, target_type="ContentPreviewLink", target_id=link.id,
                       before={"revokedAt": None}, after={"contentId": str(link.content_id),
                                                          "revokedAt": link.revoked_at.isoformat()})
    return link


def may_manage(viewer: Viewer, content: Content) -> bool:
    """Who may see an item's links (never their tokens) and make or revoke them: as ``content.service.managed``,
    the item's creator with CONTENT_MANAGE, anyone with CONTENT_MANAGE_ALL (in the active organization)."""
    organization_id = content.organization_id
    return (viewer.can(Permission.CONTENT_MANAGE_ALL, organization_id)
            or (viewer.can(Permission.CONTENT_MANAGE, organization_id) and content.creator_id == viewer.user_id))


@dataclass(frozen=True, slots=True)
class Preview:
    """What a live link shows: its item (a row nobody's scope admits the holder to) until ``expires_at``."""

    link_id: uuid.UUID
    expires_at: datetime
    content: Content
    token_hash: str

    def ttl(self, now: datetime, longest: int) -> int:
        """Seconds a URL signed now may live: at most ``longest``, never past the link's expiry (0: none)."""
        return max(0, min(longest, int((self.expires_at - now).total_seconds())))


async def preview(session: AsyncSession, token: str) -> Preview | None:
    """The link's preview, or None for a token that is malformed, unknown, expired or revoked, or whose item
    was deleted: the same None for each, so a caller learns nothing about tokens it does not hold. The lookup is
    by the token's SHA-256 (a unique index): how long it takes depends on the hash, never on how much of a real
    token a guess shares."""
    if not well_formed(token):
        return None
    token_hash = hash_token(token)
    found = await repository.preview(session, token_hash)
    if found is None:
        return None
    return Preview(link_id=found.link_id, expires_at=found.expires_at, content=found.content, token_hash=token_hash)


async def _signed(storage: Storage, key: str, ttl: int, content_type: str | None = None) -> SignedRequest | None:
    return await storage.presign_get(key, ttl, content_type=content_type) if ttl > 0 else None


async def playback(storage: Storage, found: Preview) -> SignedRequest | None:
    """A signed URL of the item's media, short-lived and never valid past the link; None for an item without
    playable media (an article, an upload not processed yet, a failed one). Counts no view."""
    content = found.content
    if not content.storage_key or content.status not in PLAYABLE:
        return None
    ttl = found.ttl(utcnow(), content_service.URL_TTL_SECONDS)
    return await _signed(storage, content.storage_key, ttl, content.mime_type)


async def thumbnail_url(storage: Storage, found: Preview) -> str | None:
    """The smallest thumbnail, signed like ``playback``; None without one."""
    if not found.content.thumbnails:
        return None
    smallest = min(found.content.thumbnails, key=lambda t: t["width"])
    signed = await _signed(storage, smallest["key"], found.ttl(utcnow(), content_service.URL_TTL_SECONDS))
    return signed.url if signed else None


async def body(session: AsyncSession, storage: Storage, found: Preview) -> str | None:
    """An article's whole body as sanitized HTML, its images signed like ``playback``; None for media items."""
    if found.content.storage_key:  # a media item (an article has no file)
        return None
    article = await repository.preview_body(session, found.token_hash)
    if article is None:
        return None
    keys = [key for key in document.image_keys_in(article.html) if key in article.image_keys]
    ttl = found.ttl(utcnow(), content_service.URL_TTL_SECONDS)
    urls = {}
    for key in keys:
        signed = await _signed(storage, key, ttl)
        if signed is not None:
            urls[key] = signed.url
    return document.with_image_urls(article.html, urls) if keys else article.html
