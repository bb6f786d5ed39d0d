"""Authorization matrices for scheduled publication: the three mutations (CONTENT_MANAGE, the rule of
publishContent) and the two Content fields (CONTENT_READ: staff who see drafts). Refused callers see nothing and
change nothing.

As in test_content_authz: HasOrgPermission is checked in the caller's *active* organization, so staff of another
organization pass it in their own and are kept out of this one by the organization-scoped lookup (a NOT_FOUND
payload error), asserted separately from the matrices."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.content.models import ContentEntitlement, ContentStatus, EntitlementSource
from codex_graphql.db import TenantScope
from tests.content.scheduling_support import (
    BULK,
    CANCEL,
    SCHEDULE,
    SCHEDULES,
    gid,
    item,
    later,
    rows,
    snapshot,
)
from tests.support import Actors, assert_authz_matrix, make_actors

# Every built-in staff role holds CONTENT_READ: the MEMBER (the matrix's staff without CONTENT_MANAGE) may read
# the fields, as it may read every draft.
STAFF = {"staff_without_permission", "staff_with_permission"}


@dataclass
class Without(Actors):
    skip: tuple[str, ...] = ()

    def tokens(self) -> dict[str, str | None]:
        return {name: token for name, token in super().tokens().items() if name not in self.skip}


def without(actors: Actors, *names: str) -> Without:
    return Without(**vars(actors), skip=names)


@pytest.fixture(params=[OrgRole.OWNER, OrgRole.CREATOR])
async def actors(request, factory) -> Actors:
    # MEMBER is the staff role without CONTENT_MANAGE; a CREATOR manages (and schedules) the items it created.
    return await make_actors(factory, with_role=request.param, without_role=OrgRole.MEMBER)


async def _scheduled(gql, db, actors: Actors) -> str:
    content_id = await item(db, actors.org, actors.staff_with.user_id)
    await gql.ok(SCHEDULE, {"input": {"contentId": gid(content_id), "publishAt": later(hours=2).isoformat()}},
                 actors.staff_with.token)
    return gid(content_id)


async def test_schedule_content_publish_matrix(gql, db, admin_db, actors):
    content_id = await item(db, actors.org, actors.staff_with.user_id)
    at = later(hours=3)
    await assert_authz_matrix(
        gql, without(actors, "other_org_staff"), SCHEDULE,
        {"input": {"contentId": gid(content_id), "publishAt": at.isoformat()}},
        path=["scheduleContentPublish", "content"], allowed={"staff_with_permission"}, snapshot=snapshot(admin_db))
    assert await rows(admin_db, SCHEDULES) == [(content_id, actors.org, at, actors.staff_with.user_id)]


async def test_cancel_scheduled_publish_matrix(gql, db, admin_db, actors):
    content_id = await _scheduled(gql, db, actors)
    assert len(await rows(admin_db, SCHEDULES)) == 1
    await assert_authz_matrix(
        gql, without(actors, "other_org_staff"), CANCEL, {"input": {"contentId": content_id}},
        path=["cancelScheduledPublish", "content"], allowed={"staff_with_permission"}, snapshot=snapshot(admin_db))
    assert await rows(admin_db, SCHEDULES) == []


async def test_schedule_content_publish_bulk_matrix(gql, db, admin_db, actors):
    ids = [await item(db, actors.org, actors.staff_with.user_id) for _ in range(2)]
    at = later(hours=4)
    await assert_authz_matrix(
        gql, without(actors, "other_org_staff"), BULK,
        {"input": {"contentIds": [gid(i) for i in ids], "publishAt": at.isoformat()}},
        path=["scheduleContentPublishBulk", "results"], allowed={"staff_with_permission"}, snapshot=snapshot(admin_db))
    assert sorted(await rows(admin_db, SCHEDULES)) == sorted((i, actors.org, at, actors.staff_with.user_id) for i in ids)


async def test_staff_of_another_organization_touch_nothing(gql, db, admin_db, actors):
    scheduled = await _scheduled(gql, db, actors)
    ready = gid(await item(db, actors.org, actors.staff_with.user_id))
    before = await snapshot(admin_db)()
    token = actors.other_staff.token
    at = later(hours=6).isoformat()
    for document, name, variables in (
        (SCHEDULE, "scheduleContentPublish", {"input": {"contentId": ready, "publishAt": at}}),
        (SCHEDULE, "scheduleContentPublish", {"input": {"contentId": scheduled, "publishAt": at}}),
        (CANCEL, "cancelScheduledPublish", {"input": {"contentId": scheduled}}),
    ):
        body = await gql(document, variables, token)
        assert "errors" not in body, body
        assert body["data"][name] == {"errors": [{"code": "NOT_FOUND", "field": ["input", "contentId"],
                                                  "message": "No content has this id in your organization."}],
                                      "content": None}, body
    bulk = (await gql(BULK, {"input": {"contentIds": [ready, scheduled], "publishAt": at}}, token))[
        "data"]["scheduleContentPublishBulk"]
    assert bulk["scheduledCount"] == 0 and [r["content"] for r in bulk["results"]] == [None, None]
    assert [[e["code"] for e in r["errors"]] for r in bulk["results"]] == [["NOT_FOUND"], ["NOT_FOUND"]]
    # Naming this organization in the header is refused outright for a non-member.
    hinted = await gql(CANCEL, {"input": {"contentId": scheduled}}, token,
                       headers={"x-codex-organization": actors.org_slug})
    assert [e["extensions"]["code"] for e in hinted["errors"]] == ["FORBIDDEN"] and hinted["data"] is None
    assert await snapshot(admin_db)() == before


FIELDS = {
    "scheduledPublishAt": "scheduledPublishAt",
    "scheduledPublishAtLocal": "scheduledPublishAtLocal { dateTime timeZone }",
}


@pytest.mark.parametrize("field", list(FIELDS))
async def test_the_fields_are_for_staff_only(gql, db, admin_db, actors, field):
    scheduled = await _scheduled(gql, db, actors)
    query = f"query($id: ID!) {{ content(id: $id) {{ id status {FIELDS[field]} }} }}"
    # The guard on an item everyone can see (a published one: the field is null there even for staff).
    published = gid(await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED))
    for name, token in actors.tokens().items():
        body = await gql(query, {"id": published}, token)
        codes = {e["extensions"]["code"] for e in body.get("errors", [])}
        if name in STAFF:
            assert codes == set() and body["data"]["content"][field] is None, (name, body)
        else:
            assert codes == {"UNAUTHENTICATED" if token is None else "FORBIDDEN"}, (name, body)
            assert body["data"]["content"]["status"] == "PUBLISHED" and body["data"]["content"][field] is None

    # The scheduled (READY) item: staff read the time; a customer entitled to the draft (a grant) sees the item
    # but not the field; everyone else does not see the item at all.
    async with db.transaction(TenantScope(organization_id=actors.org)) as session:
        session.add(ContentEntitlement(organization_id=actors.org, user_id=actors.customer.user_id,
                                       content_id=(await rows(admin_db, SCHEDULES))[0][0],
                                       source=EntitlementSource.GRANT))
    before = await snapshot(admin_db)()
    for name, token in actors.tokens().items():
        body = await gql(query, {"id": scheduled}, token)
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        content = body["data"]["content"]
        if name in STAFF:
            assert codes == [] and content[field] is not None, (name, body)
        elif name == "customer":
            assert codes == ["FORBIDDEN"] and content == {"id": scheduled, "status": "READY", field: None}, body
        else:
            assert codes == [] and content is None, (name, body)
    assert await snapshot(admin_db)() == before
