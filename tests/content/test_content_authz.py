"""Authorization matrices for every content mutation and restricted Content field, cross-tenant ids,
and the visibility of unpublished items.

Permission rules (HasOrgPermission) are evaluated against the viewer's *active* organization, which
for every actor here is their first (only) membership. "Staff of another organization" therefore
passes a mutation's permission check in their own organization; what keeps them out of this one is
the organization-scoped lookup (NOT_FOUND payload error), tested separately from the matrices.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.content.models import (
    Content,
    ContentEntitlement,
    ContentKind,
    ContentStatus,
    EntitlementSource,
)
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.relay import decode_id, to_global_id
from tests.support import Actors, assert_authz_matrix, make_actors
from tests.support.content import create, upload

CONTENT_SNAPSHOT = "select id, status, title, price_cents, tags, deleted_at from content order by id"
POSITION_SNAPSHOT = "select user_id, content_id, position_seconds from playback_position order by user_id, content_id"


@dataclass
class Without(Actors):
    """The matrix callers minus some, for fields where a caller's outcome is not a GraphQL error
    (it gets a payload error instead) and is asserted on its own."""

    skip: tuple[str, ...] = ()

    def tokens(self) -> dict[str, str | None]:
        return {name: token for name, token in super().tokens().items() if name not in self.skip}


def without(actors: Actors, *names: str) -> Without:
    return Without(**vars(actors), skip=names)


async def insert_content(db: Any, org: uuid.UUID, creator_id: uuid.UUID, *, status: ContentStatus,
                         title: str = "Item", kind: ContentKind = ContentKind.AUDIO, **fields: Any) -> uuid.UUID:
    content_id = uuid.uuid4()
    async with db.transaction(TenantScope(organization_id=org)) as session:
        session.add(Content(
            id=content_id, organization_id=org, creator_id=creator_id, kind=kind, status=status, title=title,
            storage_key=f"orgs/{org}/content/{content_id}/original.mp3", mime_type="audio/mpeg",
            original_filename="tone.mp3", size_bytes=1000, price_cents=fields.pop("price_cents", 500),
            published_at=utcnow() if status is ContentStatus.PUBLISHED else None,
            upload_expires_at=utcnow() + timedelta(hours=1) if status is ContentStatus.UPLOADING else None,
            **fields,
        ))
    return content_id


async def grant(db: Any, org: uuid.UUID, content_id: uuid.UUID, user_id: uuid.UUID) -> None:
    async with db.transaction(TenantScope(organization_id=org)) as session:
        session.add(ContentEntitlement(organization_id=org, user_id=user_id, content_id=content_id,
                                       source=EntitlementSource.GRANT))


def gid(content_id: uuid.UUID) -> str:
    return to_global_id("Content", content_id)


def snapshot_of(admin_db: Any, sql: str = CONTENT_SNAPSHOT) -> Any:
    async def snapshot() -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await admin_db.fetch(sql)]
    return snapshot


# --- createContent -------------------------------------------------------------------------------

CREATE = """mutation($input: CreateContentInput!) { createContent(input: $input) {
  errors { code field message } content { id status title } upload { url } } }"""
CREATE_INPUT = {"kind": "AUDIO", "title": "New episode", "filename": "tone.mp3", "mimeType": "audio/mpeg",
                "sizeBytes": 12345, "priceCents": 100}


async def test_create_content_matrix(gql, factory, admin_db):
    for with_role in (OrgRole.OWNER, OrgRole.ADMIN, OrgRole.CREATOR):
        # MEMBER is the staff role without CONTENT_CREATE.
        actors = await make_actors(factory, with_role=with_role, without_role=OrgRole.MEMBER)
        await assert_authz_matrix(
            gql, without(actors, "other_org_staff"), CREATE, {"input": CREATE_INPUT},
            path=["createContent", "content"], allowed={"staff_with_permission"}, snapshot=snapshot_of(admin_db),
        )
        rows = await admin_db.fetch("select creator_id, status, title from content where organization_id = $1", actors.org)
        assert [tuple(r) for r in rows] == [(actors.staff_with.user_id, "UPLOADING", "New episode")], with_role
        # Staff of another organization create in *their* active organization, never in this one.
        other = await gql.ok(CREATE, {"input": CREATE_INPUT}, actors.other_staff.token)
        assert other["createContent"]["content"]["status"] == "UPLOADING"
        # Naming this organization in the header is refused for a non-member (no fallback to their own).
        hinted = await gql(CREATE, {"input": CREATE_INPUT}, actors.other_staff.token,
                           headers={"x-codex-organization": actors.org_slug})
        assert [e["extensions"]["code"] for e in hinted["errors"]] == ["FORBIDDEN"] and hinted["data"] is None
        assert await admin_db.fetchval("select count(*) from content where organization_id = $1", actors.org) == 1
        assert await admin_db.fetchval("select count(*) from content where organization_id = $1", actors.other_org) == 1


# --- the CONTENT_MANAGE mutations ----------------------------------------------------------------

MANAGE = {
    "completeContentUpload": "mutation($id: ID!) { completeContentUpload(input: {contentId: $id}) "
                             "{ errors { code field } content { id status } } }",
    "updateContent": "mutation($id: ID!) { updateContent(input: {contentId: $id, title: \"Renamed\", priceCents: 999, "
                     "tags: [\"New Tag\"]}) { errors { code field } content { id title priceCents tags } } }",
    "publishContent": "mutation($id: ID!) { publishContent(input: {contentId: $id}) "
                      "{ errors { code field } content { id status } } }",
    "unpublishContent": "mutation($id: ID!) { unpublishContent(input: {contentId: $id}) "
                        "{ errors { code field } content { id status } } }",
    "deleteContent": "mutation($id: ID!) { deleteContent(input: {contentId: $id}) "
                     "{ errors { code field } content { id } } }",
}
# The state each mutation needs to succeed, and what the allowed caller leaves behind.
BEFORE = {"completeContentUpload": ContentStatus.UPLOADING, "updateContent": ContentStatus.READY,
          "publishContent": ContentStatus.READY, "unpublishContent": ContentStatus.PUBLISHED,
          "deleteContent": ContentStatus.PUBLISHED}
AFTER = {"completeContentUpload": ("PROCESSING", "Item", 500, False), "updateContent": ("READY", "Renamed", 999, False),
         "publishContent": ("PUBLISHED", "Item", 500, False), "unpublishContent": ("READY", "Item", 500, False),
         "deleteContent": ("PUBLISHED", "Item", 500, True)}


async def uploaded_item(gql, http, token: str, folder) -> uuid.UUID:
    """An UPLOADING item whose file is in storage, created through the API (never processed here,
    so the bytes need not be real audio)."""
    file = folder / "tone.mp3"
    file.write_bytes(b"ID3" + bytes(range(256)) * 4)
    created = await create(gql, token, file, title="Item", price=500)
    assert created["errors"] == [], created
    await upload(http, created["upload"], file)
    content_id = decode_id(created["content"]["id"], "Content")
    assert content_id is not None
    return content_id


@pytest.mark.parametrize("with_role", [OrgRole.OWNER, OrgRole.CREATOR])
async def test_manage_mutation_matrix(gql, http, factory, db, admin_db, tmp_path, with_role):
    # MEMBER is the staff role without CONTENT_MANAGE; a CREATOR manages the items it created.
    actors = await make_actors(factory, with_role=with_role, without_role=OrgRole.MEMBER)
    for mutation in MANAGE:
        if mutation == "completeContentUpload":
            content_id = await uploaded_item(gql, http, actors.staff_with.token, tmp_path)
        else:
            content_id = await insert_content(db, actors.org, actors.staff_with.user_id, status=BEFORE[mutation])
        await assert_authz_matrix(
            gql, without(actors, "other_org_staff"), MANAGE[mutation], {"id": gid(content_id)},
            path=[mutation, "content"], allowed={"staff_with_permission"}, snapshot=snapshot_of(admin_db),
        )
        row = await admin_db.fetchrow("select status, title, price_cents, deleted_at from content where id = $1",
                                      content_id)
        status, title, price, deleted = AFTER[mutation]
        assert (row["status"], row["title"], row["price_cents"], row["deleted_at"] is not None) == (
            status, title, price, deleted), mutation


@pytest.fixture
async def actors(factory) -> Actors:
    return await make_actors(factory)


CROSS_TENANT = {
    **MANAGE,
    "savePlaybackPosition": "mutation($id: ID!) { savePlaybackPosition(input: {contentId: $id, positionSeconds: 1}) "
                            "{ errors { code field } positionSeconds content { id } } }",
}


async def test_other_org_staff_cannot_touch_content_by_crafted_id(gql, db, admin_db, actors):
    content_snapshot, position_snapshot = snapshot_of(admin_db), snapshot_of(admin_db, POSITION_SNAPSHOT)
    for status in (ContentStatus.UPLOADING, ContentStatus.READY, ContentStatus.PUBLISHED):
        content_id = await insert_content(db, actors.org, actors.staff_with.user_id, status=status)
        before = (await content_snapshot(), await position_snapshot())
        for name, mutation in CROSS_TENANT.items():
            body = await gql(mutation, {"id": gid(content_id)}, actors.other_staff.token)
            assert "errors" not in body, (name, body)
            payload = body["data"][name]
            expected = "NOT_FOUND"
            if name == "savePlaybackPosition" and status is ContentStatus.PUBLISHED:
                expected = "NOT_ALLOWED"  # published items are visible to everyone, playable only with access
            assert [(e["code"], e["field"]) for e in payload["errors"]] == [(expected, ["input", "contentId"])], (
                name, status, body)
            assert payload["content"] is None, (name, body)
        assert (await content_snapshot(), await position_snapshot()) == before, status
        # The same id works for the organization's own staff (it is a real id, not a malformed one).
        renamed = await gql.ok(MANAGE["updateContent"], {"id": gid(content_id)}, actors.staff_with.token)
        assert renamed["updateContent"]["content"]["title"] == "Renamed"

    # Malformed ids, ids of another type and unknown ids are NOT_FOUND for the organization's own staff too.
    for bad in ("not-an-id", to_global_id("User", actors.staff_with.user_id), gid(uuid.uuid4())):
        for name, mutation in CROSS_TENANT.items():
            payload = (await gql(mutation, {"id": bad}, actors.staff_with.token))["data"][name]
            assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], (name, bad, payload)


# --- savePlaybackPosition ------------------------------------------------------------------------

SAVE = """mutation($id: ID!, $p: Float!) { savePlaybackPosition(input: {contentId: $id, positionSeconds: $p}) {
  errors { code field } positionSeconds } }"""


async def test_save_playback_position_matrix(gql, factory, db, admin_db, actors):
    content_id = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.PUBLISHED)
    await grant(db, actors.org, content_id, actors.customer.user_id)
    # IsAuthenticated plus access: the entitled customer and the organization's staff (CONTENT_READ, which
    # MEMBER has too) may save; the anonymous caller is UNAUTHENTICATED.
    await assert_authz_matrix(
        gql, without(actors, "other_org_staff"), SAVE, {"id": gid(content_id), "p": 1.5},
        path=["savePlaybackPosition", "positionSeconds"],
        allowed={"customer", "staff_without_permission", "staff_with_permission"},
        snapshot=snapshot_of(admin_db, POSITION_SNAPSHOT),
    )
    saved = {r["user_id"] for r in await admin_db.fetch("select user_id from playback_position")}
    assert saved == {actors.customer.user_id, actors.staff_without.user_id, actors.staff_with.user_id}

    # Signed in but without access: a payload error, not a GraphQL error, and nothing stored.
    stranger = (await factory.user()).token
    for token in (stranger, actors.other_staff.token):
        body = await gql(SAVE, {"id": gid(content_id), "p": 1.0}, token)
        assert "errors" not in body, body
        payload = body["data"]["savePlaybackPosition"]
        assert payload == {"errors": [{"code": "NOT_ALLOWED", "field": ["input", "contentId"]}], "positionSeconds": None}
    assert {r["user_id"] for r in await admin_db.fetch("select user_id from playback_position")} == saved

    # The matrix's customer on an item it was never entitled to, then on one whose entitlement was revoked.
    never = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.PUBLISHED)
    revoked = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.PUBLISHED)
    await grant(db, actors.org, revoked, actors.customer.user_id)
    await admin_db.execute("update content_entitlement set revoked_at = now() where content_id = $1", revoked)
    for item in (never, revoked):
        body = await gql(SAVE, {"id": gid(item), "p": 1.0}, actors.customer.token)
        assert "errors" not in body, body
        assert body["data"]["savePlaybackPosition"]["errors"] == [
            {"code": "NOT_ALLOWED", "field": ["input", "contentId"]}]
    assert {r["user_id"] for r in await admin_db.fetch("select user_id from playback_position")} == saved


# --- Content.failureReason, Content.media, Content.playback ----------------------------------------

# Every built-in staff role holds CONTENT_READ, so "staff without the permission" cannot exist for
# these fields: the MEMBER (the matrix's staff_without_permission) is asserted to be *allowed*.
STAFF = {"staff_without_permission", "staff_with_permission"}


async def test_staff_only_content_fields_matrix(gql, db, admin_db, actors):
    # Published so that every caller can see the item itself; a failure reason from an earlier
    # processing attempt is kept on the row, which is exactly what must not leak.
    content_id = await insert_content(
        db, actors.org, actors.staff_with.user_id, status=ContentStatus.PUBLISHED,
        failure_reason="ffprobe: moov atom not found", media_info={"container": "mp3", "audio_codec": "mp3"},
    )
    expected = {"failureReason": "ffprobe: moov atom not found", "media": {"container": "mp3", "audioCodec": "mp3"}}
    for field, selection in (("failureReason", "failureReason"), ("media", "media { container audioCodec }")):
        query = f"query($id: ID!) {{ content(id: $id) {{ id title {selection} }} }}"
        results = await assert_authz_matrix(gql, actors, query, {"id": gid(content_id)}, path=["content", field],
                                            allowed=STAFF, snapshot=snapshot_of(admin_db))
        for name, body in results.items():
            assert body["data"]["content"]["title"] == "Item", name  # only the guarded field is nulled
            if name in STAFF:
                assert body["data"]["content"][field] == expected[field], name


PLAY = "query($id: ID!) { content(id: $id) { id viewerHasAccess playback { url expiresAt } } }"


async def test_playback_matrix(gql, db, admin_db, actors):
    content_id = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.PUBLISHED)
    results = await assert_authz_matrix(gql, actors, PLAY, {"id": gid(content_id)}, path=["content", "playback"],
                                        allowed=STAFF, snapshot=snapshot_of(admin_db))
    access = {name: body["data"]["content"]["viewerHasAccess"] for name, body in results.items()}
    assert access == {"anonymous": False, "customer": False, "other_org_staff": False,
                      "staff_without_permission": True, "staff_with_permission": True}
    # An entitled customer plays it.
    await grant(db, actors.org, content_id, actors.customer.user_id)
    entitled = (await gql.ok(PLAY, {"id": gid(content_id)}, actors.customer.token))["content"]
    assert entitled["viewerHasAccess"] is True and entitled["playback"]["url"].startswith("http://testserver/")
    # Revoking the entitlement takes it away again.
    await admin_db.execute("update content_entitlement set revoked_at = now()")
    revoked = await gql(PLAY, {"id": gid(content_id)}, actors.customer.token)
    assert [e["extensions"]["code"] for e in revoked["errors"]] == ["FORBIDDEN"]
    assert revoked["data"]["content"]["playback"] is None

    # Staff may play an item before it is published, but nothing before processing has finished.
    ready = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.READY)
    uploading = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.UPLOADING)
    staff = (await gql.ok(PLAY, {"id": gid(ready)}, actors.staff_without.token))["content"]
    assert staff["playback"]["url"] and staff["viewerHasAccess"] is True
    early = await gql(PLAY, {"id": gid(uploading)}, actors.staff_with.token)
    assert [e["extensions"]["code"] for e in early["errors"]] == ["FORBIDDEN"]
    assert early["data"]["content"]["viewerHasAccess"] is False


# --- visibility of unpublished items --------------------------------------------------------------

BY_ID = "query($id: ID!) { content(id: $id) { id status } node(id: $id) { id ... on Content { status } } }"
LIST = """query($slug: String!) { organization(slug: $slug) {
  contents(first: 50) { totalCount edges { node { id status } } } } }"""
FILTERED = """query($slug: String!, $s: ContentStatus) { organization(slug: $slug) {
  contents(filter: {status: $s}) { totalCount nodes { id } } } }"""


async def test_unpublished_items_are_invisible_outside_the_org(gql, db, actors):
    public = await insert_content(db, actors.org, actors.staff_with.user_id, status=ContentStatus.PUBLISHED)
    hidden = {status: await insert_content(db, actors.org, actors.staff_with.user_id, status=status, title="Hidden")
              for status in (ContentStatus.UPLOADING, ContentStatus.PROCESSING, ContentStatus.READY, ContentStatus.FAILED)}
    outsiders = {"anonymous": None, "customer": actors.customer.token, "other_org_staff": actors.other_staff.token}
    for name, token in outsiders.items():
        listed = (await gql.ok(LIST, {"slug": actors.org_slug}, token))["organization"]["contents"]
        assert listed["totalCount"] == 1, name
        assert [e["node"]["id"] for e in listed["edges"]] == [gid(public)], name
        for status, content_id in hidden.items():
            one = await gql.ok(BY_ID, {"id": gid(content_id)}, token)
            assert one == {"content": None, "node": None}, (name, status)
            # Filtering by the hidden status does not reveal it either.
            filtered = await gql.ok(FILTERED, {"slug": actors.org_slug, "s": status.value}, token)
            assert filtered["organization"]["contents"] == {"totalCount": 1, "nodes": [{"id": gid(public)}]}, name
    for token in (actors.staff_without.token, actors.staff_with.token):
        listed = (await gql.ok(LIST, {"slug": actors.org_slug}, token))["organization"]["contents"]
        assert listed["totalCount"] == 5
        assert {e["node"]["id"] for e in listed["edges"]} == {gid(public), *map(gid, hidden.values())}
        for status, content_id in hidden.items():
            one = await gql.ok(BY_ID, {"id": gid(content_id)}, token)
            assert one == {"content": {"id": gid(content_id), "status": status.value},
                           "node": {"id": gid(content_id), "status": status.value}}
