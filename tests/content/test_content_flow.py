"""The whole path from createContent to a customer playing it, on the local storage backend."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from codex_graphql.authz import OrgRole, PlatformRole
from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id
from tests.support.content import COMPLETE, PUBLISH, create, process, ready_content, upload

DETAIL = """query($id: ID!) { content(id: $id) { id status kind title durationSeconds tags priceCents currency
  thumbnailUrl thumbnails { url width height } viewerHasAccess playbackPosition creator { name } publishedAt } }"""
PLAY = "query($id: ID!) { content(id: $id) { playback { url expiresAt } } }"
SAVE = """mutation($id: ID!, $p: Float!) { savePlaybackPosition(input: {contentId: $id, positionSeconds: $p}) {
  errors { code field message } positionSeconds } }"""


@pytest.fixture
async def studio(factory):
    owner = await factory.user(role=PlatformRole.CUSTOMER)
    org = await factory.organization(owner, slug="studio")
    return owner, org


async def grant(db, org, content_gid, user_id):
    content_id = decode_id(content_gid, "Content")
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(text(
            "insert into content_entitlement (id, organization_id, user_id, content_id, source, created_at) "
            "values (gen_random_uuid(), :o, :u, :c, 'GRANT', now())"), {"o": org, "u": user_id, "c": content_id})


async def test_video_upload_process_publish_and_play(app, gql, http, factory, db, studio, media_dir):
    owner, org = studio
    content_id = await ready_content(app, gql, http, owner.token, org, media_dir / "clip.mp4",
                                     tags=["Behind The Scenes", "behind-the-scenes", "  Drama "])
    customer = await factory.user()

    detail = (await gql.ok(DETAIL, {"id": content_id}, customer.token))["content"]
    assert detail["status"] == "PUBLISHED" and detail["kind"] == "VIDEO"
    assert detail["tags"] == ["behind-the-scenes", "drama"]
    assert 1.9 <= detail["durationSeconds"] <= 2.2
    assert [t["width"] for t in detail["thumbnails"]] == [320, 640]  # never upscaled past the 640 px source
    assert detail["thumbnails"][0]["height"] == 180
    thumb = await http.get(detail["thumbnailUrl"])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert detail["viewerHasAccess"] is False and detail["playbackPosition"] is None

    refused = await gql(PLAY, {"id": content_id}, customer.token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["data"]["content"]["playback"] is None
    anonymous = await gql(PLAY, {"id": content_id})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    await grant(db, org, content_id, customer.user_id)
    playback = (await gql.ok(PLAY, {"id": content_id}, customer.token))["content"]["playback"]
    media = await http.get(playback["url"], headers={"range": "bytes=0-99"})
    assert media.status_code == 206 and len(media.content) == 100
    whole = await http.get(playback["url"])
    assert whole.content == (media_dir / "clip.mp4").read_bytes()

    saved = (await gql.ok(SAVE, {"id": content_id, "p": 1.25}, customer.token))["savePlaybackPosition"]
    assert saved["positionSeconds"] == 1.25
    assert (await gql.ok(DETAIL, {"id": content_id}, customer.token))["content"]["playbackPosition"] == 1.25
    clamped = (await gql.ok(SAVE, {"id": content_id, "p": 3.0}, customer.token))["savePlaybackPosition"]
    assert clamped["positionSeconds"] == pytest.approx(detail["durationSeconds"])


async def test_audio_with_cover_art_gets_thumbnails_from_it(app, gql, http, studio, media_dir):
    owner, org = studio
    content_id = await ready_content(app, gql, http, owner.token, org, media_dir / "covered.m4a", price=0)
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["kind"] == "AUDIO" and 1.9 <= detail["durationSeconds"] <= 2.2
    # The 600 px picture at both widths, never upscaled; it is not counted as a video stream.
    assert [(t["width"], t["height"]) for t in detail["thumbnails"]] == [(320, 320), (600, 600)]
    image = await http.get(detail["thumbnailUrl"])
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"  # a JPEG
    media = (await gql.ok("query($id:ID!){content(id:$id){ media { container audioCodec videoCodec } }}",
                          {"id": content_id}, owner.token))["content"]["media"]
    assert media["audioCodec"] == "aac" and media["videoCodec"] is None


async def test_audio_processing_without_cover_art_has_no_thumbnails(app, gql, http, studio, media_dir):
    owner, org = studio
    content_id = await ready_content(app, gql, http, owner.token, org, media_dir / "tone.mp3", price=0)
    detail = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]
    assert detail["kind"] == "AUDIO" and detail["thumbnails"] == [] and detail["thumbnailUrl"] is None
    assert 1.9 <= detail["durationSeconds"] <= 2.2
    assert detail["viewerHasAccess"] is True  # staff of the organization
    media = (await gql.ok("query($id:ID!){content(id:$id){ media { container audioCodec videoCodec } }}",
                          {"id": content_id}, owner.token))["content"]["media"]
    assert media == {"container": "mp3", "audioCodec": "mp3", "videoCodec": None}


async def test_text_file_disguised_as_video_fails_with_reason(app, gql, http, studio, media_dir, admin_db):
    owner, org = studio
    created = await create(gql, owner.token, media_dir / "notes.mp4")
    await upload(http, created["upload"], media_dir / "notes.mp4")
    await gql.ok(COMPLETE, {"id": created["content"]["id"]}, owner.token)
    assert await process(app, org, created["content"]["id"]) == "FAILED"
    detail = (await gql.ok("query($id:ID!){content(id:$id){ status failureReason }}",
                           {"id": created["content"]["id"]}, owner.token))["content"]
    assert detail["status"] == "FAILED" and "could not be read" in detail["failureReason"]
    publish = (await gql(PUBLISH, {"id": created["content"]["id"]}, owner.token))["data"]["publishContent"]
    assert publish["errors"][0]["code"] == "INVALID_STATE"
    # Running the job again changes nothing: only PROCESSING items are processed.
    assert await process(app, org, created["content"]["id"]) == "skipped"


async def test_audio_declared_as_video_is_rejected(app, gql, http, studio, media_dir, tmp_path):
    owner, org = studio
    disguised = tmp_path / "tone.mp4"
    disguised.write_bytes((media_dir / "tone.mp3").read_bytes())
    created = await create(gql, owner.token, disguised)
    await upload(http, created["upload"], disguised)
    await gql.ok(COMPLETE, {"id": created["content"]["id"]}, owner.token)
    assert await process(app, org, created["content"]["id"]) == "FAILED"


async def test_complete_upload_checks_the_object(app, gql, http, studio, media_dir, admin_db):
    owner, _ = studio
    created = await create(gql, owner.token, media_dir / "clip.mp4")
    never = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert never["errors"][0]["code"] == "INVALID_STATE" and never["content"] is None
    await upload(http, created["upload"], media_dir / "clip.mp4")
    first = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert first["errors"] == []
    again = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert again["errors"][0]["code"] == "INVALID_STATE"
    jobs = await admin_db.fetchval("select count(*) from outbox_message where topic = 'process_content'")
    assert jobs == 1


async def test_declared_size_must_match_upload(app, gql, http, studio, media_dir, admin_db):
    owner, _ = studio
    file = media_dir / "clip.mp4"
    created = await create(gql, owner.token, file, size=file.stat().st_size + 10)
    put = created["upload"]
    headers = {h["name"]: h["value"] for h in put["headers"]}
    response = await http.put(put["url"], content=file.read_bytes(), headers=headers)
    assert response.status_code == 400  # the signed URL binds the declared size
    result = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert result["errors"][0]["code"] == "INVALID_STATE"
    assert await admin_db.fetchval("select status from content") == "UPLOADING"


async def test_multipart_upload_for_large_declarations(app, gql, http, studio, monkeypatch, tmp_path, admin_db):
    from codex_graphql.content import service

    owner, _ = studio
    monkeypatch.setattr(service, "MULTIPART_THRESHOLD", 1000)
    monkeypatch.setattr(service, "MIN_PART_SIZE", 1000)
    file = tmp_path / "big.mp4"
    file.write_bytes(bytes(range(256)) * 10)  # 2560 bytes -> 3 parts
    created = await create(gql, owner.token, file)
    plan = created["upload"]
    assert plan["url"] is None and plan["partSize"] == 1000 and len(plan["parts"]) == 3
    data = file.read_bytes()
    etags = []
    for part in plan["parts"]:
        start = (part["partNumber"] - 1) * 1000
        response = await http.put(part["url"], content=data[start:start + 1000])
        assert response.status_code in (200, 204), response.text
        etags.append({"partNumber": part["partNumber"], "etag": response.headers["etag"]})
    wrong = [dict(etags[0], etag='"0000"'), *etags[1:]]
    mutation = """mutation($id: ID!, $parts: [UploadedPartInput!]!) { completeContentUpload(input: {contentId: $id, parts: $parts}) {
      errors { code field } content { status } } }"""
    bad = (await gql(mutation, {"id": created["content"]["id"], "parts": wrong}, owner.token))["data"]["completeContentUpload"]
    assert bad["errors"][0]["field"] == ["input", "parts"]
    good = (await gql(mutation, {"id": created["content"]["id"], "parts": etags}, owner.token))["data"]["completeContentUpload"]
    assert good["errors"] == [] and good["content"]["status"] == "PROCESSING"
    storage = app.state.runtime["services"].storage
    key = await admin_db.fetchval("select storage_key from content")
    assert (await storage.head(key)).size == len(data)


async def test_creator_manages_only_own_content(app, gql, http, factory, studio, media_dir, admin_db):
    owner, org = studio
    creator = await factory.user()
    await factory.member(org, creator, OrgRole.CREATOR)
    owners_item = await ready_content(app, gql, http, owner.token, org, media_dir / "tone.mp3", publish=False)
    creators_item = await ready_content(app, gql, http, creator.token, org, media_dir / "tone.mp3", publish=False)
    denied = (await gql(PUBLISH, {"id": owners_item}, creator.token))["data"]["publishContent"]
    assert denied["errors"][0]["code"] == "NOT_ALLOWED"
    assert (await gql.ok(PUBLISH, {"id": creators_item}, creator.token))["publishContent"]["content"]["status"] == "PUBLISHED"
    # The owner (CONTENT_MANAGE_ALL) manages anyone's item.
    unpublish = "mutation($id:ID!){unpublishContent(input:{contentId:$id}){errors{code} content{status}}}"
    assert (await gql.ok(unpublish, {"id": creators_item}, owner.token))["unpublishContent"]["content"]["status"] == "READY"
    statuses = sorted(await admin_db.fetch("select status from content"))
    assert [r["status"] for r in statuses] == ["READY", "READY"]


async def test_abandoned_uploads_are_cleaned_up(app, gql, http, studio, media_dir, admin_db):
    from datetime import timedelta

    from codex_graphql.db import utcnow
    from codex_graphql.media.processing import cleanup_abandoned_uploads

    owner, _ = studio
    created = await create(gql, owner.token, media_dir / "clip.mp4")
    await upload(http, created["upload"], media_dir / "clip.mp4")
    services = app.state.runtime["services"]
    key = await admin_db.fetchval("select storage_key from content")
    assert await cleanup_abandoned_uploads(services.db, services.storage) == 0
    assert await cleanup_abandoned_uploads(services.db, services.storage, now=utcnow() + timedelta(days=2)) == 1
    row = await admin_db.fetchrow("select status, failure_reason from content")
    assert row["status"] == "FAILED" and "not completed" in row["failure_reason"]
    assert await services.storage.head(key) is None


def test_upload_urls_point_at_the_app(settings):
    assert urlsplit(settings.public_base_url).netloc == "testserver"
