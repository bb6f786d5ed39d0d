"""Session recordings (issue 19, item 4): Zoom's ``recording.completed`` webhook verified the real way (bad or
stale signatures refused with nothing stored, the URL validation challenge answered), stored once by event id
(a replay queues nothing), then a job downloads the MP4 with the event's token (no transaction open), stores it,
makes a PROCESSING video item with its processing job queued and puts it in the offering's portal, once however
often it runs; and ``attachSessionRecording`` for an uploaded recording, with its authorization matrix."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from typing import Any

import pytest

from codex_graphql.conferencing import jobs, recordings
from codex_graphql.conferencing import zoom as zoom_api
from codex_graphql.relay import to_global_id
from tests.conferencing.support import connect_zoom, job_payloads, meeting_rows, run_meeting_jobs, state
from tests.offerings.support import oid, published_event
from tests.support import Actors, assert_authz_matrix, make_actors

VIDEO = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(range(256)) * 64
ATTACH = """mutation($input: AttachSessionRecordingInput!) { attachSessionRecording(input: $input) {
  session { id } errors { code field message } } }"""


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)  # OWNER holds CONTENT_MANAGE; MEMBER does not


@pytest.fixture
async def meeting(gql, http, db, admin_db, zoom, settings, actors) -> dict[str, Any]:
    response = await connect_zoom(gql, http, actors.staff_with.token)
    assert response.status_code == 303
    offering, [session] = await published_event(gql, actors.staff_with.token, online=True, title="Live class")
    assert await run_meeting_jobs(admin_db, db, settings) == 1
    [row] = await meeting_rows(admin_db)
    return {"offering": offering, "session": session, "row": row, "number": int(row["provider_meeting_id"])}


async def deliver(http: Any, body: bytes, headers: dict[str, str]) -> Any:
    return await http.post("/webhooks/zoom", content=body, headers=headers)


async def test_bad_stale_or_missing_signatures_are_refused_and_nothing_is_stored(http, admin_db, zoom,
                                                                                 meeting) -> None:
    event = zoom.recording_completed(meeting["number"], VIDEO)
    before = await state(admin_db)
    jobs_before = await job_payloads(admin_db, "conferencing_recording")
    body, headers = zoom.signed(event, secret="not-the-secret")
    assert (await deliver(http, body, headers)).status_code == 400
    body, headers = zoom.signed(event, timestamp=int(time.time()) - 6 * 60)  # outside five minutes
    assert (await deliver(http, body, headers)).status_code == 400
    body, headers = zoom.signed(event)
    assert (await deliver(http, body + b" ", headers)).status_code == 400  # the body changed after signing
    assert (await deliver(http, body, {"content-type": "application/json"})).status_code == 400
    assert await state(admin_db) == before
    assert await job_payloads(admin_db, "conferencing_recording") == jobs_before


async def test_the_url_validation_challenge_is_answered(http, zoom) -> None:
    body, headers = zoom.signed({"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
                                 "event_ts": 1654503849680})
    response = await deliver(http, body, headers)
    assert response.status_code == 200
    assert response.json() == zoom_api.url_validation(zoom.webhook_secret, "qgg8vlvZRS6UYooatFL8Aw")
    assert response.json()["encryptedToken"] == hmac.new(
        zoom.webhook_secret.encode(), b"qgg8vlvZRS6UYooatFL8Aw", "sha256").hexdigest()


async def test_a_recording_becomes_a_processing_video_in_the_portal_exactly_once(
        http, db, admin_db, zoom, settings, services, actors, meeting) -> None:
    event = zoom.recording_completed(meeting["number"], VIDEO)
    body, headers = zoom.signed(event)
    assert (await deliver(http, body, headers)).status_code == 200
    replay_body, replay_headers = zoom.signed(event)  # Zoom retries: the same event again
    assert (await deliver(http, replay_body, replay_headers)).status_code == 200
    [queued] = await job_payloads(admin_db, "conferencing_recording")  # stored once, queued once
    assert await admin_db.fetchval("select count(*) from conferencing_event") == 1

    held_open: list[int] = []

    async def no_transaction_open(method: str, path: str) -> None:  # while the MP4 downloads
        held_open.append(await admin_db.fetchval(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and state like 'idle in transaction%' and pid <> pg_backend_pid()"))

    zoom.during_request = no_transaction_open
    org, event_id = uuid.UUID(queued["meeting_organization_id"]), uuid.UUID(queued["event_id"])
    content_id = await jobs.store_recording(db, settings, services.storage, org, event_id)
    assert content_id is not None
    assert await jobs.store_recording(db, settings, services.storage, org, event_id) is None  # run twice

    item = await admin_db.fetchrow("select * from content where id = $1", content_id)
    offering = await admin_db.fetchrow("select * from offering where id = $1", oid(meeting["offering"]["id"]))
    assert (item["kind"], item["status"], item["listed"], item["creator_id"], item["organization_id"]) == (
        "VIDEO", "PROCESSING", False, offering["created_by"], actors.org)
    assert item["title"].startswith("Recording: Live class") and item["size_bytes"] == len(VIDEO)
    stored = await services.storage.head(recordings.storage_key(actors.org, content_id))
    assert stored is not None and stored.size == len(VIDEO)
    processing = await job_payloads(admin_db, "process_content")
    assert processing == [{"content_id": str(content_id), "content_organization_id": str(actors.org)}]
    portal = await admin_db.fetch("select offering_id, content_id from offering_portal_item where content_id = $1",
                                  content_id)
    assert [(r["offering_id"], r["content_id"]) for r in portal] == [(offering["id"], content_id)]
    [row] = await meeting_rows(admin_db)
    assert row["recording_content_id"] == content_id
    assert await admin_db.fetchval("select processed_at from conferencing_event") is not None
    assert [r for r in zoom.requests if r[1].startswith("/rec/download/")] and held_open == [0]


async def test_a_recording_of_an_unknown_meeting_is_acknowledged_and_ignored(http, admin_db, zoom, meeting) -> None:
    before = await state(admin_db)
    body, headers = zoom.signed(zoom.recording_completed(99_999_999_999, VIDEO))
    response = await deliver(http, body, headers)
    assert response.status_code == 200 and response.json()["ignored"] == "unknown meeting"
    assert await state(admin_db) == before


async def test_a_failed_download_is_retried_and_stores_nothing_half_made(http, db, admin_db, zoom, settings, services,
                                                                         actors, meeting) -> None:
    event = zoom.recording_completed(meeting["number"], VIDEO)
    zoom.download_tokens.clear()  # Zoom refuses the token (e.g. it expired): 401
    body, headers = zoom.signed(event)
    await deliver(http, body, headers)
    [queued] = await job_payloads(admin_db, "conferencing_recording")
    content_count = await admin_db.fetchval("select count(*) from content")
    with pytest.raises(Exception, match="download"):
        await jobs.store_recording(db, settings, services.storage, actors.org, uuid.UUID(queued["event_id"]))
    assert await admin_db.fetchval("select count(*) from content") == content_count
    assert await admin_db.fetchval("select processed_at from conferencing_event") is None
    zoom.download_tokens.add(event["download_token"])  # the retry succeeds
    assert await jobs.store_recording(db, settings, services.storage, actors.org, uuid.UUID(queued["event_id"]))


async def test_attach_session_recording_authorization_matrix(gql, factory, db, admin_db, services, actors,
                                                             meeting) -> None:
    content_id = uuid.uuid4()
    await admin_db.execute(
        "insert into content (id, organization_id, creator_id, kind, status, title, storage_key, mime_type, "
        "original_filename, size_bytes) values ($1, $2, $3, 'VIDEO', 'READY', 'Uploaded recording', 'k', "
        "'video/mp4', 'r.mp4', 10)", content_id, actors.org, actors.staff_with.user_id)
    variables = {"input": {"sessionId": meeting["session"]["id"], "contentId": to_global_id("Content", content_id)}}

    async def snapshot() -> Any:
        return (await state(admin_db), await admin_db.fetch("select * from offering_portal_item order by id"))

    await assert_authz_matrix(gql, actors, ATTACH, variables, path=["attachSessionRecording"],
                              allowed={"staff_with_permission", "other_org_staff"}, snapshot=snapshot)
    # Another organization's owner passes the permission check for their own organization, and finds nothing.
    body = await gql(ATTACH, variables, actors.other_staff.token)
    assert [e["code"] for e in body["data"]["attachSessionRecording"]["errors"]] == ["NOT_FOUND"]
    portal = await admin_db.fetch("select content_id, title from offering_portal_item")
    assert [(r["content_id"], r["title"]) for r in portal] == [(content_id, "Uploaded recording")]
    [row] = await meeting_rows(admin_db)
    assert row["recording_content_id"] == content_id
    again = await gql.ok(ATTACH, variables, actors.staff_with.token)  # attaching again changes nothing
    assert again["attachSessionRecording"]["session"]["id"] == meeting["session"]["id"]
    assert await admin_db.fetchval("select count(*) from offering_portal_item") == 1
    bad = {"input": {**variables["input"], "contentId": to_global_id("Content", uuid.uuid4())}}
    body = await gql(ATTACH, bad, actors.staff_with.token)
    assert [e["code"] for e in body["data"]["attachSessionRecording"]["errors"]] == ["NOT_FOUND"]
    assert json.dumps(body).count("Uploaded recording") == 0
