"""Signed upload URLs cannot overwrite checked files (issue 21, item 3), on the local backend and on S3
(moto on loopback).

Uploads land in a one-use staging key; completion checks it and copies it to the final key, which no
signed URL can write. The local backend enforces one use per staging key itself (409). On S3 the PUT URL
signs ``If-None-Match: *``; moto enforces the header when it is sent (412) but checks no signatures, so
a client leaving the header out gets through to the *staging* key there (real S3 refuses the request:
the header is signed). What the S3 tests prove is the copy to the immutable final key: the served file
never changes, whatever reaches the staging key later.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole, PlatformRole
from codex_graphql.relay import decode_id
from codex_graphql.storage.local import LocalStorage
from codex_graphql.storage.routes import storage_routes
from codex_graphql.storage.s3 import S3Storage
from tests.content.test_content_authz import without
from tests.org_settings.test_settings import LOGO, update
from tests.org_settings.test_settings_units import PNG
from tests.support import Factory, GraphQLClient, assert_authz_matrix, make_actors
from tests.support.content import COMPLETE, PUBLISH, create, process, upload

PLAY = "query($id: ID!) { content(id: $id) { status playback { url } } }"
SANDBOX = "default-src 'none'; sandbox"


def _same_size_other_bytes(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def _headers(upload: dict[str, Any]) -> dict[str, str]:
    return {h["name"]: h["value"] for h in upload["headers"]}


async def _played(gql: GraphQLClient, client: httpx.AsyncClient, token: str, content_id: str) -> httpx.Response:
    data = (await gql.ok(PLAY, {"id": content_id}, token))["content"]
    return await client.get(data["playback"]["url"])


# --- the reproduced attack, through the API ---------------------------------------------------------------


async def test_local_reupload_after_processing_is_refused_and_the_served_file_is_unchanged(
        app, gql, http, factory, media_dir, admin_db):
    owner = await factory.user(role=PlatformRole.CUSTOMER)
    org = await factory.organization(owner, slug="immutable-local")
    file = media_dir / "clip.mp4"
    original = file.read_bytes()
    created = await create(gql, owner.token, file)
    content_id = created["content"]["id"]
    await upload(http, created["upload"], file)
    assert (await gql.ok(COMPLETE, {"id": content_id}, owner.token))["completeContentUpload"]["errors"] == []
    assert await process(app, org, content_id) == "READY"
    assert (await gql.ok(PUBLISH, {"id": content_id}, owner.token))["publishContent"]["errors"] == []

    # The same signed URL, well within its 24 hours, with other bytes of the same size: refused.
    again = await http.put(created["upload"]["url"], content=_same_size_other_bytes(original),
                           headers=_headers(created["upload"]))
    assert again.status_code == 409 and again.json() == {"error": "this upload URL was used already"}
    served = await _played(gql, http, owner.token, content_id)
    assert served.status_code == 200 and served.content == original
    completed_again = (await gql(COMPLETE, {"id": content_id}, owner.token))["data"]["completeContentUpload"]
    assert completed_again["errors"][0]["code"] == "INVALID_STATE"
    row = await admin_db.fetchrow("select status, upload_key, storage_key from content")
    assert row["status"] == "PUBLISHED" and row["upload_key"] is None
    assert urlsplit(created["upload"]["url"]).path.startswith(f"/storage/uploads/{org}/")
    assert row["storage_key"] == f"orgs/{org}/content/{decode_id(content_id, 'Content')}/original.mp4"


@pytest.fixture
async def s3_app(settings, moto_endpoint) -> AsyncIterator[Any]:
    configured = settings.model_copy(update={
        "storage_backend": "s3", "s3_endpoint_url": moto_endpoint, "s3_bucket": f"codex-imm-{uuid.uuid4().hex[:10]}",
        "aws_access_key_id": "test", "aws_secret_access_key": "test"})
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        await application.state.runtime["services"].storage.ensure_bucket()
        yield application


async def test_s3_reupload_after_processing_never_reaches_the_served_file(s3_app, db, media_dir, moto_endpoint):
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=s3_app), base_url="http://testserver") as local,
                httpx.AsyncClient() as outside):
        gql = GraphQLClient(local)
        owner = await Factory(db, gql).user(role=PlatformRole.CUSTOMER)
        org = await Factory(db, gql).organization(owner, slug="immutable-s3")
        file = media_dir / "clip.mp4"
        original = file.read_bytes()
        created = await create(gql, owner.token, file)
        content_id = created["content"]["id"]
        put = created["upload"]
        assert urlsplit(put["url"]).path.split("/", 2)[2].startswith(f"uploads/{org}/")
        assert _headers(put)["If-None-Match"] == "*"
        assert "if-none-match" in parse_qs(urlsplit(put["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        await upload(outside, put, file)
        # A second PUT while the staging object is there: S3 refuses it (If-None-Match: *).
        early = await outside.put(put["url"], content=_same_size_other_bytes(original), headers=_headers(put))
        assert early.status_code == 412
        assert (await gql.ok(COMPLETE, {"id": content_id}, owner.token))["completeContentUpload"]["errors"] == []
        assert await process(s3_app, org, content_id) == "READY"
        await gql.ok(PUBLISH, {"id": content_id}, owner.token)

        # After completion the staging object is gone; whatever a PUT to the old URL leaves there is never
        # served and never completed.
        storage = s3_app.state.runtime["services"].storage
        staging = urlsplit(put["url"]).path.split("/", 2)[2]
        assert await storage.head(staging) is None
        await outside.put(put["url"], content=_same_size_other_bytes(original), headers=_headers(put))
        served = await _played(gql, outside, owner.token, content_id)
        assert served.status_code == 200 and served.content == original
        assert served.headers["content-type"] == "video/mp4"
        assert served.headers["content-disposition"] == "inline"
        again = (await gql(COMPLETE, {"id": content_id}, owner.token))["data"]["completeContentUpload"]
        assert again["errors"][0]["code"] == "INVALID_STATE"
        assert (await _played(gql, outside, owner.token, content_id)).content == original


# --- completion under concurrency ------------------------------------------------------------------------


async def test_concurrent_completions_promote_and_queue_processing_exactly_once(app, gql, http, factory, media_dir,
                                                                                admin_db):
    owner = await factory.user(role=PlatformRole.CUSTOMER)
    await factory.organization(owner, slug="immutable-race")
    file = media_dir / "clip.mp4"
    created = await create(gql, owner.token, file)
    await upload(http, created["upload"], file)
    results = await asyncio.gather(*(gql(COMPLETE, {"id": created["content"]["id"]}, owner.token) for _ in range(4)))
    payloads = [r["data"]["completeContentUpload"] for r in results]
    assert sorted(bool(p["errors"]) for p in payloads) == [False, True, True, True], payloads
    assert {p["errors"][0]["code"] for p in payloads if p["errors"]} == {"INVALID_STATE"}
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'process_content'") == 1
    row = await admin_db.fetchrow("select status, upload_key, upload_claimed_at, storage_key from content")
    assert (row["status"], row["upload_key"], row["upload_claimed_at"]) == ("PROCESSING", None, None)
    storage = app.state.runtime["services"].storage
    assert (await storage.head(row["storage_key"])).size == file.stat().st_size
    staging = urlsplit(created["upload"]["url"]).path.removeprefix("/storage/")
    assert await storage.head(staging) is None


async def test_a_completion_that_crashed_after_its_copy_is_taken_over_after_its_lease(app, gql, http, factory,
                                                                                      media_dir, admin_db):
    owner = await factory.user(role=PlatformRole.CUSTOMER)
    await factory.organization(owner, slug="immutable-crash")
    file = media_dir / "clip.mp4"
    created = await create(gql, owner.token, file)
    await upload(http, created["upload"], file)
    storage = app.state.runtime["services"].storage
    row = await admin_db.fetchrow("select upload_key, storage_key, mime_type from content")
    # A completion claimed the item, copied the file and died before recording it.
    await storage.promote(row["upload_key"], row["storage_key"], row["mime_type"])
    await admin_db.execute("update content set upload_claimed_at = now()")
    held = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert held["errors"][0]["code"] == "INVALID_STATE" and "another request" in held["errors"][0]["message"]
    await admin_db.execute("update content set upload_claimed_at = now() - interval '16 minutes'")
    done = (await gql(COMPLETE, {"id": created["content"]["id"]}, owner.token))["data"]["completeContentUpload"]
    assert done["errors"] == [] and done["content"]["status"] == "PROCESSING"
    assert (await storage.head(row["storage_key"])).size == file.stat().st_size
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'process_content'") == 1


async def test_concurrent_logo_updates_with_one_upload_store_the_checked_file_once(gql, http, factory, admin_db):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    created = await _logo_upload(gql, token, "logo.svg", "image/svg+xml", len(SET_ATTACK))
    put = created["upload"]
    assert (await http.put(put["url"], content=SET_ATTACK, headers=_headers(put))).status_code == 200
    results = await asyncio.gather(*(update(gql, token, logoKey=created["logoKey"]) for _ in range(3)))
    assert [r["errors"] for r in results] == [[], [], []], results
    served = await http.get(results[0]["settings"]["logoUrl"])
    assert served.status_code == 200 and b"<set" not in served.content and b"javascript" not in served.content
    # The final key is taken off the clean-up queue; only the spent staging key stays queued.
    queued = await admin_db.fetch("select key from storage_cleanup where organization_id = $1", actors.org)
    assert [r["key"] for r in queued] == [urlsplit(put["url"]).path.removeprefix("/storage/")]


async def test_complete_content_upload_matrix_changes_no_file(gql, http, factory, admin_db, app, tmp_path):
    actors = await make_actors(factory, with_role=OrgRole.OWNER)
    file = tmp_path / "tone.mp3"
    file.write_bytes(b"ID3" + bytes(range(256)) * 4)
    created = await create(gql, actors.staff_with.token, file)
    await upload(http, created["upload"], file)
    storage = app.state.runtime["services"].storage
    staging = urlsplit(created["upload"]["url"]).path.removeprefix("/storage/")
    final = (await admin_db.fetchval("select storage_key from content"))

    async def snapshot() -> tuple:
        row = await admin_db.fetchrow("select status, upload_key, upload_claimed_at from content")
        return tuple(row), await storage.head(staging), await storage.head(final)

    before = await snapshot()
    assert before[0][0] == "UPLOADING" and before[1] is not None and before[2] is None
    # Staff of another organization do not see the item at all: a NOT_FOUND payload error, nothing changed.
    other = (await gql(COMPLETE, {"id": created["content"]["id"]}, actors.other_staff.token))["data"]
    assert other["completeContentUpload"]["errors"][0]["code"] == "NOT_FOUND"
    assert other["completeContentUpload"]["content"] is None and await snapshot() == before
    await assert_authz_matrix(gql, without(actors, "other_org_staff"), COMPLETE, {"id": created["content"]["id"]},
                              path=["completeContentUpload", "content"], allowed={"staff_with_permission"},
                              snapshot=snapshot)
    after = await snapshot()
    assert after[0] == ("PROCESSING", None, None) and after[1] is None and after[2].size == file.stat().st_size


# --- the local backend: one-use staging keys, final keys never writable, served headers ------------------


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", "http://testserver", "immutable-secret", max_object_bytes=64 * 1024)


@pytest.fixture
async def client(storage: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    from starlette.applications import Starlette

    application = Starlette(routes=storage_routes(storage))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c:
        yield c


async def test_a_second_put_to_a_used_url_is_refused_even_concurrently(storage, client):
    put = await storage.presign_put("uploads/o/one", "video/mp4", 5, 60)
    assert (await client.put(put.url, content=b"first", headers=put.headers)).status_code == 200
    second = await client.put(put.url, content=b"other", headers=put.headers)
    assert second.status_code == 409
    await storage.promote("uploads/o/one", "orgs/o/one.mp4", "video/mp4")  # moved on: still spent
    third = await client.put(put.url, content=b"third", headers=put.headers)
    assert third.status_code == 409 and await storage.head("uploads/o/one") is None
    assert storage.object_path("orgs/o/one.mp4").read_bytes() == b"first"

    race = await storage.presign_put("uploads/o/race", "video/mp4", 5, 60)
    answers = await asyncio.gather(*(client.put(race.url, content=bytes([65 + n]) * 5, headers=race.headers)
                                     for n in range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409, 409, 409]
    winner = next(a for a in answers if a.status_code == 200)
    assert winner.headers["etag"].strip('"') == __import__("hashlib").md5(
        storage.object_path("uploads/o/race").read_bytes()).hexdigest()

    # Multipart: once completed, the parts' URLs and the completion are spent too.
    upload_id = await storage.create_multipart("uploads/o/multi", "video/mp4")
    part = await storage.presign_part("uploads/o/multi", upload_id, 1, 60)
    etag = (await client.put(part.url, content=b"part one")).headers["etag"]
    from codex_graphql.storage import CompletedPart

    await storage.complete_multipart("uploads/o/multi", upload_id, [CompletedPart(1, etag)])
    assert (await client.put(part.url, content=b"part two")).status_code == 404
    with pytest.raises(ValueError):
        await storage.complete_multipart("uploads/o/multi", upload_id, [CompletedPart(1, etag)])
    assert storage.object_path("uploads/o/multi").read_bytes() == b"part one"


async def test_final_keys_cannot_be_written_through_any_signed_url(storage, client, moto_endpoint):
    final = "orgs/o/content/c/original.mp4"
    with pytest.raises(ValueError):
        await storage.presign_put(final, "video/mp4", 5, 60)
    with pytest.raises(ValueError):
        await storage.create_multipart(final, "video/mp4")
    with pytest.raises(ValueError):
        await storage.presign_part(final, "0" * 32, 1, 60)
    # A correctly signed write of a final key (as an older signer would have issued) is refused too.
    exp = 9_999_999_999
    params = {"size": "5", "ct": "video/mp4"}
    signed = f"/storage/{final}?op=put&size=5&ct=video%2Fmp4&exp={exp}&sig={storage._signature('put', final, exp, params)}"
    refused = await client.put(signed, content=b"12345", headers={"Content-Type": "video/mp4"})
    assert refused.status_code == 403 and await storage.head(final) is None
    part = {"upload_id": "0" * 32, "part": "1"}
    signed_part = (f"/storage/{final}?op=part&upload_id={'0' * 32}&part=1&exp={exp}"
                   f"&sig={storage._signature('part', final, exp, part)}")
    assert (await client.put(signed_part, content=b"12345")).status_code == 403
    # And staging keys are never served.
    with pytest.raises(ValueError):
        await storage.presign_get("uploads/o/x", 60)
    signed_get = f"/storage/uploads/o/x?op=get&exp={exp}&sig={storage._signature('get', 'uploads/o/x', exp, {})}"
    assert (await client.get(signed_get)).status_code == 403

    s3 = S3Storage(bucket="codex-imm-keys", region="us-east-1", endpoint_url=moto_endpoint,
                   access_key="test", secret_key="test")
    try:
        with pytest.raises(ValueError):
            await s3.presign_put(final, "video/mp4", 5, 60)
        with pytest.raises(ValueError):
            await s3.create_multipart(final, "video/mp4")
        with pytest.raises(ValueError):
            await s3.presign_part(final, "upload", 1, 60)
        with pytest.raises(ValueError):
            await s3.presign_get("uploads/o/x", 60)
    finally:
        await s3.close()


async def test_served_files_carry_the_checked_type_disposition_and_sandbox(storage, client, tmp_path):
    html = b"<html><script>alert(document.cookie)</script></html>"
    put = await storage.presign_put("uploads/o/page", "video/mp4", len(html), 60)
    assert (await client.put(put.url, content=html, headers=put.headers)).status_code == 200
    await storage.promote("uploads/o/page", "orgs/o/clip.mp4", "video/mp4")
    inline = await client.get((await storage.presign_get("orgs/o/clip.mp4", 60)).url)
    assert inline.status_code == 200 and inline.content == html
    assert inline.headers["content-type"] == "video/mp4"  # the checked type, not sniffed from the bytes
    assert inline.headers["content-disposition"] == "inline"
    assert inline.headers["x-content-type-options"] == "nosniff"
    assert inline.headers["content-security-policy"] == SANDBOX
    typed = await client.get((await storage.presign_get("orgs/o/clip.mp4", 60, content_type="audio/mp4")).url)
    assert typed.headers["content-type"] == "audio/mp4"
    named = await client.get((await storage.presign_get("orgs/o/clip.mp4", 60, filename='My "clip".mp4')).url)
    assert named.headers["content-disposition"] == (
        "attachment; filename=\"My _clip_.mp4\"; filename*=UTF-8''My%20%22clip%22.mp4")
    assert named.headers["content-security-policy"] == SANDBOX


async def test_s3_gets_set_the_response_type_and_disposition(moto_endpoint, tmp_path):
    s3 = S3Storage(bucket=f"codex-imm-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=moto_endpoint,
                   access_key="test", secret_key="test")
    await s3.ensure_bucket()
    try:
        async with httpx.AsyncClient() as outside:
            put = await s3.presign_put("uploads/o/clip", "video/mp4", 5, 60)
            assert (await outside.put(put.url, content=b"12345", headers=put.headers)).status_code == 200
            # Nothing else can be written to the key while the object is there.
            assert (await outside.put(put.url, content=b"54321", headers=put.headers)).status_code == 412
            info = await s3.promote("uploads/o/clip", "orgs/o/clip.mp4", "video/mp4")
            assert info.size == 5 and await s3.head("uploads/o/clip") is None
            url = (await s3.presign_get("orgs/o/clip.mp4", 60, content_type="video/mp4")).url
            query = parse_qs(urlsplit(url).query)
            assert query["response-content-type"] == ["video/mp4"]
            assert query["response-content-disposition"] == ["inline"]
            served = await outside.get(url)
            assert served.content == b"12345" and served.headers["content-type"] == "video/mp4"
            assert served.headers["content-disposition"] == "inline"
    finally:
        await s3.close()


# --- logos ------------------------------------------------------------------------------------------------

SET_ATTACK = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><a id="l"><rect width="10" height="10"/>'
              b'<set attributeName="href" to="javascript:alert(1)"/></a></svg>')


async def _logo_upload(gql: GraphQLClient, token: str, filename: str, mime: str, size: int) -> dict[str, Any]:
    created = (await gql(LOGO, {"input": {"filename": filename, "mimeType": mime, "sizeBytes": size}}, token))
    created = created["data"]["createOrganizationLogoUpload"]
    assert created["errors"] == [], created
    return created


async def test_a_checked_logo_cannot_be_replaced_through_its_upload_url(gql, http, factory, app):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    png = PNG + b"\x00" * 200
    created = await _logo_upload(gql, token, "logo.png", "image/png", len(png))
    put = created["upload"]
    assert urlsplit(put["url"]).path.startswith(f"/storage/uploads/{actors.org}/")
    assert (await http.put(put["url"], content=png, headers=_headers(put))).status_code == 200
    done = await update(gql, token, logoKey=created["logoKey"])
    assert done["errors"] == [] and done["settings"]["logoKey"] == created["logoKey"]

    script = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    script = script.ljust(len(png), b" ")
    assert len(script) == len(png)
    again = await http.put(put["url"], content=script, headers=_headers(put))
    assert again.status_code == 409
    served = await http.get(done["settings"]["logoUrl"])
    assert served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-security-policy"] == SANDBOX
    assert served.headers["x-content-type-options"] == "nosniff"
    # Setting the same key again keeps the checked file.
    assert (await update(gql, token, logoKey=created["logoKey"]))["errors"] == []
    assert (await http.get(done["settings"]["logoUrl"])).content == png


async def test_svg_logo_with_a_set_to_javascript_is_stored_without_it(gql, http, factory):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    created = await _logo_upload(gql, token, "logo.svg", "image/svg+xml", len(SET_ATTACK))
    put = created["upload"]
    assert (await http.put(put["url"], content=SET_ATTACK, headers=_headers(put))).status_code == 200
    done = await update(gql, token, logoKey=created["logoKey"])
    assert done["errors"] == [], done
    served = await http.get(done["settings"]["logoUrl"])
    assert served.headers["content-type"] == "image/svg+xml"
    assert b"javascript" not in served.content and b"<set" not in served.content and b"<a" not in served.content
    assert served.content.startswith(b"<?xml") and b'viewBox="0 0 10 10"' in served.content
