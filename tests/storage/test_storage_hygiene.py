"""The storage hygiene job (codex_graphql.storage.hygiene) on the local and the S3 backend (moto on loopback):
expired uploads (multipart aborted, staging objects and partial files deleted), staging objects no row
remembers, replaced, removed and never-used logos (staging and final keys), and the files of purged items,
while items someone is still entitled to keep theirs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from codex_graphql.app import create_app
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.org_settings import logo
from codex_graphql.storage import hygiene
from codex_graphql.storage.local import Grant, LocalStorage
from tests.org_settings.test_settings import LOGO, update
from tests.org_settings.test_settings_units import PNG
from tests.support import Factory, GraphQLClient, Person

RETENTION = timedelta(days=30)


@dataclass
class World:
    backend: str
    app: Any
    storage: Any
    gql: GraphQLClient
    local_http: httpx.AsyncClient
    outside_http: httpx.AsyncClient
    db: Any
    owner: Person
    org: uuid.UUID

    async def run(self, now=None) -> hygiene.Report:
        return await hygiene.run(self.db, self.storage, retention=RETENTION, now=now)

    async def put(self, key: str, data: bytes, tmp_path: Path) -> None:
        source = tmp_path / uuid.uuid4().hex
        source.write_bytes(data)
        await self.storage.upload_file(key, source, "application/octet-stream")

    async def exists(self, key: str) -> bool:
        return await self.storage.head(key) is not None

    async def start_multipart(self, key: str) -> str:
        upload_id = await self.storage.create_multipart(key, "video/mp4")
        if self.backend == "s3":
            s3 = await self.storage._s3()
            await s3.upload_part(Bucket=self.storage.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 1024)
        else:
            async def body() -> AsyncIterator[bytes]:
                yield b"x" * 1024
            await self.storage.receive_part(Grant("part", key, upload_id=upload_id, part_number=1), "1024", body())
        return upload_id

    async def multipart_uploads(self) -> set[str]:
        if self.backend == "s3":
            s3 = await self.storage._s3()
            listed = await s3.list_multipart_uploads(Bucket=self.storage.bucket)
            return {u["UploadId"] for u in listed.get("Uploads", [])}
        return {p.name for p in (self.storage.root / "multipart").iterdir()}


@pytest.fixture(params=["local", "s3"])
async def world(request, settings, db, tmp_path) -> AsyncIterator[World]:
    configured = settings
    if request.param == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        configured = settings.model_copy(update={
            "storage_backend": "s3", "s3_endpoint_url": endpoint, "s3_bucket": f"codex-hygiene-{uuid.uuid4().hex[:10]}",
            "aws_access_key_id": "test", "aws_secret_access_key": "test"})
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        storage = app.state.runtime["services"].storage
        if request.param == "s3":
            await storage.ensure_bucket()
        else:
            assert isinstance(storage, LocalStorage)
        async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as local,
                    httpx.AsyncClient() as outside):
            gql = GraphQLClient(local)
            factory = Factory(db, gql)
            owner = await factory.user()
            org = await factory.organization(owner, slug=f"h-{uuid.uuid4().hex[:8]}")
            yield World(request.param, app, storage, gql, local, outside, db, owner, org)


async def _content(world: World, *, status: str = "READY", deleted_days_ago: float | None = None,
                   upload_expires_in: timedelta | None = None, multipart: bool = False,
                   thumbnails: bool = False) -> tuple[uuid.UUID, str, str | None]:
    """(id, folder, multipart upload id) of a new item; with ``multipart`` its upload (to its staging key,
    ``_staging``) is started with one part."""
    content_id = uuid.uuid4()
    folder = f"orgs/{world.org}/content/{content_id}"
    staging = _staging(world, content_id) if status == "UPLOADING" else None
    upload_id = await world.start_multipart(staging) if multipart and staging else None
    thumbs = [{"key": f"{folder}/thumb-320.jpg", "width": 320, "height": 180}] if thumbnails else []
    async with world.db.transaction(TenantScope(organization_id=world.org)) as session:
        await session.execute(text(
            "insert into content (id, organization_id, creator_id, kind, status, title, storage_key, mime_type, "
            "original_filename, size_bytes, multipart_upload_id, upload_expires_at, deleted_at, thumbnails, upload_key) "
            "values (:id, :org, :creator, 'VIDEO', :status, 'Item', :key, 'video/mp4', 'a.mp4', 1024, :multipart, "
            ":expires, :deleted, cast(:thumbs as jsonb), :staging)"), {
                "id": content_id, "org": world.org, "creator": world.owner.user_id, "status": status,
                "key": f"{folder}/original.mp4", "multipart": upload_id, "staging": staging,
                "expires": utcnow() + upload_expires_in if upload_expires_in is not None else None,
                "deleted": utcnow() - timedelta(days=deleted_days_ago) if deleted_days_ago is not None else None,
                "thumbs": json.dumps(thumbs)})
    return content_id, folder, upload_id


def _staging(world: World, content_id: uuid.UUID) -> str:
    return f"uploads/{world.org}/{content_id}-0123456789abcdef"


async def _entitle(world: World, content_id: uuid.UUID, *, revoked: bool) -> None:
    async with world.db.transaction(TenantScope(organization_id=world.org)) as session:
        await session.execute(text(
            "insert into content_entitlement (id, organization_id, user_id, content_id, source, revoked_at) "
            "values (gen_random_uuid(), :org, :user, :content, 'GRANT', :revoked)"),
            {"org": world.org, "user": world.owner.user_id, "content": content_id,
             "revoked": utcnow() if revoked else None})


async def test_expired_uploads_are_aborted_and_their_partial_files_deleted(world, admin_db, tmp_path):
    # A multipart upload past its deadline, a single PUT whose staging object arrived but was never completed
    # (and a final object a crashed completion copied), and a multipart upload still within its 24 hours.
    late, _, late_upload = await _content(world, status="UPLOADING", upload_expires_in=timedelta(hours=-1), multipart=True)
    single, single_folder, _ = await _content(world, status="UPLOADING", upload_expires_in=timedelta(hours=-1))
    await world.put(_staging(world, single), b"partial", tmp_path)
    await world.put(f"{single_folder}/original.mp4", b"partial", tmp_path)
    fresh, _, fresh_upload = await _content(world, status="UPLOADING", upload_expires_in=timedelta(hours=23), multipart=True)
    assert await world.multipart_uploads() == {late_upload, fresh_upload}

    # The job's row-driven part (the sweep of uploads no row remembers is the next test: moto reports every
    # multipart upload as initiated in 2010, so on S3 it would take the fresh one too).
    now = utcnow()
    assert await hygiene.expire_uploads(world.db, now) == 2
    # Each: the staging key (aborting its multipart upload) and the final key.
    assert await admin_db.fetchval("select count(*) from storage_cleanup where reason = 'UPLOAD_ABANDONED'") == 4
    assert await world.multipart_uploads() == {late_upload, fresh_upload}  # decided and committed; nothing deleted yet
    assert await hygiene.drain(world.db, world.storage, now) == 4
    assert await world.multipart_uploads() == {fresh_upload}
    assert not await world.exists(_staging(world, single))
    assert not await world.exists(f"{single_folder}/original.mp4")
    statuses = {r["id"]: (r["status"], r["multipart_upload_id"], r["upload_key"]) for r in await admin_db.fetch(
        "select id, status, multipart_upload_id, upload_key from content")}
    assert statuses == {late: ("FAILED", None, None), single: ("FAILED", None, None),
                        fresh: ("UPLOADING", fresh_upload, _staging(world, fresh))}
    assert await admin_db.fetchval("select count(*) from storage_cleanup") == 0
    # A second pass has nothing left to do.
    assert await hygiene.expire_uploads(world.db, utcnow()) == 0 and await hygiene.drain(world.db, world.storage) == 0


async def test_uploads_no_row_remembers_are_swept_after_a_day(world, tmp_path):
    orphan = await world.start_multipart(f"uploads/{world.org}/{uuid.uuid4()}-0123456789abcdef")
    staged = f"uploads/{world.org}/{uuid.uuid4()}-fedcba9876543210"  # uploaded, its item gone or never recorded
    await world.put(staged, b"staged", tmp_path)
    partial = None
    if world.backend == "local":  # a write that never finished (a dropped connection, a crash)
        partial = world.storage.root / "tmp" / "0123456789abcdef.tmp"
        partial.write_bytes(b"half")
    if world.backend == "local":  # (moto reports every multipart upload as initiated in 2010)
        assert (await world.run()).swept_partials == 0  # younger than 24 hours: may still be going on
    assert orphan in await world.multipart_uploads() and await world.exists(staged)
    report = await world.run(now=utcnow() + timedelta(hours=25))
    assert report.swept_partials == (3 if partial else 2)
    assert await world.multipart_uploads() == set()
    assert not await world.exists(staged)
    assert partial is None or not partial.exists()


async def _logo(world: World) -> str:
    created = (await world.gql(LOGO, {"input": {"filename": "logo.png", "mimeType": "image/png", "sizeBytes": len(PNG)}},
                               world.owner.token))["data"]["createOrganizationLogoUpload"]
    assert created["errors"] == [], created
    upload = created["upload"]
    client = world.local_http if upload["url"].startswith("http://testserver") else world.outside_http
    response = await client.put(upload["url"], content=PNG, headers={h["name"]: h["value"] for h in upload["headers"]})
    assert response.status_code in (200, 201, 204), response.text
    return created["logoKey"]


async def test_replaced_removed_and_unused_logos_are_deleted(world, admin_db):
    first = await _logo(world)
    assert (await update(world.gql, world.owner.token, logoKey=first))["errors"] == []
    second = await _logo(world)
    assert (await update(world.gql, world.owner.token, logoKey=second))["errors"] == []  # replaces the first
    unused = await _logo(world)  # uploaded, never made the logo
    third = await _logo(world)
    assert (await update(world.gql, world.owner.token, logoKey=third))["errors"] == []
    assert (await update(world.gql, world.owner.token, logoKey=None))["errors"] == []  # removes the third
    unused_staging = logo.staging_for(unused)  # never checked, so never copied to its final key
    assert all([await world.exists(k) for k in (first, second, unused_staging, third)])
    assert not await world.exists(unused)
    assert not any([await world.exists(logo.staging_for(k)) for k in (first, second, third)])  # moved on

    await world.run()  # the replaced logos' signed URLs (one hour) may still be in use
    assert all([await world.exists(k) for k in (first, second, unused_staging, third)])
    report = await world.run(now=utcnow() + timedelta(hours=2))
    assert report.deleted == 3
    assert [await world.exists(k) for k in (first, second, unused_staging, third)] == [False, False, True, False]
    await world.run(now=utcnow() + timedelta(hours=25))  # an upload unused for a day
    assert not await world.exists(unused_staging)
    assert await admin_db.fetchval("select count(*) from storage_cleanup") == 0


async def test_a_logo_upload_taken_by_the_clean_up_cannot_become_the_logo(world, admin_db):
    key = await _logo(world)
    assert await world.exists(logo.staging_for(key))
    await world.run(now=utcnow() + timedelta(hours=25))
    assert not await world.exists(logo.staging_for(key)) and not await world.exists(key)
    refused = await update(world.gql, world.owner.token, logoKey=key)
    assert [e["field"] for e in refused["errors"]] == [["input", "logoKey"]]
    assert (await update(world.gql, world.owner.token))["settings"]["logoKey"] is None
    # A logo in use is never queued: setting it again keeps it.
    kept = await _logo(world)
    assert (await update(world.gql, world.owner.token, logoKey=kept))["errors"] == []
    await world.run(now=utcnow() + timedelta(days=3))
    assert await world.exists(kept)


async def test_deleted_items_are_purged_after_the_retention_unless_someone_is_entitled(world, admin_db, tmp_path):
    items = {}
    for name, days in (("unowned", 40), ("entitled", 40), ("revoked", 40), ("recent", 5), ("live", None)):
        content_id, folder, _ = await _content(world, deleted_days_ago=days, thumbnails=True)
        for file in ("original.mp4", "thumb-320.jpg", "download-720p.mp4"):  # original, thumbnail, a derived file
            await world.put(f"{folder}/{file}", name.encode(), tmp_path)
        items[name] = (content_id, folder)
    await _entitle(world, items["entitled"][0], revoked=False)
    await _entitle(world, items["revoked"][0], revoked=True)
    neighbour = f"orgs/{world.org}/content/{items['unowned'][0]}-other/original.mp4"  # shares the prefix text
    await world.put(neighbour, b"n", tmp_path)

    report = await world.run()
    assert report.purged_items == 2 and report.deleted == 2
    for name, (content_id, folder) in items.items():
        present = [await world.exists(f"{folder}/{f}") for f in ("original.mp4", "thumb-320.jpg", "download-720p.mp4")]
        row = await admin_db.fetchrow("select purged_at, storage_key, thumbnails from content where id = $1", content_id)
        if name in ("unowned", "revoked"):
            assert present == [False, False, False], name
            assert row["purged_at"] is not None and row["storage_key"] == "" and row["thumbnails"] in ("[]", [])
        else:
            assert present == [True, True, True], name
            assert row["purged_at"] is None and row["storage_key"] == f"{folder}/original.mp4"
    assert await world.exists(neighbour)
    assert await world.run() == hygiene.Report()  # purged once


async def test_concurrent_passes_purge_and_delete_each_item_once(world, admin_db, tmp_path):
    """Several workers run the job at once: content rows and queue rows are taken with SKIP LOCKED, so every
    item is purged by exactly one pass and every queued delete completed by exactly one."""
    folders = []
    for _ in range(6):
        content_id, folder, _ = await _content(world, deleted_days_ago=40)
        await world.put(f"{folder}/original.mp4", b"x", tmp_path)
        folders.append(folder)
    reports = await asyncio.gather(*(world.run() for _ in range(4)))
    assert sum(r.purged_items for r in reports) == 6
    assert sum(r.deleted for r in reports) == 6
    assert [await world.exists(f"{folder}/original.mp4") for folder in folders] == [False] * 6
    assert await admin_db.fetchval("select count(*) from content where purged_at is not null") == 6
    assert await admin_db.fetchval("select count(*) from storage_cleanup") == 0
