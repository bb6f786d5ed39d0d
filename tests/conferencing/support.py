"""Helpers of the conferencing tests: the app wired to the Zoom stand-in, OAuth connection through it, and the
conferencing jobs run as a worker runs them (their payloads read from the outbox)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from codex_graphql.conferencing import hooks, jobs

START = """mutation($input: StartConferencingConnectionInput!) { startConferencingConnection(input: $input) {
  authorizeUrl errors { code field message } } }"""
STATUS = """query($slug: String!) { organization(slug: $slug) { conferencing { provider connected connectedAt } } }"""
JOIN = """query($id: ID!) { node(id: $id) { ... on Offering { sessions { id joinUrl } } } }"""


async def connect_zoom(gql: Any, http: httpx.AsyncClient, token: str) -> httpx.Response:
    """startConferencingConnection, the stand-in's consent redirect, then our callback; its response."""
    body = await gql.ok(START, {"input": {"provider": "ZOOM"}}, token)
    authorize = body["startConferencingConnection"]["authorizeUrl"]
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(authorize)
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    return await http.get(f"{back.path}?{back.query}")


async def job_payloads(admin_db: Any, actor: str) -> list[dict[str, Any]]:
    rows = await admin_db.fetch("select payload from outbox_message where kind = 'job' and topic = $1 "
                                "order by created_at, id", actor)
    return [json.loads(r["payload"]) for r in rows]


async def run_meeting_jobs(admin_db: Any, db: Any, settings: Any) -> int:
    made = 0
    for payload in await job_payloads(admin_db, hooks.MEETINGS_ACTOR):
        made += await jobs.ensure_meetings(db, settings, uuid.UUID(payload["meeting_organization_id"]),
                                           uuid.UUID(payload["offering_id"]),
                                           uuid.UUID(payload["session_id"]) if payload.get("session_id") else None)
    return made


async def run_delete_jobs(admin_db: Any, db: Any, settings: Any) -> int:
    deleted = 0
    for payload in await job_payloads(admin_db, hooks.DELETE_ACTOR):
        deleted += await jobs.delete_meetings(db, settings, uuid.UUID(payload["meeting_organization_id"]),
                                              uuid.UUID(payload["offering_id"]))
    return deleted


async def meeting_rows(admin_db: Any) -> list[Any]:
    return await admin_db.fetch("select * from offering_meeting order by created_at, id")


async def state(admin_db: Any) -> tuple[Any, ...]:
    return (await admin_db.fetch("select * from conferencing_connection order by organization_id"),
            await admin_db.fetch("select id, status, join_url, recording_content_id from offering_meeting order by id"),
            await admin_db.fetch("select id from conferencing_event order by id"),
            await admin_db.fetchval("select count(*) from content"))
