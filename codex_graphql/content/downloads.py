"""Downloads: signed, short-lived URLs to the original file of an item that allows downloads, for staff
of its organization (not counted) and entitled viewers (counted against the organization's limit,
``downloadLimit`` in its settings, per source of their access: a purchase, grant or free claim, or a
subscription covering the item; see ``access.admitting_source``).

Two ways in, one counter:

- ``requestDownload`` (mutation): always issues a fresh URL and counts it; refused with
  DOWNLOAD_LIMIT_REACHED once the limit is used up.
- ``Content.download`` (field): returns the URL of the current window. The first read counts one download
  and opens a window of ``WINDOW_SECONDS``; reads before it closes get a URL expiring at the same instant
  and count nothing, so re-rendering a page or a retried request never burns a download.

Counting is one conditional UPDATE on the counter row of the viewer's source (``used < limit``), so concurrent
requests cannot pass the limit. Signing is local computation (HMAC or SigV4), not a network call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import download_repository as repository
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
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


def check_allowed(viewer: Viewer, content: Content, entitled: bool) -> None:
    if not content.allow_downloads:
        raise DomainError(ErrorCode.NOT_ALLOWED, "This item cannot be downloaded.", "contentId")
    if not content_service.can_play(viewer, content, entitled):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You do not have access to this content.", "contentId")


async def _sign(storage: Storage, content: Content, expires_at: datetime) -> tuple[str, datetime]:
    """A URL valid at least until ``expires_at`` (whole seconds), the expiry reported to the client."""
    seconds = max(math.ceil((expires_at - utcnow()).total_seconds()), 1)
    signed = await storage.presign_get(content.storage_key, seconds, filename=content.original_filename)
    return signed.url, expires_at


async def issue(session: AsyncSession, storage: Storage, viewer: Viewer, content: Content, entitled: bool, *,
                reuse_window: bool) -> IssuedDownload:
    """A signed download URL (see the module docstring); raises DomainError when refused."""
    check_allowed(viewer, content, entitled)
    now = utcnow()
    window_ends = (now + timedelta(seconds=WINDOW_SECONDS)).replace(microsecond=0)
    if viewer.can(Permission.CONTENT_READ, content.organization_id):
        url, expires_at = await _sign(storage, content, window_ends)
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
    url, expires_at = await _sign(storage, content, open_until or window_ends)
    return IssuedDownload(url=url, expires_at=expires_at, used=used, limit=limit)


async def status(session: AsyncSession, viewer: Viewer, content: Content) -> tuple[int | None, int | None]:
    """(used, limit) for the viewer's access to the item, without counting; (None, None) for staff."""
    if viewer.can(Permission.CONTENT_READ, content.organization_id) or viewer.user_id is None:
        return None, None
    limit = (await org_settings.content_defaults(session, content.organization_id)).download_limit
    found = await repository.current(session, viewer.user_id, content.id)
    return (found[0] if found else 0), limit
