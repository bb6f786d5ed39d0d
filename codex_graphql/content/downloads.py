"""Downloads: signed, short-lived URLs to the original file of an item that allows downloads, or to the MP4 of
one of its HLS renditions (``rendition``: a name the item recorded with a download file, see
``media/rendition_files.py``), for staff
of its organization (not counted) and entitled viewers (counted against the organization's limit,
``downloadLimit`` in its settings, per source of their access: a purchase, grant or free claim, or a
subscription covering the item; see ``access.admitting_source``).

Two ways in, one counter:

- ``requestDownload`` (mutation): always issues a fresh URL and counts it; refused with
  DOWNLOAD_LIMIT_REACHED once the limit is used up.
- ``Content.download`` (field): returns the URL of the current window. The first read counts one download
  and opens a window of ``WINDOW_SECONDS``; reads before it closes get a URL expiring at the same instant
  and count nothing, so re-rendering a page or a retried request never burns a download.

A rendition's download counts exactly like one of the original: the same counter, the same limit; a link
window opened by either serves any file of the item until it closes. An unknown rendition, or one without a
download file, is INVALID_INPUT (field ``rendition``) and counts nothing.

Counting is one conditional UPDATE on the counter row of the viewer's source (``used < limit``), so concurrent
requests cannot pass the limit. Signing is local computation (HMAC or SigV4), not a network call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import download_repository as repository
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.media import rendition_files
from codex_graphql.org_settings import service as org_settings
from codex_graphql.storage import Storage

WINDOW_SECONDS = 300


@dataclass(frozen=True, slots=True)
class IssuedDownload:
    url: str | None
    expires_at: datetime | None
    used: int | None  # None: not counted (staff)
    limit: int | None  # None: no limit

    @property
    def remaining(self) -> int | None:
        if self.used is None or self.limit is None:
            return None
        return max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class DownloadFile:
    """What a download link serves: a storage key, the file name the browser saves it as, its content type
    (None: the type stored with the object)."""

    key: str
    filename: str
    content_type: str | None = None


def _stem(content: Content) -> str:
    original = (content.original_filename or "").rsplit("/", 1)[-1]
    stem = original.rsplit(".", 1)[0] if "." in original else original
    stem = re.sub(r"[^\w.-]+", "-", stem or content.title or "", flags=re.UNICODE).strip("-.")
    return stem[:120] or "download"


def file_of(content: Content, rendition: str | None) -> DownloadFile | None:
    """The original file (``rendition`` None), or the MP4 of the named rendition when the item recorded one under
    its current ladder; None for any other name."""
    if rendition is None:
        return DownloadFile(content.storage_key, content.original_filename)
    for found in content.hls_renditions or []:
        key = found.get("download_key")
        if found.get("name") == rendition and key and content.hls_prefix and key.startswith(content.hls_prefix):
            extension = "m4a" if found.get("width") is None else "mp4"
            return DownloadFile(key, f"{_stem(content)}-{rendition}.{extension}", rendition_files.content_type(found))
    return None


def downloadable_renditions(content: Content) -> list[str]:
    return [r["name"] for r in content.hls_renditions or [] if file_of(content, r.get("name")) is not None]


def check_allowed(viewer: Viewer, content: Content, entitled: bool) -> None:
    if not content.allow_downloads:
        raise DomainError(ErrorCode.NOT_ALLOWED, "This item cannot be downloaded.", "contentId")
    if not content_service.can_play(viewer, content, entitled):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You do not have access to this content.", "contentId")


def _no_such_rendition(content: Content) -> str:
    names = ", ".join(downloadable_renditions(content)) or "none"
    return (f"This item has no download of that rendition (downloadable renditions: {names}); leave it out for "
            "the original file.")


def rendition_error(content: Content) -> GraphQLError:
    """``Content.download(rendition:)`` naming no downloadable rendition: BAD_USER_INPUT, field ``rendition``."""
    return GraphQLError(_no_such_rendition(content), extensions={"code": "BAD_USER_INPUT", "field": "rendition"})


def _file(content: Content, rendition: str | None) -> DownloadFile:
    found = file_of(content, rendition)
    if found is None:
        raise DomainError(ErrorCode.INVALID_INPUT, _no_such_rendition(content), "rendition")
    return found


async def _sign(storage: Storage, file: DownloadFile, expires_at: datetime) -> tuple[str, datetime]:
    """A URL valid at least until ``expires_at`` (whole seconds), the expiry reported to the client."""
    seconds = max(math.ceil((expires_at - utcnow()).total_seconds()), 1)
    signed = await storage.presign_get(file.key, seconds, filename=file.filename, content_type=file.content_type)
    return signed.url, expires_at


async def issue(session: AsyncSession, storage: Storage, viewer: Viewer, content: Content, entitled: bool, *,
                reuse_window: bool, rendition: str | None = None) -> IssuedDownload:
    """A signed download URL (see the module docstring); raises DomainError when refused: access first, then
    the rendition, both before anything is counted."""
    check_allowed(viewer, content, entitled)
    file = _file(content, rendition)
    now = utcnow()
    window_ends = (now + timedelta(seconds=WINDOW_SECONDS)).replace(microsecond=0)
    if viewer.can(Permission.CONTENT_READ, content.organization_id):
        url, expires_at = await _sign(storage, file, window_ends)
        return IssuedDownload(url=url, expires_at=expires_at, used=None, limit=None)
    assert viewer.user_id is not None
    limit = (await org_settings.content_defaults(session, content.organization_id)).download_limit
    await repository.ensure_counter(session, viewer.user_id, content.id)
    taken = await repository.take(session, viewer.user_id, content.id, limit, window_ends,
                                  reuse_before=now if reuse_window else None)
    if taken is None:
        found = await repository.current(session, viewer.user_id, content.id)
        if found is None:  # the access that admitted the viewer ended a moment ago (a subscription's period)
            raise DomainError(ErrorCode.NOT_ALLOWED, "You do not have access to this content.", "contentId")
        used, open_until = found
        if not (reuse_window and open_until is not None and open_until > now):
            error = DomainError(ErrorCode.DOWNLOAD_LIMIT_REACHED,
                                f"You have used all {limit} downloads of this item.", "contentId")
            error.used = used  # type: ignore[attr-defined]
            error.limit = limit  # type: ignore[attr-defined]
            raise error
        taken = (used, open_until)
    used, open_until = taken
    url, expires_at = await _sign(storage, file, open_until or window_ends)
    return IssuedDownload(url=url, expires_at=expires_at, used=used, limit=limit)


async def status(session: AsyncSession, viewer: Viewer, content: Content) -> tuple[int | None, int | None]:
    """(used, limit) for the viewer's access to the item, without counting; (None, None) for staff."""
    if viewer.can(Permission.CONTENT_READ, content.organization_id) or viewer.user_id is None:
        return None, None
    limit = (await org_settings.content_defaults(session, content.organization_id)).download_limit
    found = await repository.current(session, viewer.user_id, content.id)
    return (found[0] if found else 0), limit
