"""Arranging preview links in tests: documents, items in several states, state snapshots."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from codex_graphql.relay import decode_id
from tests.support import GraphQLClient
from tests.support.commerce import insert_content
from tests.support.reviews import set_item

LINK_FIELDS = "id url status expiresAt createdAt revokedAt createdBy { id } revokedBy { id }"
CREATE = f"""mutation($input: CreateContentPreviewLinkInput!) {{ createContentPreviewLink(input: $input) {{
  errors {{ code field message }} token previewLink {{ {LINK_FIELDS} content {{ id }} }} }} }}"""
REVOKE = f"""mutation($input: RevokeContentPreviewLinkInput!) {{ revokeContentPreviewLink(input: $input) {{
  errors {{ code field message }} previewLink {{ {LINK_FIELDS} }} }} }}"""
PREVIEW = """query($token: String!) { contentPreview(token: $token) {
  kind status title description durationSeconds thumbnailUrl expiresAt playback { url expiresAt } body } }"""
LINKS = f"""query($id: ID!, $all: Boolean! = false) {{ content(id: $id) {{ id
  previewLinks(includeInactive: $all) {{ {LINK_FIELDS} }} }} }}"""
NODE = "query($id: ID!) { node(id: $id) { ... on ContentPreviewLink { id status } } }"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def item_id(global_id: str) -> uuid.UUID:
    found = decode_id(global_id, "Content")
    assert found is not None
    return found


async def draft(db: Any, org: uuid.UUID, creator: uuid.UUID, title: str = "Draft film") -> str:
    """A READY (never published) video item, without a file."""
    item = await insert_content(db, org, creator, title, 500)
    await set_item(db, org, item_id(item), status="READY", published_at=None)
    return item


async def create(gql: GraphQLClient, token: str | None, content_id: str, hours: int | None = 2) -> dict[str, Any]:
    fields: dict[str, Any] = {"contentId": content_id}
    if hours is not None:
        fields["expiresInHours"] = hours
    return (await gql(CREATE, {"input": fields}, token))["data"]["createContentPreviewLink"]


async def created(gql: GraphQLClient, token: str, content_id: str, hours: int = 2) -> dict[str, Any]:
    result = await create(gql, token, content_id, hours)
    assert result["errors"] == [], result
    return result


async def revoke(gql: GraphQLClient, token: str | None, link_id: str) -> dict[str, Any]:
    return (await gql(REVOKE, {"input": {"previewLinkId": link_id}}, token))["data"]["revokeContentPreviewLink"]


async def preview(gql: GraphQLClient, token: str, caller: str | None = None) -> dict[str, Any] | None:
    result: dict[str, Any] | None = (await gql.ok(PREVIEW, {"token": token}, caller))["contentPreview"]
    return result


async def state(admin_db: Any) -> tuple[Any, ...]:
    """Every link, audit entry, view and entitlement in the database (as the owner: no row-level security)."""
    links = await admin_db.fetch("select id, organization_id, content_id, token_hash, expires_at, revoked_at, "
                                 "revoked_by_user_id from content_preview_link order by id")
    audit = await admin_db.fetchval("select count(*) from audit_log_entry")
    views = await admin_db.fetchval("select count(*) from content_view")
    entitlements = await admin_db.fetchval("select count(*) from content_entitlement")
    return [tuple(r) for r in links], audit, views, entitlements
