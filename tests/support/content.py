"""Driving the upload flow through the API in tests."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from codex_graphql.media import processing
from codex_graphql.relay import decode_id
from tests.support import GraphQLClient

CREATE = """mutation($input: CreateContentInput!) { createContent(input: $input) {
  errors { code field message }
  content { id status title tags priceCents kind }
  upload { url method headers { name value } expiresAt partSize parts { partNumber url } } } }"""
COMPLETE = """mutation($id: ID!) { completeContentUpload(input: {contentId: $id}) {
  errors { code field message } content { id status } } }"""
PUBLISH = """mutation($id: ID!) { publishContent(input: {contentId: $id}) {
  errors { code field message } content { id status publishedAt } } }"""

MIME = {"mp4": "video/mp4", "mp3": "audio/mpeg", "m4a": "audio/mp4"}


async def create(gql: GraphQLClient, token: str, file: Path, *, kind: str | None = None, title: str = "A title",
                 price: int = 500, tags: list[str] | None = None, size: int | None = None) -> dict[str, Any]:
    extension = file.suffix.lstrip(".")
    body = await gql(CREATE, {"input": {
        "kind": kind or ("VIDEO" if extension == "mp4" else "AUDIO"), "title": title, "filename": file.name,
        "mimeType": MIME[extension], "sizeBytes": size if size is not None else file.stat().st_size,
        "priceCents": price, "tags": tags or [],
    }}, token)
    return body["data"]["createContent"]


async def upload(http: Any, upload: dict[str, Any], file: Path) -> None:
    headers = {h["name"]: h["value"] for h in upload["headers"]}
    response = await http.put(upload["url"], content=file.read_bytes(), headers=headers)
    assert response.status_code in (200, 201, 204), response.text


async def process(app: Any, organization_id: uuid.UUID, content_global_id: str) -> str:
    """Run the processing job's body for one item (what the process_content actor does)."""
    services = app.state.runtime["services"]
    content_id = decode_id(content_global_id, "Content")
    assert content_id is not None
    return await processing.process_content(services.db, services.storage, organization_id, content_id)


async def wait_for_status(gql: GraphQLClient, token: str, content_id: str, wanted: str, within: float = 15.0) -> str:
    status = ""
    for _ in range(int(within / 0.1)):
        status = (await gql.ok("query($id:ID!){content(id:$id){status}}", {"id": content_id}, token))["content"]["status"]
        if status == wanted:
            break
        await asyncio.sleep(0.1)
    return status


async def ready_content(app: Any, gql: GraphQLClient, http: Any, token: str, organization_id: uuid.UUID, file: Path,
                        *, publish: bool = True,
                        **kwargs: Any) -> str:
    created = await create(gql, token, file, **kwargs)
    assert created["errors"] == [], created
    await upload(http, created["upload"], file)
    completed = (await gql(COMPLETE, {"id": created["content"]["id"]}, token))["data"]["completeContentUpload"]
    assert completed["errors"] == [] and completed["content"]["status"] == "PROCESSING", completed
    outcome = await process(app, organization_id, created["content"]["id"])
    if outcome == "skipped":  # embedded mode: the in-process worker got to it first
        outcome = await wait_for_status(gql, token, created["content"]["id"], "READY")
    assert outcome == "READY", outcome
    if publish:
        published = (await gql(PUBLISH, {"id": created["content"]["id"]}, token))["data"]["publishContent"]
        assert published["errors"] == [], published
    return created["content"]["id"]
