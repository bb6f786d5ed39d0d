"""Scheduling a publication through GraphQL: schedule, reschedule, cancel, the bulk form, the organization's time
zone, and every refusal (typed errors, nothing changed, never a 500)."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.content import scheduling
from codex_graphql.content.models import ContentStatus
from codex_graphql.relay import to_global_id
from tests.content.scheduling_support import (
    BULK,
    CANCEL,
    ITEM,
    SCHEDULE,
    SCHEDULES,
    audit_entries,
    gid,
    item,
    later,
    rows,
    snapshot,
)
from tests.support import make_actors, statements

PUBLISH = "mutation($id: ID!) { publishContent(input: {contentId: $id}) { errors { code } } }"
UNPUBLISH = "mutation($id: ID!) { unpublishContent(input: {contentId: $id}) { errors { code } } }"
DELETE = "mutation($id: ID!) { deleteContent(input: {contentId: $id}) { errors { code } } }"


@pytest.fixture
async def shop(factory, db, admin_db):
    actors = await make_actors(factory, without_role=OrgRole.MEMBER)
    await admin_db.execute("update organization set timezone = 'Europe/Paris' where id = $1", actors.org)
    return actors


async def test_schedule_reschedule_and_cancel(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    first = later(days=30)
    scheduled = await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": first.isoformat()}},
                             owner.token)
    content = scheduled["scheduleContentPublish"]["content"]
    assert content["status"] == "READY" and content["publishedAt"] is None
    assert datetime.fromisoformat(content["scheduledPublishAt"]) == first
    local = content["scheduledPublishAtLocal"]
    assert local["timeZone"] == "Europe/Paris"
    assert local["dateTime"] == first.astimezone(ZoneInfo("Europe/Paris")).isoformat(timespec="seconds")
    assert datetime.fromisoformat(local["dateTime"]) == first  # the same instant
    assert await rows(admin_db, SCHEDULES) == [(content_id, shop.org, first, owner.user_id)]

    # Rescheduling replaces the time (given with another offset: the same instant is kept, in UTC).
    second = later(days=3, hours=5)
    in_new_york = second.astimezone(ZoneInfo("America/New_York")).isoformat()
    again = await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": in_new_york}}, owner.token)
    assert datetime.fromisoformat(again["scheduleContentPublish"]["content"]["scheduledPublishAt"]) == second
    assert await rows(admin_db, SCHEDULES) == [(content_id, shop.org, second, owner.user_id)]
    read = await gql.ok(ITEM, {"id": gid(content_id)}, owner.token)
    assert datetime.fromisoformat(read["content"]["scheduledPublishAt"]) == second

    cancelled = await gql.ok(CANCEL, {"input": {"contentId": gid(content_id)}}, owner.token)
    assert cancelled["cancelScheduledPublish"]["content"]["scheduledPublishAt"] is None
    assert cancelled["cancelScheduledPublish"]["content"]["scheduledPublishAtLocal"] is None
    assert cancelled["cancelScheduledPublish"]["content"]["status"] == "READY"
    assert await rows(admin_db, SCHEDULES) == []
    # Cancelling again changes nothing and is no error.
    assert (await gql.ok(CANCEL, {"input": {"contentId": gid(content_id)}}, owner.token))[
        "cancelScheduledPublish"]["content"]["scheduledPublishAt"] is None

    scheduled_entries = await audit_entries(admin_db, "CONTENT_PUBLISH_SCHEDULED", content_id)
    assert [(e["before"], e["after"]) for e in scheduled_entries] == [
        ({"scheduledPublishAt": None}, {"scheduledPublishAt": first.isoformat()}),
        ({"scheduledPublishAt": first.isoformat()}, {"scheduledPublishAt": second.isoformat()}),
    ]
    assert all(e["actor_user_id"] == owner.user_id for e in scheduled_entries)
    cancelled_entries = await audit_entries(admin_db, "CONTENT_PUBLISH_UNSCHEDULED", content_id)
    assert [(e["before"], e["after"]) for e in cancelled_entries] == [
        ({"scheduledPublishAt": second.isoformat()}, {"scheduledPublishAt": None})]  # once: the second cancel did nothing


async def test_the_local_time_follows_daylight_saving_and_unknown_zones_show_utc(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    at = later(days=200)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": at.isoformat()}}, owner.token)
    local = (await gql.ok(ITEM, {"id": gid(content_id)}, owner.token))["content"]["scheduledPublishAtLocal"]
    offset = at.astimezone(ZoneInfo("Europe/Paris")).strftime("%z")
    assert local["dateTime"].endswith(f"{offset[:3]}:{offset[3:]}") and local["timeZone"] == "Europe/Paris"
    assert scheduling.in_zone(at, "Not/AZone") == scheduling.ZonedTime(at.isoformat(timespec="seconds"), "UTC")


async def test_fractions_of_a_second_are_dropped(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    at = later(hours=4)
    given = at.replace(microsecond=654321)
    done = await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": given.isoformat()}}, owner.token)
    assert datetime.fromisoformat(done["scheduleContentPublish"]["content"]["scheduledPublishAt"]) == at
    assert (await rows(admin_db, SCHEDULES))[0][2] == at


# --- refusals -------------------------------------------------------------------------------------------


def _one_error(body: dict, name: str) -> dict:
    assert "errors" not in body, body  # a payload error, never a GraphQL (let alone internal) error
    payload = body["data"][name]
    assert payload["content"] is None and len(payload["errors"]) == 1, payload
    return payload["errors"][0]


@pytest.mark.parametrize("when, message", [
    (lambda: later(minutes=-1).isoformat(), "must be in the future"),
    (lambda: later(seconds=-1).isoformat(), "must be in the future"),
    (lambda: later(days=365, minutes=1).isoformat(), "at most 365 days"),
    (lambda: later(days=4000).isoformat(), "at most 365 days"),
    (lambda: later(hours=3).replace(tzinfo=None).isoformat(), "UTC offset"),
])
async def test_bad_times_are_refused_and_change_nothing(gql, db, admin_db, shop, when, message):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=6).isoformat()}},
                 owner.token)
    before = await snapshot(admin_db)()
    error = _one_error(await gql(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": when()}}, owner.token),
                       "scheduleContentPublish")
    assert error["code"] == "INVALID_INPUT" and error["field"] == ["input", "publishAt"], error
    assert message in error["message"]
    assert await snapshot(admin_db)() == before  # the earlier schedule is kept as it was


async def test_a_year_ahead_is_the_limit(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    edge = later(days=365, minutes=-1)
    done = await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": edge.isoformat()}}, owner.token)
    assert datetime.fromisoformat(done["scheduleContentPublish"]["content"]["scheduledPublishAt"]) == edge


async def test_a_malformed_time_is_a_request_error_not_a_500(gql, db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    body = await gql(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": "next tuesday"}}, owner.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"] and body.get("data") is None


@pytest.mark.parametrize("status, deleted, code", [
    (ContentStatus.UPLOADING, False, "INVALID_STATE"),
    (ContentStatus.PROCESSING, False, "INVALID_STATE"),
    (ContentStatus.FAILED, False, "INVALID_STATE"),
    (ContentStatus.PUBLISHED, False, "INVALID_STATE"),
    (ContentStatus.READY, True, "NOT_FOUND"),
])
async def test_only_ready_live_items_are_scheduled(gql, db, admin_db, shop, status, deleted, code):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id, status, deleted=deleted)
    before = await snapshot(admin_db)()
    error = _one_error(await gql(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=1).isoformat()}},
                                 owner.token), "scheduleContentPublish")
    assert (error["code"], error["field"]) == (code, ["input", "contentId"]), error
    if code == "INVALID_STATE":
        assert status.value in error["message"] or "already published" in error["message"]
    assert await snapshot(admin_db)() == before


async def test_foreign_unknown_and_malformed_ids_are_not_found(gql, db, admin_db, factory, shop):
    owner = shop.staff_with
    foreign = await item(db, shop.other_org, shop.other_staff.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(foreign), "publishAt": later(hours=5).isoformat()}},
                 shop.other_staff.token)
    before = await snapshot(admin_db)()
    for raw in (gid(foreign), gid(uuid.uuid4()), "not-an-id", to_global_id("Organization", shop.org)):
        for document, name in ((SCHEDULE, "scheduleContentPublish"), (CANCEL, "cancelScheduledPublish")):
            variables = {"input": {"contentId": raw}}
            if name == "scheduleContentPublish":
                variables["input"]["publishAt"] = later(hours=1).isoformat()
            error = _one_error(await gql(document, variables, owner.token), name)
            assert (error["code"], error["field"]) == ("NOT_FOUND", ["input", "contentId"]), (raw, name, error)
    assert await snapshot(admin_db)() == before  # the other organization's schedule is untouched


async def test_a_creator_schedules_only_their_own_items(gql, db, admin_db, factory, shop):
    creator = await factory.user()
    await factory.member(shop.org, creator, OrgRole.CREATOR)
    theirs = await item(db, shop.org, creator.user_id)
    owners = await item(db, shop.org, shop.staff_with.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(theirs), "publishAt": later(hours=2).isoformat()}}, creator.token)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(owners), "publishAt": later(hours=2).isoformat()}},
                 shop.staff_with.token)
    before = await snapshot(admin_db)()
    for document, name in ((SCHEDULE, "scheduleContentPublish"), (CANCEL, "cancelScheduledPublish")):
        variables = {"input": {"contentId": gid(owners), "publishAt": later(hours=9).isoformat()}}
        if name == "cancelScheduledPublish":
            del variables["input"]["publishAt"]
        error = _one_error(await gql(document, variables, creator.token), name)
        assert (error["code"], error["field"]) == ("NOT_ALLOWED", ["input", "contentId"]), error
    assert await snapshot(admin_db)() == before


# --- a schedule never outlives its state ------------------------------------------------------------------


@pytest.mark.parametrize("change", ["publish", "delete"])
async def test_publishing_or_deleting_by_hand_clears_the_schedule(gql, db, admin_db, shop, change):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=1).isoformat()}},
                 owner.token)
    await gql.ok(PUBLISH if change == "publish" else DELETE, {"id": gid(content_id)}, owner.token)
    assert await rows(admin_db, SCHEDULES) == []
    if change == "publish":
        read = await gql.ok(ITEM, {"id": gid(content_id)}, owner.token)
        assert read["content"]["status"] == "PUBLISHED" and read["content"]["scheduledPublishAt"] is None
        # Taking it back to READY does not bring the old schedule back.
        await gql.ok(UNPUBLISH, {"id": gid(content_id)}, owner.token)
        assert await rows(admin_db, SCHEDULES) == []
        assert (await gql.ok(ITEM, {"id": gid(content_id)}, owner.token))["content"]["scheduledPublishAt"] is None


async def test_any_status_change_away_from_ready_clears_the_schedule(gql, db, admin_db, shop):
    """The trigger (migration 0029) whatever the path: here a worker failing an item's reprocessing."""
    owner = shop.staff_with
    kept, failed = await item(db, shop.org, owner.user_id), await item(db, shop.org, owner.user_id)
    for content_id in (kept, failed):
        await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=1).isoformat()}},
                     owner.token)
    await admin_db.execute("update content set status = 'FAILED' where id = $1", failed)
    await admin_db.execute("update content set title = 'Renamed' where id = $1", kept)  # other columns: kept
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [kept]


# --- the bulk form -----------------------------------------------------------------------------------------


async def test_bulk_schedules_each_item_on_its_own(gql, db, admin_db, factory, shop):
    owner = shop.staff_with
    ready = [await item(db, shop.org, owner.user_id, title=f"Item {n}") for n in range(3)]
    rescheduled = ready[2]
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(rescheduled), "publishAt": later(hours=1).isoformat()}},
                 owner.token)
    published = await item(db, shop.org, owner.user_id, ContentStatus.PUBLISHED)
    foreign = await item(db, shop.other_org, shop.other_staff.user_id)
    at = later(days=2)
    given = [gid(ready[0]), gid(foreign), gid(ready[1]), gid(published), "junk", gid(ready[0]), gid(rescheduled)]
    body = await gql(BULK, {"input": {"contentIds": given, "publishAt": at.isoformat()}}, owner.token)
    assert "errors" not in body, body
    payload = body["data"]["scheduleContentPublishBulk"]
    assert payload["errors"] == [] and payload["scheduledCount"] == 3
    results = payload["results"]
    assert [r["contentId"] for r in results] == [gid(ready[0]), gid(foreign), gid(ready[1]), gid(published), "junk",
                                                 gid(rescheduled)]  # each distinct id once, in order
    outcomes = [(r["errors"][0]["code"], r["errors"][0]["field"]) if r["errors"] else "ok" for r in results]
    assert outcomes == ["ok", ("NOT_FOUND", ["input", "contentIds", "1"]), "ok",
                        ("INVALID_STATE", ["input", "contentIds", "3"]), ("NOT_FOUND", ["input", "contentIds", "4"]),
                        "ok"]
    assert all((r["content"] is None) == bool(r["errors"]) for r in results)
    assert all(datetime.fromisoformat(r["content"]["scheduledPublishAt"]) == at for r in results if r["content"])
    assert sorted(await rows(admin_db, SCHEDULES)) == sorted((i, shop.org, at, owner.user_id) for i in ready)
    # Audited once, with the list (and the time the rescheduled item had).
    entries = await audit_entries(admin_db, "CONTENT_PUBLISH_SCHEDULED")
    bulk = [e for e in entries if e["target_id"] is None]
    assert len(bulk) == 1
    assert bulk[0]["after"] == {"scheduledPublishAt": at.isoformat(), "contentIds": [str(i) for i in ready[:2]]
                                + [str(rescheduled)]}
    assert bulk[0]["before"]["scheduledPublishAt"][str(ready[0])] is None
    assert bulk[0]["before"]["scheduledPublishAt"][str(rescheduled)] is not None
    assert await rows(admin_db, "select status from content where id = $1", published) == [("PUBLISHED",)]


async def test_bulk_a_creator_gets_not_allowed_for_others_items(gql, db, admin_db, factory, shop):
    creator = await factory.user()
    await factory.member(shop.org, creator, OrgRole.CREATOR)
    theirs, owners = await item(db, shop.org, creator.user_id), await item(db, shop.org, shop.staff_with.user_id)
    body = await gql.ok(BULK, {"input": {"contentIds": [gid(owners), gid(theirs)], "publishAt": later(hours=3).isoformat()}},
                        creator.token)
    results = body["scheduleContentPublishBulk"]["results"]
    assert [r["errors"][0]["code"] if r["errors"] else "ok" for r in results] == ["NOT_ALLOWED", "ok"]
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [theirs]


@pytest.mark.parametrize("case", ["over_limit", "empty", "past", "too_far", "naive"])
async def test_bulk_list_and_time_refusals_change_nothing(gql, db, admin_db, shop, case):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    ids, at, field = [gid(content_id)], later(hours=2).isoformat(), ["input", "publishAt"]
    if case == "over_limit":
        ids, field = ids + [gid(uuid.uuid4()) for _ in range(scheduling.MAX_BULK)], ["input", "contentIds"]
    elif case == "empty":
        ids, field = [], ["input", "contentIds"]
    elif case == "past":
        at = later(hours=-2).isoformat()
    elif case == "too_far":
        at = later(days=366).isoformat()
    else:
        at = later(hours=2).replace(tzinfo=None).isoformat()
    before = await snapshot(admin_db)()
    body = await gql(BULK, {"input": {"contentIds": ids, "publishAt": at}}, owner.token)
    assert "errors" not in body, body
    payload = body["data"]["scheduleContentPublishBulk"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", field)], payload
    assert payload["results"] is None and payload["scheduledCount"] is None
    assert await snapshot(admin_db)() == before
    assert await audit_entries(admin_db, "CONTENT_PUBLISH_SCHEDULED") == []


async def test_bulk_at_the_limit_is_accepted(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    # 500 distinct ids (and a repeated one, counted once): every unknown id is its own NOT_FOUND result.
    ids = [gid(content_id)] + [gid(uuid.uuid4()) for _ in range(scheduling.MAX_BULK - 1)] + [gid(content_id)]
    payload = (await gql(BULK, {"input": {"contentIds": ids, "publishAt": later(hours=2).isoformat()}},
                         owner.token))["data"]["scheduleContentPublishBulk"]
    assert payload["errors"] == [] and payload["scheduledCount"] == 1 and len(payload["results"]) == scheduling.MAX_BULK
    assert {r["errors"][0]["code"] for r in payload["results"][1:]} == {"NOT_FOUND"}
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [content_id]


# --- a page of items reads its schedules in one statement -------------------------------------------------

STAFF_PAGE = """query($slug: String!, $first: Int!) { organization(slug: $slug) { contents(first: $first) {
  nodes { id scheduledPublishAt scheduledPublishAtLocal { dateTime timeZone } } } } }"""


async def test_a_page_of_items_reads_its_schedules_in_one_statement(gql, db, admin_db, app, shop):
    owner = shop.staff_with
    ids = [await item(db, shop.org, owner.user_id, title=f"Item {n}") for n in range(20)]
    at = later(days=1)
    await gql.ok(BULK, {"input": {"contentIds": [gid(i) for i in ids[::2]], "publishAt": at.isoformat()}}, owner.token)
    counted = {}
    for first in (5, 20):
        await gql.ok(STAFF_PAGE, {"slug": shop.org_slug, "first": first}, owner.token)  # connections and plans warm
        async with statements(app) as seen:
            nodes = (await gql.ok(STAFF_PAGE, {"slug": shop.org_slug, "first": first}, owner.token))[
                "organization"]["contents"]["nodes"]
        counted[first] = list(seen)
        assert len(nodes) == first
        for node in nodes:
            scheduled = node["id"] in {gid(i) for i in ids[::2]}
            assert (node["scheduledPublishAt"] is not None) == scheduled, node
            assert (node["scheduledPublishAtLocal"] or {}).get("timeZone", "Europe/Paris") == "Europe/Paris"
    assert len(counted[5]) == len(counted[20]), counted
    assert [sum("content_publish_schedule" in s for s in seen) for seen in counted.values()] == [1, 1], counted
