"""The scheduled-publishing job: due items published exactly once however many runners run at once (one
publication, one event, one audit entry each), items held elsewhere skipped without waiting, items that left
READY skipped and cleared, not-yet-due items left alone, hidden from the public until published, and the job
running by itself in embedded mode."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.content import scheduling_jobs
from codex_graphql.content import scheduling_repository as repository
from codex_graphql.content.models import ContentStatus
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.settings import Settings
from tests.content.scheduling_support import (
    BULK,
    PUBLIC_LIST,
    SCHEDULE,
    SCHEDULES,
    audit_entries,
    gid,
    item,
    later,
    rows,
    status_events,
)
from tests.support import make_actors


@pytest.fixture
async def shop(factory):
    return await make_actors(factory, without_role=OrgRole.MEMBER)


@pytest.fixture
async def runners(api_database_url):
    """Two job runners with their own connection pools, as two worker processes have."""
    made = [Database(Settings(database_url=api_database_url).database_url or "", pool_size=2, max_overflow=0)
            for _ in range(2)]
    yield made
    for database in made:
        await database.dispose()


async def _schedule_many(gql, token: str, ids: list, hours: float = 1) -> None:
    body = await gql.ok(BULK, {"input": {"contentIds": [gid(i) for i in ids], "publishAt": later(hours=hours).isoformat()}},
                        token)
    assert body["scheduleContentPublishBulk"]["scheduledCount"] == len(ids)


async def test_two_concurrent_runners_publish_each_due_item_once(gql, db, admin_db, shop, factory, runners):
    owner = shop.staff_with
    ours = [await item(db, shop.org, owner.user_id, title=f"Ours {n}") for n in range(24)]
    theirs = [await item(db, shop.other_org, shop.other_staff.user_id, title=f"Theirs {n}") for n in range(6)]
    not_yet = await item(db, shop.org, owner.user_id, title="Later")
    await _schedule_many(gql, owner.token, ours)
    await _schedule_many(gql, shop.other_staff.token, theirs)
    await _schedule_many(gql, owner.token, [not_yet], hours=5)
    when = utcnow() + timedelta(hours=2)  # the first schedules are due, the last is not

    # Small batches: the runners take turns on the same organizations' rows many times over.
    counts = await asyncio.gather(*(scheduling_jobs.publish_scheduled(runner, when, batch=4) for runner in runners))
    assert sum(counts) == len(ours) + len(theirs), counts
    for content_id in ours + theirs:
        assert await rows(admin_db, "select status from content where id = $1", content_id) == [("PUBLISHED",)]
        assert await status_events(admin_db, content_id) == 1, content_id
        published = await audit_entries(admin_db, "CONTENT_PUBLISHED", content_id)
        assert [(e["actor_service"], e["actor_user_id"], e["after"]) for e in published] == [
            ("scheduler", None, {"status": "PUBLISHED"})], content_id
    assert await rows(admin_db, "select status from content where id = $1", not_yet) == [("READY",)]
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [not_yet]

    # Further passes, concurrent again, find nothing more to do.
    assert await asyncio.gather(*(scheduling_jobs.publish_scheduled(r, when) for r in runners)) == [0, 0]
    assert all([await status_events(admin_db, i) for i in ours + theirs])
    assert sum([await status_events(admin_db, i) for i in ours + theirs]) == len(ours) + len(theirs)


async def test_the_same_race_many_times_over(gql, db, admin_db, shop, runners):
    """Two runners started together on one organization's due items, round after round: never a second
    publication, never a lost one."""
    owner = shop.staff_with
    for round_ in range(5):
        ids = [await item(db, shop.org, owner.user_id, title=f"R{round_}-{n}") for n in range(6)]
        await _schedule_many(gql, owner.token, ids)
        counts = await asyncio.gather(*(scheduling_jobs.publish_scheduled(r, utcnow() + timedelta(hours=2), batch=2)
                                        for r in runners))
        assert sum(counts) == len(ids), (round_, counts)
        assert [await status_events(admin_db, i) for i in ids] == [1] * len(ids)


async def test_an_item_held_elsewhere_is_skipped_without_waiting_then_published_once(gql, db, admin_db, shop, runners):
    owner = shop.staff_with
    held, free = await item(db, shop.org, owner.user_id), await item(db, shop.org, owner.user_id)
    await _schedule_many(gql, owner.token, [held, free])
    when = utcnow() + timedelta(hours=2)
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:  # e.g. a staff edit in flight
        await session.execute(text("select id from content where id = :id for update"), {"id": held})
        published = await asyncio.wait_for(scheduling_jobs.publish_scheduled(runners[0], when), timeout=10)
        assert published == 1
    assert await rows(admin_db, "select id, status from content where id = any($1::uuid[]) order by status",
                      [held, free]) == [(free, "PUBLISHED"), (held, "READY")]
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [held]  # still scheduled: the next pass takes it
    assert await scheduling_jobs.publish_scheduled(runners[1], when) == 1
    assert [await status_events(admin_db, i) for i in (held, free)] == [1, 1]
    assert await rows(admin_db, SCHEDULES) == []


async def test_a_claim_takes_only_schedules_still_due(gql, db, admin_db, shop):
    """The conditional DELETE: a runner whose work list is stale (the item was rescheduled later, or published,
    by a transaction that committed after the list was read) claims nothing and changes nothing."""
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=3).isoformat()}},
                 owner.token)
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:
        assert await repository.claim(session, shop.org, [content_id], utcnow() + timedelta(hours=1)) == set()
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [content_id]
    async with db.transaction(TenantScope(organization_id=shop.other_org)) as session:  # another organization's
        assert await repository.claim(session, shop.org, [content_id], utcnow() + timedelta(hours=5)) == set()
    assert [row[0] for row in await rows(admin_db, SCHEDULES)] == [content_id]
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:
        assert await repository.claim(session, shop.org, [content_id], utcnow() + timedelta(hours=5)) == {content_id}
        assert await repository.claim(session, shop.org, [content_id], utcnow() + timedelta(hours=5)) == set()


@pytest.mark.parametrize("state", ["FAILED", "PROCESSING", "PUBLISHED", "deleted"])
async def test_an_item_no_longer_ready_is_skipped_and_its_schedule_cleared(db, admin_db, shop, state):
    """The trigger clears a schedule when its item leaves READY; a row that outlived it anyway (written past the
    application, as here) is cleared by the job, and the item is not published."""
    owner = shop.staff_with
    status = ContentStatus.READY if state == "deleted" else ContentStatus(state)
    content_id = await item(db, shop.org, owner.user_id, status, deleted=state == "deleted")
    await admin_db.execute("insert into content_publish_schedule (content_id, organization_id, publish_at) "
                           "values ($1, $2, now() - interval '1 minute')", content_id, shop.org)
    before = await rows(admin_db, "select status, published_at, deleted_at from content where id = $1", content_id)
    assert await scheduling_jobs.publish_scheduled(db) == 0
    assert await rows(admin_db, SCHEDULES) == []
    assert await rows(admin_db, "select status, published_at, deleted_at from content where id = $1",
                      content_id) == before
    assert await status_events(admin_db, content_id) == 0
    assert await audit_entries(admin_db, "CONTENT_PUBLISHED", content_id) == []


async def test_published_by_hand_before_its_time_is_published_once(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=1).isoformat()}},
                 owner.token)
    await gql.ok("mutation($id: ID!) { publishContent(input: {contentId: $id}) { errors { code } } }",
                 {"id": gid(content_id)}, owner.token)
    await gql.ok("mutation($id: ID!) { unpublishContent(input: {contentId: $id}) { errors { code } } }",
                 {"id": gid(content_id)}, owner.token)
    assert await scheduling_jobs.publish_scheduled(db, utcnow() + timedelta(hours=2)) == 0
    assert await rows(admin_db, "select status from content where id = $1", content_id) == [("READY",)]
    assert await status_events(admin_db, content_id) == 1  # the publication by hand only


async def test_a_scheduled_item_stays_out_of_public_lists_until_published(gql, db, admin_db, shop):
    owner = shop.staff_with
    content_id = await item(db, shop.org, owner.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=1).isoformat()}},
                 owner.token)
    item_query = "query($id: ID!) { content(id: $id) { id status } }"
    for token in (None, shop.customer.token, shop.other_staff.token):
        listed = await gql.ok(PUBLIC_LIST, {"slug": shop.org_slug}, token)
        assert listed["organization"]["contents"]["nodes"] == [], token
        assert (await gql.ok(item_query, {"id": gid(content_id)}, token))["content"] is None
    assert await scheduling_jobs.publish_scheduled(db) == 0  # not due yet: still hidden
    assert (await gql.ok(PUBLIC_LIST, {"slug": shop.org_slug}))["organization"]["contents"]["nodes"] == []
    assert await scheduling_jobs.publish_scheduled(db, utcnow() + timedelta(hours=2)) == 1
    listed = await gql.ok(PUBLIC_LIST, {"slug": shop.org_slug})
    assert listed["organization"]["contents"]["nodes"] == [{"id": gid(content_id)}]
    assert (await gql.ok(item_query, {"id": gid(content_id)}))["content"] == {"id": gid(content_id),
                                                                           "status": "PUBLISHED"}


def test_the_interval_is_one_setting_with_a_documented_default():
    assert Settings().scheduled_publish_seconds == 60.0
    assert Settings(scheduled_publish_seconds=5).scheduled_publish_seconds == 5.0
    with pytest.raises(ValueError):
        Settings(scheduled_publish_seconds=0)


async def test_embedded_mode_runs_the_job(settings, db, admin_db, factory):
    owner = await factory.user()
    org = await factory.organization(owner)
    content_id = await item(db, org, owner.user_id)
    await admin_db.execute("insert into content_publish_schedule (content_id, organization_id, publish_at) "
                           "values ($1, $2, now() - interval '1 second')", content_id, org)
    app = create_app(settings.model_copy(update={"redis_url": None, "scheduled_publish_seconds": 0.05}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app)):
        for _ in range(200):
            if await admin_db.fetchval("select status from content where id = $1", content_id) == "PUBLISHED":
                break
            await asyncio.sleep(0.05)
    assert await admin_db.fetchval("select status from content where id = $1", content_id) == "PUBLISHED"
    assert await rows(admin_db, SCHEDULES) == []
    assert await status_events(admin_db, content_id) == 1
