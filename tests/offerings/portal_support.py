"""Helpers of the portal tests: GraphQL documents, content inserted straight into an organization, state
snapshots."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from codex_graphql.db import TenantScope, utcnow
from codex_graphql.relay import to_global_id

ERRORS = "errors { code field message }"
ITEM = """id kind title position content { id title viewerHasAccess } file { filename contentType sizeBytes
  uploaded url expiresAt }"""
ATTACH = f"""mutation($input: AttachToOfferingPortalInput!) {{ attachToOfferingPortal(input: $input) {{ {ERRORS}
  offering {{ id }} item {{ {ITEM} }} upload {{ url method headers {{ name value }} expiresAt }} }} }}"""
COMPLETE_FILE = f"""mutation($input: PortalItemInput!) {{ completePortalFileUpload(input: $input) {{ {ERRORS}
  item {{ {ITEM} }} }} }}"""
DETACH = f"""mutation($input: PortalItemInput!) {{ detachFromOfferingPortal(input: $input) {{ {ERRORS}
  offering {{ id }} }} }}"""
ANNOUNCE = f"""mutation($input: PostOfferingAnnouncementInput!) {{ postOfferingAnnouncement(input: $input) {{
  {ERRORS} offering {{ id }} announcement {{ id title body createdAt }} }} }}"""
PORTAL = f"""query($id: ID!) {{ node(id: $id) {{ ... on Offering {{ viewerIsParticipant
  portal {{ items {{ {ITEM} }} announcements {{ id title body }} }} }} }} }}"""
CONTENT = "query($id: ID!) { content(id: $id) { id title viewerHasAccess playback { url expiresAt } } }"


async def insert_content(db: Any, org: uuid.UUID, creator: uuid.UUID, title: str, *, status: str = "READY",
                         listed: bool = False, price: int = 900) -> str:
    """A video item of ``org`` (READY and unlisted by default: nobody but staff and entitled viewers sees it)."""
    content_id = uuid.uuid4()
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(text(
            "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key, "
            "mime_type, original_filename, size_bytes, duration_seconds, listed, published_at) values (:id, :org, "
            ":creator, 'VIDEO', :status, :title, :price, :key, 'video/mp4', 'a.mp4', 100, 60, :listed, :published)"),
            {"id": content_id, "org": org, "creator": creator, "title": title, "price": price, "status": status,
             "listed": listed, "published": utcnow() if status == "PUBLISHED" else None, "key": f"orgs/{org}/content/{content_id}/original.mp4"})
    return to_global_id("Content", content_id)


async def portal_state(admin_db: Any) -> tuple[Any, ...]:
    """Everything a refused portal change must leave as it was."""
    return (
        await admin_db.fetch("select id, offering_id, kind, content_id, title, position, storage_key, uploaded_at "
                             "from offering_portal_item order by id"),
        await admin_db.fetch("select id, title, body from offering_announcement order by id"),
        await admin_db.fetchval("select count(*) from outbox_message where topic = 'offering_announcement_mail'"),
        await admin_db.fetchval("select count(*) from storage_cleanup"),
    )
