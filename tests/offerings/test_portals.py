"""Offering portals (issue 19, item 3): a content item attached to a portal is an entitlement source for the
offering's participants (a CONFIRMED booking), on both read paths, and only for them: a waitlisted or cancelled
booker, another customer and anonymous callers see nothing, and a cancellation ends the access. Files are
uploaded once and downloaded by participants through short-lived signed URLs. The authorization matrix of every
portal mutation and of ``Offering.portal``, and bad input refused with nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.db import TenantScope
from codex_graphql.errors import DomainError
from codex_graphql.offerings import portal_service
from codex_graphql.relay import decode_id, to_global_id
from tests.fastpath.test_fastpath_equivalence import fast_path
from tests.offerings.portal_support import (
    ANNOUNCE,
    ATTACH,
    COMPLETE_FILE,
    CONTENT,
    DETACH,
    PORTAL,
    insert_content,
    portal_state,
)
from tests.offerings.support import book, cancel_booking, codes, oid, published_event
from tests.support import Actors, assert_authz_matrix, make_actors
from tests.support.reviews import without

ACCESS = "query($id: ID!) { content(id: $id) { title viewerHasAccess } }"
CATALOGUE = """query($slug: String!) { organization(slug: $slug) { contents(first: 50) {
  nodes { id title viewerHasAccess } } } }"""


@pytest.fixture
async def actors(factory: Any) -> Actors:
    # ADMIN holds CONTENT_MANAGE (and CONTENT_MANAGE_ALL); MEMBER holds CONTENT_READ only.
    return await make_actors(factory, with_role=OrgRole.ADMIN)


async def portal_of(gql: Any, offering: str, token: str | None) -> dict[str, Any]:
    return (await gql.ok(PORTAL, {"id": offering}, token))["node"]


async def content(gql: Any, item: str, token: str | None) -> dict[str, Any] | None:
    return (await gql.ok(CONTENT, {"id": item}, token))["content"]


async def attach(gql: Any, token: str, offering: str, **fields: Any) -> dict[str, Any]:
    body = await gql(ATTACH, {"input": {"offeringId": offering, **fields}}, token)
    assert "errors" not in body, body
    return body["data"]["attachToOfferingPortal"]


async def test_participants_read_and_play_attached_items_until_their_booking_is_cancelled(
        gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors, app: Any) -> None:
    staff = actors.staff_with.token
    offering, [seat] = await published_event(gql, staff, capacity=1)
    hidden = await insert_content(db, actors.org, actors.staff_with.user_id, "Workshop recording")  # READY, unlisted
    listed = await insert_content(db, actors.org, actors.staff_with.user_id, "Paid lesson", status="PUBLISHED",
                                  listed=True)
    for item in (hidden, listed):
        attached = await attach(gql, staff, offering["id"], contentId=item, title="Session 1")
        assert attached["errors"] == [] and attached["item"]["kind"] == "CONTENT", attached
    again = await attach(gql, staff, offering["id"], contentId=hidden)  # idempotent: the same item
    assert await admin_db.fetchval("select count(*) from offering_portal_item") == 2
    assert again["item"]["content"]["id"] == hidden

    participant, waiting, cancelled, stranger = [await factory.user() for _ in range(4)]
    assert (await book(gql, cancelled.token, offering["id"], seat["id"], pay_with="PURCHASE"))["errors"] == []
    cancelled_booking = await admin_db.fetchval("select id from booking where user_id = $1", cancelled.user_id)
    assert (await cancel_booking(gql, cancelled.token, to_global_id("Booking", cancelled_booking)))["errors"] == []
    confirmed = await book(gql, participant.token, offering["id"], seat["id"], pay_with="PURCHASE")
    assert confirmed["booking"]["status"] == "CONFIRMED"
    queued = await book(gql, waiting.token, offering["id"], seat["id"], pay_with="PURCHASE")
    assert queued["booking"]["status"] == "WAITLISTED"

    # The participant reads and plays the unlisted, unpublished item they never bought.
    seen = await content(gql, hidden, participant.token)
    assert seen is not None and seen["title"] == "Workshop recording" and seen["viewerHasAccess"] is True
    assert seen["playback"] and seen["playback"]["url"], seen
    assert await admin_db.fetchval("select count(*) from content_entitlement") == 0  # no row copied
    portal = await portal_of(gql, offering["id"], participant.token)
    assert portal["viewerIsParticipant"] is True
    assert [(i["title"], i["content"]["viewerHasAccess"]) for i in portal["portal"]["items"]] == [
        ("Session 1", True), ("Session 1", True)]
    # The compiled read path (one SQL statement) answers alike: the listed item is theirs in the catalogue.
    assert fast_path(app).plan(CATALOGUE, None) is not None
    nodes = (await gql.ok(CATALOGUE, {"slug": actors.org_slug}, participant.token))["organization"]["contents"]["nodes"]
    assert {n["title"]: n["viewerHasAccess"] for n in nodes} == {"Paid lesson": True}

    # Nobody else: the waitlisted, the cancelled, another customer, another organization's staff, anonymous.
    for person in (waiting.token, cancelled.token, stranger.token, actors.other_staff.token, None):
        assert await content(gql, hidden, person) is None
        listed_seen = (await gql.ok(ACCESS, {"id": listed}, person))["content"]
        assert listed_seen == {"title": "Paid lesson", "viewerHasAccess": False}
        played = await gql(CONTENT, {"id": listed}, person)  # null-or-FORBIDDEN without access
        assert played["data"]["content"]["playback"] is None
        found = await portal_of(gql, offering["id"], person)
        assert found == {"viewerIsParticipant": False, "portal": None}, found
    nodes = (await gql.ok(CATALOGUE, {"slug": actors.org_slug}, stranger.token))["organization"]["contents"]["nodes"]
    assert {n["title"]: n["viewerHasAccess"] for n in nodes} == {"Paid lesson": False}

    # Cancelling the booking ends the access, with nothing to revoke; the waiting person is not a participant yet
    # (their seat is only held).
    assert (await cancel_booking(gql, participant.token, confirmed["booking"]["id"]))["errors"] == []
    for person in (participant, waiting):
        assert await content(gql, hidden, person.token) is None
        assert (await gql.ok(ACCESS, {"id": listed}, person.token))["content"]["viewerHasAccess"] is False
        assert (await portal_of(gql, offering["id"], person.token))["portal"] is None
    nodes = (await gql.ok(CATALOGUE, {"slug": actors.org_slug}, participant.token))["organization"]["contents"]["nodes"]
    assert {n["title"]: n["viewerHasAccess"] for n in nodes} == {"Paid lesson": False}


async def test_portal_authorization_matrix(gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors) -> None:
    staff = actors.staff_with.token
    offering, [seat] = await published_event(gql, staff)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Notes")
    theirs = await insert_content(db, actors.other_org, actors.other_staff.user_id, "Another org's", status="PUBLISHED",
                                  listed=True)

    async def snapshot() -> tuple[Any, ...]:
        return await portal_state(admin_db)

    matrix = without(actors, "other_org_staff")  # staff elsewhere pass the permission check: NOT_FOUND below
    attach_input = {"input": {"offeringId": offering["id"], "contentId": item}}
    results = await assert_authz_matrix(gql, matrix, ATTACH, attach_input, path=["attachToOfferingPortal"],
                                        allowed={"staff_with_permission"}, snapshot=snapshot)
    attached = results["staff_with_permission"]["data"]["attachToOfferingPortal"]
    assert attached["errors"] == [] and attached["upload"] is None
    item_id = attached["item"]["id"]
    announce_input = {"input": {"offeringId": offering["id"], "title": "Welcome", "body": "See you Monday."}}
    results = await assert_authz_matrix(gql, matrix, ANNOUNCE, announce_input, path=["postOfferingAnnouncement"],
                                        allowed={"staff_with_permission"}, snapshot=snapshot)
    assert results["staff_with_permission"]["data"]["postOfferingAnnouncement"]["announcement"]["title"] == "Welcome"
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'offering_announcement_mail'") == 1

    # Another organization's staff, and foreign ids: NOT_FOUND, nothing changed.
    before = await snapshot()
    other = actors.other_staff.token
    for query, variables, name in (
            (ATTACH, attach_input, "attachToOfferingPortal"),
            (ANNOUNCE, announce_input, "postOfferingAnnouncement"),
            (DETACH, {"input": {"itemId": item_id}}, "detachFromOfferingPortal"),
            (COMPLETE_FILE, {"input": {"itemId": item_id}}, "completePortalFileUpload")):
        payload = (await gql(query, variables, other))["data"][name]
        assert codes(payload) == ["NOT_FOUND"], (name, payload)
    foreign = (await gql(ATTACH, {"input": {"offeringId": offering["id"], "contentId": theirs}}, staff))["data"]
    assert [(e["code"], e["field"]) for e in foreign["attachToOfferingPortal"]["errors"]] == [
        ("NOT_FOUND", ["input", "contentId"])]
    assert await snapshot() == before

    # The portal: its organization's staff (CONTENT_READ, the MEMBER too) see it; everyone else gets null, no error.
    seen = {}
    for name, token in actors.tokens().items():
        body = await gql(PORTAL, {"id": offering["id"]}, token)
        assert "errors" not in body, (name, body)
        seen[name] = body["data"]["node"]["portal"]
    assert seen["anonymous"] is None and seen["customer"] is None and seen["other_org_staff"] is None
    for name in ("staff_without_permission", "staff_with_permission"):
        assert [i["content"]["title"] for i in seen[name]["items"]] == ["Notes"], name
        assert [a["title"] for a in seen[name]["announcements"]] == ["Welcome"], name
    # A participant sees it too; a customer who only booked another offering does not.
    participant = await factory.user()
    assert (await book(gql, participant.token, offering["id"], seat["id"], pay_with="PURCHASE"))["errors"] == []
    assert [a["body"] for a in (await portal_of(gql, offering["id"], participant.token))["portal"]["announcements"]] \
        == ["See you Monday."]

    # Detaching: same matrix; the participant loses the item it gave.
    assert (await content(gql, item, participant.token))["title"] == "Notes"
    await assert_authz_matrix(gql, matrix, DETACH, {"input": {"itemId": item_id}}, path=["detachFromOfferingPortal"],
                              allowed={"staff_with_permission"}, snapshot=snapshot)
    assert await admin_db.fetchval("select count(*) from offering_portal_item") == 0
    assert await content(gql, item, participant.token) is None
    again = (await gql(DETACH, {"input": {"itemId": item_id}}, staff))["data"]
    assert codes(again["detachFromOfferingPortal"]) == ["NOT_FOUND"]


async def test_bad_input_is_refused_and_changes_nothing(gql: Any, db: Any, admin_db: Any, actors: Actors) -> None:
    staff = actors.staff_with.token
    offering, _ = await published_event(gql, staff)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Notes")
    before = await portal_state(admin_db)
    pdf = {"filename": "slides.pdf", "contentType": "application/pdf", "sizeBytes": 1000}
    cases = [
        (ANNOUNCE, {"title": "x" * 201, "body": "ok"}, "postOfferingAnnouncement", "INVALID_INPUT", "title"),
        (ANNOUNCE, {"title": "ok", "body": "x" * 20_001}, "postOfferingAnnouncement", "INVALID_INPUT", "body"),
        (ANNOUNCE, {"title": "  ", "body": "ok"}, "postOfferingAnnouncement", "INVALID_INPUT", "title"),
        (ANNOUNCE, {"title": "ok", "body": ""}, "postOfferingAnnouncement", "INVALID_INPUT", "body"),
        (ATTACH, {"contentId": item, "title": "x" * 201}, "attachToOfferingPortal", "INVALID_INPUT", "title"),
        (ATTACH, {"contentId": item, "position": -1}, "attachToOfferingPortal", "INVALID_INPUT", "position"),
        (ATTACH, {}, "attachToOfferingPortal", "INVALID_INPUT", "contentId"),
        (ATTACH, {"contentId": item, "file": pdf}, "attachToOfferingPortal", "INVALID_INPUT", "contentId"),
        (ATTACH, {"file": {**pdf, "sizeBytes": 0}}, "attachToOfferingPortal", "INVALID_INPUT", "file.sizeBytes"),
        (ATTACH, {"file": {**pdf, "sizeBytes": 2**30}}, "attachToOfferingPortal", "INVALID_INPUT", "file.sizeBytes"),
        (ATTACH, {"file": {**pdf, "filename": "../etc/passwd"}}, "attachToOfferingPortal", "INVALID_INPUT",
         "file.filename"),
        (ATTACH, {"file": {**pdf, "contentType": "not a type"}}, "attachToOfferingPortal", "INVALID_INPUT",
         "file.contentType"),
        (ATTACH, {"contentId": "not-an-id"}, "attachToOfferingPortal", "NOT_FOUND", "contentId"),
    ]
    for query, values, name, code, field in cases:
        body = await gql(query, {"input": {"offeringId": offering["id"], **values}}, staff)
        assert "errors" not in body, body
        errors = body["data"][name]["errors"]
        assert [e["code"] for e in errors] == [code], (values, errors)
        assert errors[0]["field"][-1] == field.split(".")[-1], (values, errors)
    unknown = (await gql(ANNOUNCE, {"input": {"offeringId": to_global_id("Offering", uuid.uuid4()), "title": "t",
                                              "body": "b"}}, staff))["data"]
    assert codes(unknown["postOfferingAnnouncement"]) == ["NOT_FOUND"]
    assert await portal_state(admin_db) == before


async def test_a_file_is_uploaded_once_and_downloaded_by_participants_only(
        gql: Any, http: Any, admin_db: Any, factory: Any, actors: Actors) -> None:
    staff = actors.staff_with.token
    offering, [seat] = await published_event(gql, staff)
    data = b"%PDF-1.4 workshop slides\n" * 40
    made = await attach(gql, staff, offering["id"], title="Slides", position=1,
                        file={"filename": "slides.pdf", "contentType": "application/pdf", "sizeBytes": len(data)})
    assert made["errors"] == [] and made["item"]["kind"] == "FILE"
    assert made["item"]["file"] == {"filename": "slides.pdf", "contentType": "application/pdf",
                                    "sizeBytes": len(data), "uploaded": False, "url": None, "expiresAt": None}
    item_id = made["item"]["id"]
    # Completing before the upload is refused; then one PUT and the completion.
    early = (await gql(COMPLETE_FILE, {"input": {"itemId": item_id}}, staff))["data"]
    assert codes(early["completePortalFileUpload"]) == ["INVALID_STATE"]
    upload = made["upload"]
    headers = {h["name"]: h["value"] for h in upload["headers"]}
    assert (await http.put(upload["url"], content=data, headers=headers)).status_code in (200, 201, 204)
    done = await gql.ok(COMPLETE_FILE, {"input": {"itemId": item_id}}, staff)
    assert done["completePortalFileUpload"]["errors"] == []
    assert done["completePortalFileUpload"]["item"]["file"]["uploaded"] is True
    again = await gql.ok(COMPLETE_FILE, {"input": {"itemId": item_id}}, staff)  # completing again changes nothing
    assert again["completePortalFileUpload"]["errors"] == []
    assert (await http.put(upload["url"], content=data, headers=headers)).status_code >= 400  # the URL is spent
    key = await admin_db.fetchval("select storage_key from offering_portal_item")
    assert key.startswith("portal/")

    participant, stranger = await factory.user(), await factory.user()
    assert (await book(gql, participant.token, offering["id"], seat["id"], pay_with="PURCHASE"))["errors"] == []
    [item] = (await portal_of(gql, offering["id"], participant.token))["portal"]["items"]
    assert item["title"] == "Slides" and item["content"] is None and item["file"]["expiresAt"]
    response = await http.get(item["file"]["url"])
    assert response.status_code == 200 and response.content == data
    assert "slides.pdf" in response.headers.get("content-disposition", "")
    assert (await portal_of(gql, offering["id"], stranger.token))["portal"] is None

    # Detached: the object is queued for deletion.
    assert (await gql.ok(DETACH, {"input": {"itemId": item_id}}, staff))["detachFromOfferingPortal"]["errors"] == []
    assert await admin_db.fetchval("select count(*) from storage_cleanup where key = $1", key) == 1


async def test_attach_content_is_idempotent_in_the_organizations_scope(db: Any, gql: Any, actors: Actors) -> None:
    """The interface the conferencing jobs call to attach a session recording."""
    offering, _ = await published_event(gql, actors.staff_with.token)
    recording = await insert_content(db, actors.org, actors.staff_with.user_id, "Recording")
    foreign = await insert_content(db, actors.other_org, actors.other_staff.user_id, "Foreign", status="PUBLISHED",
                                   listed=True)
    content_id = decode_id(recording, "Content")
    assert content_id is not None
    scope = TenantScope(organization_id=actors.org)
    async with db.transaction(scope) as session:
        first = await portal_service.attach_content(session, actors.org, oid(offering["id"]), content_id,
                                                    title="Recording of session 1")
    async with db.transaction(scope) as session:
        second = await portal_service.attach_content(session, actors.org, oid(offering["id"]), content_id)
    assert first.id == second.id and second.title == "Recording of session 1"
    for organization, item in ((actors.org, decode_id(foreign, "Content")), (actors.other_org, content_id)):
        async with db.transaction(TenantScope(organization_id=organization)) as session:
            with pytest.raises(DomainError) as refused:
                await portal_service.attach_content(session, organization, oid(offering["id"]), item or uuid.uuid4())
        assert [e.code.value for e in refused.value.errors] == ["NOT_FOUND"]


async def test_the_content_policy_reads_portal_items_for_the_verified_participant_only(
        gql: Any, db: Any, factory: Any, actors: Actors) -> None:
    """Migration 0044: the read policy's set of portal items comes from the authenticated scope; a forged
    ``codex.user_id`` (set_config, as an injected statement would) asks for nothing of anyone else."""
    from sqlalchemy import text

    offering, [seat] = await published_event(gql, actors.staff_with.token)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Portal only")
    assert (await attach(gql, actors.staff_with.token, offering["id"], contentId=item))["errors"] == []
    participant, stranger = await factory.user(), await factory.user()
    assert (await book(gql, participant.token, offering["id"], seat["id"], pay_with="PURCHASE"))["errors"] == []
    query = text("select coalesce(array_agg(i), '{}') from codex_portal_items() i")
    rows = text("select count(*) from content where id = :id")
    async with db.transaction(TenantScope(user_id=participant.user_id)) as session:
        assert list((await session.execute(query)).scalar_one()) == [decode_id(item, "Content")]
        assert (await session.execute(rows, {"id": decode_id(item, "Content")})).scalar_one() == 1
    async with db.transaction(TenantScope(user_id=stranger.user_id)) as session:
        assert list((await session.execute(query)).scalar_one()) == []
        await session.execute(text("select set_config('codex.user_id', :u, true)"), {"u": str(participant.user_id)})
        assert list((await session.execute(query)).scalar_one()) == []
        assert (await session.execute(rows, {"id": decode_id(item, "Content")})).scalar_one() == 0


async def test_participants_downloads_count_against_their_booking(
        gql: Any, db: Any, admin_db: Any, factory: Any, actors: Actors) -> None:
    """A portal item's downloads are counted like any other source's: the participant's counter names their
    confirmed booking (``admitting_source``)."""
    offering, [seat] = await published_event(gql, actors.staff_with.token)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Handout video")
    await admin_db.execute("update content set allow_downloads = true where id = $1", decode_id(item, "Content"))
    assert (await attach(gql, actors.staff_with.token, offering["id"], contentId=item))["errors"] == []
    participant, stranger = await factory.user(), await factory.user()
    booked = await book(gql, participant.token, offering["id"], seat["id"], pay_with="PURCHASE")
    download = "query($id: ID!) { content(id: $id) { download { url used } } }"
    found = (await gql.ok(download, {"id": item}, participant.token))["content"]["download"]
    assert found["url"] and found["used"] == 1, found
    [counter] = await admin_db.fetch("select booking_id, entitlement_id, subscription_id, used from download_counter")
    assert (counter["booking_id"], counter["entitlement_id"], counter["subscription_id"], counter["used"]) == (
        decode_id(booked["booking"]["id"], "Booking"), None, None, 1)
    assert (await gql.ok(download, {"id": item}, stranger.token))["content"] is None
