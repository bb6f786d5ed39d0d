"""Arranging scheduled publication in tests: items in any state, the documents, and state snapshots read as the
tables' owner (no row-level security)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.relay import to_global_id

ITEM_FIELDS = "id status publishedAt scheduledPublishAt scheduledPublishAtLocal { dateTime timeZone }"
SCHEDULE = f"""mutation($input: ScheduleContentPublishInput!) {{ scheduleContentPublish(input: $input) {{
  errors {{ code field message }} content {{ {ITEM_FIELDS} }} }} }}"""
CANCEL = f"""mutation($input: CancelScheduledPublishInput!) {{ cancelScheduledPublish(input: $input) {{
  errors {{ code field message }} content {{ {ITEM_FIELDS} }} }} }}"""
BULK = f"""mutation($input: ScheduleContentPublishBulkInput!) {{ scheduleContentPublishBulk(input: $input) {{
  errors {{ code field message }} scheduledCount
  results {{ contentId errors {{ code field message }} content {{ {ITEM_FIELDS} }} }} }} }}"""
ITEM = f"""query($id: ID!) {{ content(id: $id) {{ {ITEM_FIELDS} }} }}"""
PUBLIC_LIST = """query($slug: String!) { organization(slug: $slug) { contents(first: 100) { nodes { id } } } }"""

SCHEDULES = "select content_id, organization_id, publish_at, scheduled_by_id from content_publish_schedule order by 1"
STATES = "select id, status, published_at, deleted_at from content order by id"


async def item(db: Database, org: uuid.UUID, creator_id: uuid.UUID, status: ContentStatus = ContentStatus.READY,
               *, deleted: bool = False, title: str = "Item") -> uuid.UUID:
    """A content item inserted as it would be after processing (no media flow needed for scheduling)."""
    content_id = uuid.uuid4()
    async with db.transaction(TenantScope(organization_id=org)) as session:
        session.add(Content(
            id=content_id, organization_id=org, creator_id=creator_id, kind=ContentKind.AUDIO, status=status,
            title=title, storage_key=f"orgs/{org}/content/{content_id}/original.mp3", mime_type="audio/mpeg",
            original_filename="tone.mp3", size_bytes=1000, price_cents=500,
            published_at=utcnow() if status is ContentStatus.PUBLISHED else None,
            upload_expires_at=utcnow() + timedelta(hours=1) if status is ContentStatus.UPLOADING else None,
            deleted_at=utcnow() if deleted else None,
        ))
    return content_id


def gid(content_id: uuid.UUID) -> str:
    return to_global_id("Content", content_id)


def iso(at: datetime) -> str:
    return at.isoformat()


def later(**delta: float) -> datetime:
    """Now plus ``delta``, to the second (what the server keeps)."""
    return (utcnow() + timedelta(**delta)).replace(microsecond=0)


async def rows(admin_db: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await admin_db.fetch(sql, *args)]


def snapshot(admin_db: Any) -> Any:
    """Every schedule and every item's state: what a refused call must leave unchanged."""
    async def taken() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return await rows(admin_db, SCHEDULES), await rows(admin_db, STATES)
    return taken


async def status_events(admin_db: Any, content_id: uuid.UUID, status: str = "PUBLISHED") -> int:
    """Outbox rows announcing ``content_id`` reached ``status``."""
    found = await admin_db.fetch("select payload from outbox_message where topic = 'content.status_changed'")
    return sum(1 for row in found if (payload := json.loads(row["payload"]))["contentId"] == str(content_id)
               and payload["status"] == status)


async def audit_entries(admin_db: Any, action: str, target_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    found = await admin_db.fetch(
        "select actor_user_id, actor_service, target_id, before, after from audit_log_entry where action = $1 "
        "and ($2::uuid is null or target_id = $2) order by created_at", action, target_id)
    return [{**dict(row), "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in found]
