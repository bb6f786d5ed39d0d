"""Storage hygiene: the periodic job that deletes files nothing needs any more.

- uploads not completed by their deadline (24 h): the item ends FAILED, its multipart upload is aborted
  and its staging object (and a final object a crashed completion may have copied) deleted; partial
  files, multipart uploads and staging objects (``uploads/``) no row remembers (a crash between starting
  an upload and recording it, a completed upload's spent URL used again) are swept from the backend after
  24 h as well;
- replaced or removed logos, and logo uploads never used (after 24 h);
- files of purged items: an item deleted longer ago than ``CONTENT_PURGE_RETENTION_DAYS`` with no active
  entitlement left is marked purged (``purged_at``; the row stays, purchases reference it) and its folder
  (original, thumbnails, anything derived) is deleted. An item someone is still entitled to keeps its files.

No storage call happens inside a database transaction: each decision commits together with a row in the
``storage_cleanup`` queue; a drain pass claims due rows (platform scope, one short transaction), deletes
the objects, and removes the rows in a second short transaction. A crash between the two leaves the rows
claimed, and they are taken again after ``CLAIM_LEASE``; deletes are idempotent. Safe on several workers
at once: content rows and queue rows are taken with SKIP LOCKED.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from codex_graphql import events
from codex_graphql.content import repository as contents
from codex_graphql.content.models import ContentStatus
from codex_graphql.content.service import STATUS_EVENT
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.organizations import repository as organizations
from codex_graphql.storage import Storage
from codex_graphql.storage import repository as queue
from codex_graphql.storage.models import CleanupReason

log = logging.getLogger(__name__)

ABANDONED_AFTER = timedelta(hours=24)  # partial files and multipart uploads no row remembers
CLAIM_LEASE = timedelta(minutes=15)
BATCH = 100
_CONTENT_FOLDER = re.compile(r"^(orgs/[0-9a-f-]{36}/content/[0-9a-f-]{36}/)[^/]+$")


@dataclass
class Report:
    expired_uploads: int = 0
    purged_items: int = 0
    swept_partials: int = 0
    deleted: int = 0


async def run(db: Database, storage: Storage, *, retention: timedelta, now: datetime | None = None) -> Report:
    """One pass of everything; ``now`` lets tests move the clock."""
    now = now or utcnow()
    report = Report()
    report.expired_uploads = await expire_uploads(db, now)
    report.purged_items = await purge_deleted(db, now - retention, now)
    report.swept_partials = await storage.sweep_abandoned(now - ABANDONED_AFTER)
    report.deleted = await drain(db, storage, now)
    if report.expired_uploads or report.purged_items or report.swept_partials or report.deleted:
        log.info("storage hygiene", extra=report.__dict__)
    return report


async def _organizations(db: Database) -> list:
    async with db.transaction() as session:
        return await organizations.all_ids(session)


async def expire_uploads(db: Database, now: datetime, batch: int = BATCH) -> int:
    """Items still UPLOADING past their deadline end FAILED; their partial upload is queued for deletion."""
    expired = 0
    for organization_id in await _organizations(db):
        async with db.transaction(TenantScope(organization_id=organization_id)) as session:
            for content in await contents.abandoned_uploads(session, organization_id, now, batch):
                if content.upload_key:
                    queue.schedule(session, organization_id, content.upload_key, CleanupReason.UPLOAD_ABANDONED, now,
                                   upload_id=content.multipart_upload_id)
                queue.schedule(session, organization_id, content.storage_key, CleanupReason.UPLOAD_ABANDONED, now,
                               upload_id=None if content.upload_key else content.multipart_upload_id)  # (rows from before 0015)
                content.status = ContentStatus.FAILED
                content.failure_reason = "The upload was not completed in time."
                content.multipart_upload_id = None
                content.upload_key = None
                content.upload_claimed_at = None
                await session.flush()
                events.emit(session, STATUS_EVENT, {"contentId": str(content.id), "status": "FAILED",
                                                    "failureReason": content.failure_reason}, organization_id)
                expired += 1
    return expired


async def purge_deleted(db: Database, deleted_before: datetime, now: datetime, batch: int = BATCH) -> int:
    """Mark purged the items deleted before ``deleted_before`` that nobody is entitled to, and queue their files."""
    purged = 0
    for organization_id in await _organizations(db):
        async with db.transaction(TenantScope(organization_id=organization_id)) as session:
            for content in await contents.purgeable(session, organization_id, deleted_before, batch):
                folder = _CONTENT_FOLDER.match(content.storage_key or "")
                if folder:  # the item's folder: original, thumbnails and whatever else was derived from it
                    queue.schedule(session, organization_id, folder.group(1), CleanupReason.CONTENT_PURGED, now,
                                   prefix=True, upload_id=None if content.upload_key else content.multipart_upload_id)
                else:  # an unexpected layout: only the keys the row names
                    keys = [content.storage_key] + [t["key"] for t in content.thumbnails or [] if t.get("key")]
                    for key in filter(None, keys):
                        queue.schedule(session, organization_id, key, CleanupReason.CONTENT_PURGED, now)
                if content.upload_key:  # deleted while still uploading: its staging object
                    queue.schedule(session, organization_id, content.upload_key, CleanupReason.CONTENT_PURGED, now,
                                   upload_id=content.multipart_upload_id)
                if content.hls_prefix:  # every version of its HLS ladder (media/transcode.py)
                    queue.schedule(session, organization_id, f"hls/{organization_id}/{content.id}/",
                                   CleanupReason.CONTENT_PURGED, now, prefix=True)
                    content.hls_prefix, content.hls_renditions = None, []
                content.purged_at = now
                content.storage_key = ""
                content.upload_key = None
                content.thumbnails = []
                content.multipart_upload_id = None
                purged += 1
    return purged


async def drain(db: Database, storage: Storage, now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete the objects of due queue rows; returns how many rows were completed."""
    now = now or utcnow()
    total = 0
    while True:
        async with db.transaction(TenantScope.platform_wide()) as session:  # every organization's queue
            claimed = await queue.claim_due(session, now, CLAIM_LEASE, batch)
        done = []
        for row in claimed:  # outside any transaction
            try:
                if row.upload_id:
                    await storage.abort_multipart(row.key, row.upload_id)
                if row.prefix:
                    await storage.delete_prefix(row.key)
                else:
                    await storage.delete(row.key)
            except Exception:  # the row stays claimed and is taken again after the lease
                log.exception("storage clean-up failed", extra={"key": row.key})
                continue
            done.append(row.id)
        async with db.transaction(TenantScope.platform_wide()) as session:
            total += await queue.forget(session, done, now)
        if len(claimed) < batch:
            return total
