"""Preview links end to end (issue 16, item 5): staff make a link to a draft, anyone holding it sees the draft and
plays its media on the local storage backend, with no entitlement and no counted view; expired, revoked, wrong
and hostile tokens, and a deleted item's links, show nothing and change nothing."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from codex_graphql.relay import decode_id, to_global_id
from tests.previews.support import (
    LINKS,
    PREVIEW,
    created,
    draft,
    item_id,
    preview,
    revoke,
    sha256,
    state,
)
from tests.previews.support import create as create_link
from tests.support import make_actors
from tests.support.content import ready_content

DELETE = """mutation($id: ID!) { deleteContent(input: {contentId: $id}) { errors { code } } }"""
ACCESS = "query($id: ID!) { content(id: $id) { id viewerHasAccess } }"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_the_holder_sees_the_draft_and_plays_it_without_access_or_views(app, gql, http, factory, admin_db,
                                                                               media_dir, settings):
    actors = await make_actors(factory)
    owner = actors.staff_with
    item = await ready_content(app, gql, http, owner.token, actors.org, media_dir / "clip.mp4", publish=False,
                               title="Unreleased cut")
    made = await created(gql, owner.token, item, hours=3)
    token, link = made["token"], made["previewLink"]
    assert link["url"] == f"{settings.public_base_url}/preview/{token}"
    assert link["status"] == "ACTIVE" and link["revokedAt"] is None and link["content"] == {"id": item}
    assert link["createdBy"]["id"] == owner.global_id
    lasts = _at(link["expiresAt"]) - _at(link["createdAt"])
    assert lasts == timedelta(hours=3)

    # Only the token's hash is kept, and the audit entry names the item, never the token.
    row = await admin_db.fetchrow("select * from content_preview_link where id = $1",
                                  decode_id(link["id"], "ContentPreviewLink"))
    assert row["token_hash"] == sha256(token) and token not in json.dumps([str(v) for v in row.values()])
    entry = await admin_db.fetchrow("select action, target_id, after::text as after from audit_log_entry "
                                    "where target_type = 'ContentPreviewLink'")
    assert entry["action"] == "CONTENT_PREVIEW_LINK_CREATED" and entry["target_id"] == row["id"]
    assert str(item_id(item)) in entry["after"] and token not in entry["after"]

    before = await state(admin_db)
    customer = actors.customer
    for caller in (None, customer.token):  # anonymous, and a signed-in customer without access
        shown = await preview(gql, token, caller)
        assert shown is not None
        assert (shown["title"], shown["kind"], shown["status"], shown["body"]) == ("Unreleased cut", "VIDEO", "READY",
                                                                                   None)
        assert 1.9 <= shown["durationSeconds"] <= 2.2 and _at(shown["expiresAt"]) == _at(link["expiresAt"])
        media = await http.get(shown["playback"]["url"], headers={"range": "bytes=0-99"})
        assert media.status_code == 206 and len(media.content) == 100
        whole = await http.get(shown["playback"]["url"])
        assert whole.status_code == 200 and whole.content == (media_dir / "clip.mp4").read_bytes()
        thumbnail = await http.get(shown["thumbnailUrl"])
        assert thumbnail.status_code == 200 and thumbnail.content[:3] == b"\xff\xd8\xff"
        played_until = _at(shown["playback"]["expiresAt"])
        assert played_until <= datetime.now(UTC) + timedelta(hours=1, seconds=1)
    # Nothing was written: no entitlement, no view, no audit entry, the link as it was.
    assert await state(admin_db) == before
    assert await admin_db.fetchval("select count(*) from content_view where content_id = $1", item_id(item)) == 0
    # The preview gave no access to the item itself.
    assert (await gql.ok(ACCESS, {"id": item}, customer.token))["content"] is None
    assert (await gql.ok(ACCESS, {"id": item}))["content"] is None


async def test_signed_urls_never_outlive_the_link(app, gql, http, factory, admin_db, media_dir):
    actors = await make_actors(factory)
    item = await ready_content(app, gql, http, actors.staff_with.token, actors.org, media_dir / "clip.mp4",
                               publish=False)
    made = await created(gql, actors.staff_with.token, item, hours=24)
    soon = datetime.now(UTC) + timedelta(minutes=10)
    await admin_db.execute("update content_preview_link set expires_at = $1 where token_hash = $2", soon,
                           sha256(made["token"]))
    shown = await preview(gql, made["token"])
    assert shown is not None and _at(shown["expiresAt"]) == soon
    assert _at(shown["playback"]["expiresAt"]) <= soon  # not the hour a playback URL lasts elsewhere
    assert _at(shown["playback"]["expiresAt"]) > soon - timedelta(seconds=30)
    assert (await http.get(shown["playback"]["url"])).status_code == 200


async def test_expired_revoked_wrong_and_deleted_show_nothing(gql, factory, db, admin_db):
    actors = await make_actors(factory)
    owner = actors.staff_with.token
    item = await draft(db, actors.org, actors.staff_with.user_id)
    live, expired, revoked = [await created(gql, owner, item) for _ in range(3)]
    assert (await preview(gql, live["token"]))["title"] == "Draft film"

    # Expired: moved into the past in the database.
    await admin_db.execute("update content_preview_link set expires_at = now() - interval '1 second' "
                           "where token_hash = $1", sha256(expired["token"]))
    assert await preview(gql, expired["token"]) is None
    # Revoked, and revoking again changes nothing (one audit entry).
    first = await revoke(gql, owner, revoked["previewLink"]["id"])
    assert first["errors"] == [] and first["previewLink"]["status"] == "REVOKED"
    assert first["previewLink"]["revokedBy"]["id"] == actors.staff_with.global_id
    again = await revoke(gql, owner, revoked["previewLink"]["id"])
    assert again["errors"] == [] and again["previewLink"]["revokedAt"] == first["previewLink"]["revokedAt"]
    assert await admin_db.fetchval("select count(*) from audit_log_entry where action = "
                                   "'CONTENT_PREVIEW_LINK_REVOKED'") == 1
    assert await preview(gql, revoked["token"]) is None
    # Wrong: a fresh token, a near miss of a live one, the stored hash itself.
    near = live["token"][:-1] + ("A" if live["token"][-1] != "A" else "B")
    for wrong in (secrets.token_urlsafe(32), near, sha256(live["token"])):
        assert await preview(gql, wrong) is None, wrong
    assert await preview(gql, live["token"]) is not None  # the live one still works

    # Staff see every state in the item's list; only working links by default; never a token or URL.
    listed = (await gql.ok(LINKS, {"id": item, "all": True}, owner))["content"]["previewLinks"]
    assert sorted(link["status"] for link in listed) == ["ACTIVE", "EXPIRED", "REVOKED"]
    assert all(link["url"] is None for link in listed)
    working = (await gql.ok(LINKS, {"id": item}, owner))["content"]["previewLinks"]
    assert [link["id"] for link in working] == [live["previewLink"]["id"]]

    # A deleted item's links stop working.
    assert (await gql.ok(DELETE, {"id": item}, owner))["deleteContent"]["errors"] == []
    assert await preview(gql, live["token"]) is None


async def test_a_draft_without_playable_media_is_shown_without_playback(gql, factory, db, admin_db):
    actors = await make_actors(factory)
    item = await draft(db, actors.org, actors.staff_with.user_id)
    made = await created(gql, actors.staff_with.token, item)
    await admin_db.execute("update content set status = 'PROCESSING' where id = $1", item_id(item))
    shown = await preview(gql, made["token"])
    assert shown is not None and shown["status"] == "PROCESSING" and shown["playback"] is None


async def test_an_article_preview_shows_its_whole_body(gql, factory, db, admin_db):
    actors = await make_actors(factory)
    item = await draft(db, actors.org, actors.staff_with.user_id, title="Essay")
    await admin_db.execute("update content set kind = 'ARTICLE', storage_key = '' where id = $1", item_id(item))
    await admin_db.execute(
        "insert into article_body (content_id, organization_id, document, html, excerpt_html, plain_text, "
        "word_count, reading_minutes) values ($1, $2, '{}', '<p>Free part</p><p>Paid part</p>', "
        "'<p>Free part</p>', 'Free part Paid part', 4, 1)", item_id(item), actors.org)
    made = await created(gql, actors.staff_with.token, item)
    shown = await preview(gql, made["token"])
    assert shown is not None and shown["kind"] == "ARTICLE"
    assert shown["body"] == "<p>Free part</p><p>Paid part</p>" and shown["playback"] is None
    assert await admin_db.fetchval("select count(*) from content_view") == 0


@pytest.mark.parametrize("hostile", [
    "", " ", "x" * 100_000, "é" * 43, "🙂" * 43, "a" * 42, "a" * 44, "../../etc/passwd",
    "'; drop table content_preview_link; --", "%00" * 15, "a" * 42 + "\u200b",
])
async def test_hostile_tokens_are_null_and_change_nothing(gql, factory, db, admin_db, hostile):
    actors = await make_actors(factory)
    item = await draft(db, actors.org, actors.staff_with.user_id)
    await created(gql, actors.staff_with.token, item)
    before = await state(admin_db)
    body = await gql(PREVIEW, {"token": hostile})  # the client fails on INTERNAL_SERVER_ERROR
    assert "errors" not in body and body["data"] == {"contentPreview": None}
    assert await state(admin_db) == before


async def test_a_nul_in_the_token_is_a_typed_error(gql):
    body = await gql(PREVIEW, {"token": "a" * 20 + "\x00" + "a" * 22})
    assert body["data"] is None and {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


async def test_bad_input_to_the_mutations(gql, factory, db, admin_db):
    actors = await make_actors(factory)
    owner = actors.staff_with.token
    item = await draft(db, actors.org, actors.staff_with.user_id)
    other_item = await draft(db, actors.other_org, actors.other_staff.user_id)
    before = await state(admin_db)
    for hours in (0, -5, 721, 2**31 - 1):
        refused = await create_link(gql, owner, item, hours)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", ["input", "expiresInHours"])]
        assert refused["previewLink"] is None and refused["token"] is None
    for content_id in (other_item, "not-an-id", to_global_id("Content", uuid.uuid4()), actors.staff_with.global_id):
        refused = await create_link(gql, owner, content_id)
        assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"], (content_id, refused)
    for link_id in ("not-an-id", item):  # malformed, and the id of something that is not a link
        refused = await revoke(gql, owner, link_id)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_FOUND", ["input", "previewLinkId"])]
    assert await state(admin_db) == before
    # The default lasts 72 hours; at most 20 working links per item.
    made = await create_link(gql, owner, item, None)
    link = made["previewLink"]
    assert _at(link["expiresAt"]) - _at(link["createdAt"]) == timedelta(hours=72)
    for _ in range(19):
        await created(gql, owner, item)
    refused = await create_link(gql, owner, item)
    assert [e["code"] for e in refused["errors"]] == ["NOT_ALLOWED"]
    assert (await revoke(gql, owner, link["id"]))["errors"] == []
    assert (await create_link(gql, owner, item))["errors"] == []  # room again


async def test_the_links_url_serves_a_page_that_reads_the_preview(gql, http, factory, db):
    actors = await make_actors(factory)
    made = await created(gql, actors.staff_with.token, await draft(db, actors.org, actors.staff_with.user_id))
    page = await http.get(made["previewLink"]["url"].removeprefix("http://testserver"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert "script-src 'unsafe-inline'; connect-src 'self'" in page.headers["content-security-policy"]
    assert "contentPreview(token:$t)" in page.text and made["token"] not in page.text  # static: it reads no token
    assert (await http.get("/preview/whatever")).text == page.text
