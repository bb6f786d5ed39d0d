"""Conferencing with Zoom (issue 19, item 4) against the Zoom stand-in: connecting through OAuth (state checked,
tokens encrypted), one meeting per session made by a job exactly once (run twice, run side by side, after a
crash between Zoom's answer and our record), token refresh, Zoom down (retried, nothing half made), cancelled
offerings' meetings deleted, and the authorization matrix of the mutations and ``Organization.conferencing``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from codex_graphql.conferencing import credentials, jobs
from codex_graphql.conferencing.protocol import ProviderError
from codex_graphql.db import utcnow
from tests.conferencing.support import (
    START,
    STATUS,
    connect_zoom,
    job_payloads,
    meeting_rows,
    run_delete_jobs,
    run_meeting_jobs,
    state,
)
from tests.offerings.support import CANCEL_OFFERING, oid, published_event
from tests.support import Actors, assert_authz_matrix, make_actors

DISCONNECT = """mutation($input: DisconnectConferencingInput!) { disconnectConferencing(input: $input) {
  conferencing { provider connected } errors { code field message } } }"""


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)  # OWNER holds SETTINGS_MANAGE; MEMBER does not


async def connected(gql: Any, http: Any, actors: Actors) -> None:
    response = await connect_zoom(gql, http, actors.staff_with.token)
    assert response.status_code == 303 and response.headers["location"].endswith("conferencing=connected")


async def test_connecting_zoom_stores_the_tokens_encrypted_for_the_organization(gql, http, admin_db, zoom,
                                                                             settings, actors) -> None:
    before = await gql.ok(STATUS, {"slug": actors.org_slug}, actors.staff_with.token)
    assert before["organization"]["conferencing"] == {"provider": "LOCAL", "connected": False, "connectedAt": None}
    await connected(gql, http, actors)
    after = await gql.ok(STATUS, {"slug": actors.org_slug}, actors.staff_with.token)
    assert after["organization"]["conferencing"]["provider"] == "ZOOM"
    assert after["organization"]["conferencing"]["connected"] is True

    row = await admin_db.fetchrow("select * from conferencing_connection where organization_id = $1", actors.org)
    [issued] = list(zoom.access)
    assert issued.encode() not in row["access_token"]  # encrypted at rest
    assert credentials.decrypt(settings.secret_key, actors.org, "access", row["access_token"]) == issued
    with pytest.raises(credentials.CredentialsUnavailable):  # bound to the organization
        credentials.decrypt(settings.secret_key, actors.other_org, "access", row["access_token"])
    with pytest.raises(credentials.CredentialsUnavailable):  # and to the token's role
        credentials.decrypt(settings.secret_key, actors.org, "refresh", row["access_token"])
    assert row["connected_by"] == actors.staff_with.user_id
    # The token exchange went to Zoom with the app's Basic credentials (the stand-in refuses anything else).
    assert ("POST", "/oauth/token") in zoom.requests


async def test_a_foreign_tampered_or_expired_state_is_refused_and_nothing_stored(gql, http, admin_db, zoom,
                                                                                settings, actors) -> None:
    body = await gql.ok(START, {"input": {"provider": "ZOOM"}}, actors.staff_with.token)
    assert body["startConferencingConnection"]["authorizeUrl"].startswith(f"{zoom.base_url}/oauth/authorize?")
    snapshot = await state(admin_db)
    foreign = credentials.sign_state("another-servers-secret",
                                     credentials.State(actors.org, actors.staff_with.user_id, "ZOOM"))
    mine = credentials.sign_state(settings.secret_key, credentials.State(actors.org, actors.staff_with.user_id,
                                                                         "ZOOM"))
    expired = credentials.sign_state(settings.secret_key, credentials.State(actors.org, actors.staff_with.user_id,
                                                                            "ZOOM"), now=1.0)
    head, mac = mine.split(".")
    for bad in (foreign, expired, f"{head}x.{mac}", "", "garbage"):
        response = await http.get("/conferencing/oauth/callback", params={"code": "whatever", "state": bad})
        assert response.status_code == 400, bad
    # A state naming a person who may not manage the organization's settings stores nothing either.
    member = credentials.sign_state(settings.secret_key, credentials.State(actors.org, actors.staff_without.user_id,
                                                                           "ZOOM"))
    zoom.codes["member-code"] = "http://testserver/conferencing/oauth/callback"
    response = await http.get("/conferencing/oauth/callback", params={"code": "member-code", "state": member})
    assert response.status_code == 403
    assert await state(admin_db) == snapshot


async def test_conferencing_fields_and_mutations_authorization_matrix(gql, http, admin_db, actors, zoom,
                                                                     settings) -> None:
    await assert_authz_matrix(gql, actors, STATUS, {"slug": actors.org_slug}, path=["organization", "conferencing"],
                              allowed={"staff_with_permission"})
    # The mutation acts on the caller's active organization: another organization's owner starts one for theirs.
    answers = await assert_authz_matrix(gql, actors, START, {"input": {"provider": "ZOOM"}},
                                        path=["startConferencingConnection"],
                                        allowed={"staff_with_permission", "other_org_staff"},
                                        snapshot=lambda: state(admin_db))
    for name, org in (("staff_with_permission", actors.org), ("other_org_staff", actors.other_org)):
        url = answers[name]["data"]["startConferencingConnection"]["authorizeUrl"]
        signed = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["state"]
        assert credentials.open_state(settings.secret_key, signed).organization_id == org
    await connected(gql, http, actors)
    # Nobody but staff with SETTINGS_MANAGE of the organization can disconnect it: the tokens stay.
    for name in ("anonymous", "customer", "other_org_staff", "staff_without_permission"):
        before = await state(admin_db)
        body = await gql(DISCONNECT, {"input": {"provider": "ZOOM"}}, actors.tokens()[name])
        if name == "other_org_staff":  # their own organization has nothing connected
            assert [e["code"] for e in body["data"]["disconnectConferencing"]["errors"]] == ["NOT_FOUND"]
        else:
            assert body["data"] is None or body["data"]["disconnectConferencing"] is None, name
        assert await state(admin_db) == before
    done = await gql.ok(DISCONNECT, {"input": {"provider": "ZOOM"}}, actors.staff_with.token)
    assert done["disconnectConferencing"]["conferencing"] == {"provider": "LOCAL", "connected": False}
    assert await admin_db.fetchval("select count(*) from conferencing_connection") == 0
    again = await gql(DISCONNECT, {"input": {}}, actors.staff_with.token)
    assert [e["code"] for e in again["data"]["disconnectConferencing"]["errors"]] == ["NOT_FOUND"]


async def test_a_meeting_is_made_once_per_session_however_often_and_concurrently_the_job_runs(
        gql, http, db, admin_db, zoom, settings, actors) -> None:
    await connected(gql, http, actors)
    held_open: list[bool] = []

    async def no_transaction_open(method: str, path: str) -> None:
        # While Zoom is called, nobody holds the meeting row: the reservation was committed first. (The other
        # runner may hold it for the moment it takes to find it reserved: the probe waits that long, while a
        # lock held across this very call would outlast it.)
        try:
            async with admin_db.transaction():
                await admin_db.execute("set local lock_timeout = '500ms'")
                await admin_db.fetch("select id from offering_meeting for update")
            held_open.append(False)
        except asyncpg.LockNotAvailableError:
            held_open.append(True)

    zoom.during_request = no_transaction_open
    offering, [session] = await published_event(gql, actors.staff_with.token, online=True)
    [payload] = await job_payloads(admin_db, "conferencing_meetings")  # queued by publishOffering
    assert payload["offering_id"] == str(oid(offering["id"]))

    org, offering_id = actors.org, oid(offering["id"])
    results = await asyncio.gather(jobs.ensure_meetings(db, settings, org, offering_id),
                                   jobs.ensure_meetings(db, settings, org, offering_id), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) in (["MeetingBusy", "int"], ["int", "int"]), results
    assert sum(r for r in results if isinstance(r, int)) == 1
    assert await run_meeting_jobs(admin_db, db, settings) == 0  # the queued job, run again
    assert await jobs.ensure_meetings(db, settings, org, offering_id) == 0

    creates = [r for r in zoom.requests if r == ("POST", "/v2/users/me/meetings")]
    assert len(creates) == 1 and len(zoom.meetings) == 1 and held_open and not any(held_open)
    [made] = zoom.meetings.values()
    [row] = await meeting_rows(admin_db)
    assert (row["status"], row["provider"], row["provider_meeting_id"], row["join_url"]) == (
        "CREATED", "ZOOM", str(made["id"]), made["join_url"])
    assert f"codex-{row['id']}" in made["agenda"] and made["type"] == 2 and made["duration"] == 120
    assert made["timezone"] == "Europe/Berlin"


async def test_a_crash_after_zoom_made_the_meeting_does_not_make_a_second(gql, http, db, admin_db, zoom, settings,
                                                                        actors) -> None:
    await connected(gql, http, actors)
    offering, [session] = await published_event(gql, actors.staff_with.token, online=True)
    await run_meeting_jobs(admin_db, db, settings)
    [row] = await meeting_rows(admin_db)
    # As if the runner crashed after Zoom answered: the row is still CREATING with an old claim.
    await admin_db.execute("update offering_meeting set status = 'CREATING', join_url = null, "
                           "provider_meeting_id = null, claimed_at = now() - interval '1 hour'")
    assert await jobs.ensure_meetings(db, settings, actors.org, oid(offering["id"])) == 1
    creates = [r for r in zoom.requests if r == ("POST", "/v2/users/me/meetings")]
    assert len(creates) == 1 and len(zoom.meetings) == 1  # found by its marker instead of made again
    [again] = await meeting_rows(admin_db)
    assert again["status"] == "CREATED" and again["join_url"] == row["join_url"]


async def test_an_expired_access_token_is_refreshed_and_the_rotated_refresh_token_kept(
        gql, http, db, admin_db, zoom, settings, actors) -> None:
    await connected(gql, http, actors)
    first = await admin_db.fetchrow("select * from conferencing_connection")
    zoom.expire_all()  # Zoom says 124 "Access token is expired." although we thought it still valid
    offering, _ = await published_event(gql, actors.staff_with.token, online=True)
    assert await run_meeting_jobs(admin_db, db, settings) == 1
    refreshed = await admin_db.fetchrow("select * from conferencing_connection")
    assert refreshed["access_token"] != first["access_token"] and refreshed["refresh_token"] != first["refresh_token"]
    old_refresh = credentials.decrypt(settings.secret_key, actors.org, "refresh", first["refresh_token"])
    new_refresh = credentials.decrypt(settings.secret_key, actors.org, "refresh", refreshed["refresh_token"])
    assert old_refresh not in zoom.refresh_tokens and new_refresh in zoom.refresh_tokens

    # Known to be expired: refreshed before the call, no refused call first.
    await admin_db.execute("update conferencing_connection set expires_at = now() - interval '1 minute'")
    zoom.expire_all()
    zoom.requests.clear()
    offering2, _ = await published_event(gql, actors.staff_with.token, online=True, title="Second")
    assert await jobs.ensure_meetings(db, settings, actors.org, oid(offering2["id"])) == 1
    assert zoom.requests == [("POST", "/oauth/token"), ("POST", "/v2/users/me/meetings")]
    assert (await admin_db.fetchval("select expires_at from conferencing_connection")) > utcnow()


async def test_zoom_down_leaves_nothing_half_made_and_the_retried_job_makes_the_meeting(
        gql, http, db, admin_db, zoom, settings, actors) -> None:
    await connected(gql, http, actors)
    zoom.fail_status = 503
    offering, [session] = await published_event(gql, actors.staff_with.token, online=True)
    with pytest.raises(ProviderError) as failed:
        await run_meeting_jobs(admin_db, db, settings)
    assert failed.value.retryable  # the actor raises: Dramatiq retries it with backoff
    [row] = await meeting_rows(admin_db)
    assert (row["status"], row["join_url"], row["provider_meeting_id"], row["claimed_at"]) == (
        "PENDING", None, None, None)
    assert "503" in row["last_error"] and zoom.meetings == {}
    body = await gql.ok("""query($id: ID!) { node(id: $id) { ... on Offering { sessions { joinUrl } } } }""",
                        {"id": offering["id"]}, actors.staff_with.token)
    assert body["node"]["sessions"] == [{"joinUrl": None}]

    zoom.fail_status = None
    assert await run_meeting_jobs(admin_db, db, settings) == 1
    [row] = await meeting_rows(admin_db)
    assert row["status"] == "CREATED" and row["attempts"] == 2 and row["last_error"] is None
    assert len(zoom.meetings) == 1


async def test_cancelling_an_offering_deletes_its_meetings_by_a_job(gql, http, db, admin_db, zoom, settings,
                                                                   actors) -> None:
    await connected(gql, http, actors)
    offering, sessions = await published_event(gql, actors.staff_with.token, online=True, sessions=2)
    assert await run_meeting_jobs(admin_db, db, settings) == 2
    assert len(zoom.meetings) == 2
    await gql.ok(CANCEL_OFFERING, {"input": {"offeringId": offering["id"]}}, actors.staff_with.token)
    assert len(zoom.meetings) == 2  # not in the mutation: by the job
    assert await run_delete_jobs(admin_db, db, settings) == 2
    assert await run_delete_jobs(admin_db, db, settings) == 0  # run again: nothing more
    assert zoom.meetings == {}
    assert {(r["status"], r["join_url"]) for r in await meeting_rows(admin_db)} == {("DELETED", None)}
    # A meeting already gone at Zoom (deleted there by hand) is no error.
    offering2, _ = await published_event(gql, actors.staff_with.token, online=True, title="Other")
    await run_meeting_jobs(admin_db, db, settings)
    zoom.meetings.clear()
    await gql.ok(CANCEL_OFFERING, {"input": {"offeringId": offering2["id"]}}, actors.staff_with.token)
    assert await run_delete_jobs(admin_db, db, settings) == 1


async def test_in_person_and_draft_offerings_get_no_meeting(gql, http, db, admin_db, zoom, settings, actors) -> None:
    await connected(gql, http, actors)
    await published_event(gql, actors.staff_with.token, online=False)
    assert await job_payloads(admin_db, "conferencing_meetings") == []
    assert await jobs.ensure_meeting(db, settings, actors.org, uuid.uuid4()) is False
    assert zoom.meetings == {} and await meeting_rows(admin_db) == []
