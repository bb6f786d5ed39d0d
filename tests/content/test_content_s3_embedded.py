"""The upload-to-playback path on the S3 backend (moto on loopback), and in embedded mode where the
in-process broker runs the real process_content actor."""

from __future__ import annotations

import asyncio

import httpx

from codex_graphql.app import create_app
from codex_graphql.authz import PlatformRole
from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id
from tests.support import Factory, GraphQLClient
from tests.support.content import COMPLETE, PUBLISH, create, process, upload

PLAY = "query($id: ID!) { content(id: $id) { status thumbnailUrl playback { url } } }"


async def _started(settings):
    application = create_app(settings)
    lifespan = application.router.lifespan_context(application)
    await lifespan.__aenter__()
    return application, lifespan


async def test_s3_backend_whole_path(settings, db, moto_endpoint, media_dir):
    s3 = settings.model_copy(update={
        "storage_backend": "s3", "s3_endpoint_url": moto_endpoint, "s3_bucket": "codex-flow",
        "aws_access_key_id": "test", "aws_secret_access_key": "test",
    })
    app, lifespan = await _started(s3)
    try:
        storage = app.state.runtime["services"].storage
        await storage.ensure_bucket()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as local:
            gql = GraphQLClient(local)
            factory = Factory(db, gql)
            owner = await factory.user(role=PlatformRole.CUSTOMER)
            org = await factory.organization(owner, slug="s3-studio")
            created = await create(gql, owner.token, media_dir / "clip.mp4")
            assert created["upload"]["url"].startswith(moto_endpoint)
            async with httpx.AsyncClient() as outside:  # the browser talks to S3 directly
                await upload(outside, created["upload"], media_dir / "clip.mp4")
                await gql.ok(COMPLETE, {"id": created["content"]["id"]}, owner.token)
                assert await process(app, org, created["content"]["id"]) == "READY"
                await gql.ok(PUBLISH, {"id": created["content"]["id"]}, owner.token)
                customer = await factory.user()
                content_id = decode_id(created["content"]["id"], "Content")
                async with db.transaction(TenantScope(organization_id=org)) as session:
                    from sqlalchemy import text

                    await session.execute(text(
                        "insert into content_entitlement (id, organization_id, user_id, content_id, source) "
                        "values (gen_random_uuid(), :o, :u, :c, 'PURCHASE')"),
                        {"o": org, "u": customer.user_id, "c": content_id})
                data = (await gql.ok(PLAY, {"id": created["content"]["id"]}, customer.token))["content"]
                media = await outside.get(data["playback"]["url"])
                assert media.status_code == 200 and media.content == (media_dir / "clip.mp4").read_bytes()
                thumb = await outside.get(data["thumbnailUrl"])
                assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_embedded_mode_runs_processing_in_process(settings, db, media_dir):
    embedded = settings.model_copy(update={"redis_url": None})
    app, lifespan = await _started(embedded)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            gql = GraphQLClient(client)
            factory = Factory(db, gql)
            owner = await factory.user(role=PlatformRole.CUSTOMER)
            await factory.organization(owner, slug="embedded-studio")
            created = await create(gql, owner.token, media_dir / "tone.mp3")
            await upload(client, created["upload"], media_dir / "tone.mp3")
            await gql.ok(COMPLETE, {"id": created["content"]["id"]}, owner.token)
            status = None
            for _ in range(150):  # the relay hands the job to the in-process Dramatiq worker
                status = (await gql.ok("query($id:ID!){content(id:$id){status}}", {"id": created["content"]["id"]},
                                       owner.token))["content"]["status"]
                if status == "READY":
                    break
                await asyncio.sleep(0.1)
            assert status == "READY"
    finally:
        await lifespan.__aexit__(None, None, None)
