"""Authorization and bad input for revenue splits: setContentRevenueSplit (SETTINGS_MANAGE) and
Content.revenueSplit (PURCHASES_READ). Refused callers see nothing and change nothing; staff of another
organization pass the rule in their own organization and are kept out of this one by the organization-scoped
lookup (a NOT_FOUND payload error); bad input is a typed error that changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.content.models import ContentStatus
from codex_graphql.relay import to_global_id
from tests.content.scheduling_support import item
from tests.support import Actors, assert_authz_matrix, make_actors

SPLIT = """mutation($input: SetContentRevenueSplitInput!) { setContentRevenueSplit(input: $input) {
  errors { code field message } content { id revenueSplit { creatorSharePercent contributors { sharePercent } } } } }"""
READ = "query($id: ID!) { content(id: $id) { id revenueSplit { effectiveCreatorSharePercent } } }"


def gid(content_id: uuid.UUID) -> str:
    return to_global_id("Content", content_id)


def user(person: Any) -> str:
    return to_global_id("User", person.user_id)


def snapshot(admin_db: Any) -> Any:
    async def take() -> Any:
        contributors = await admin_db.fetch("select content_id, user_id, share_percent from content_contributor "
                                            "order by content_id, user_id")
        overrides = await admin_db.fetch("select id, creator_share_percent from content where creator_share_percent "
                                         "is not null order by id")
        audit = await admin_db.fetchval("select count(*) from audit_log_entry where action = 'REVENUE_SPLIT_CHANGED'")
        return [tuple(r) for r in contributors], [tuple(r) for r in overrides], audit
    return take


@dataclass
class Without(Actors):
    """The matrix's callers but staff of another organization (asserted apart: a NOT_FOUND payload error)."""

    def tokens(self) -> dict[str, str | None]:
        return {name: token for name, token in super().tokens().items() if name != "other_org_staff"}


@pytest.fixture
async def actors(factory) -> Actors:
    # A CREATOR holds neither SETTINGS_MANAGE nor PURCHASES_READ: the staff without the permission.
    return await make_actors(factory, with_role=OrgRole.OWNER, without_role=OrgRole.CREATOR)


async def test_set_content_revenue_split_matrix(gql, db, admin_db, actors):
    content_id = await item(db, actors.org, actors.staff_without.user_id, ContentStatus.PUBLISHED)
    variables = {"input": {"contentId": gid(content_id), "creatorSharePercent": 60,
                           "contributors": [{"userId": user(actors.staff_without), "sharePercent": 25}]}}
    await assert_authz_matrix(gql, Without(**vars(actors)), SPLIT, variables, path=["setContentRevenueSplit", "content"],
                              allowed={"staff_with_permission"}, snapshot=snapshot(admin_db))
    assert await snapshot(admin_db)() == ([(content_id, actors.staff_without.user_id, 25)], [(content_id, 60)], 1)


async def test_staff_of_another_organization_change_nothing(gql, db, admin_db, actors):
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    before = await snapshot(admin_db)()
    body = (await gql(SPLIT, {"input": {"contentId": gid(content_id), "creatorSharePercent": 1}},
                      actors.other_staff.token))["data"]
    assert body["setContentRevenueSplit"]["errors"][0]["code"] == "NOT_FOUND"
    assert body["setContentRevenueSplit"]["content"] is None
    assert await snapshot(admin_db)() == before
    read = await gql(READ, {"id": gid(content_id)}, actors.other_staff.token)
    assert read["data"]["content"]["revenueSplit"] is None
    assert {e["extensions"]["code"] for e in read["errors"]} == {"FORBIDDEN"}


async def test_revenue_split_read_matrix(gql, db, actors):
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    results = await assert_authz_matrix(gql, actors, READ, {"id": gid(content_id)}, path=["content", "revenueSplit"],
                                        allowed={"staff_with_permission"})
    assert results["staff_with_permission"]["data"]["content"]["revenueSplit"] == {"effectiveCreatorSharePercent": 100}


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"creatorSharePercent": 101}, "INVALID_INPUT", ["input", "creatorSharePercent"]),
    ({"contributors": [{"who": "member", "sharePercent": 60}, {"who": "owner", "sharePercent": 41}]},
     "INVALID_INPUT", ["input", "contributors"]),
    ({"contributors": [{"who": "member", "sharePercent": 0}]}, "INVALID_INPUT", ["input", "contributors", "0",
                                                                                "sharePercent"]),
    ({"contributors": [{"who": "member", "sharePercent": 10}, {"who": "member", "sharePercent": 10}]},
     "INVALID_INPUT", ["input", "contributors", "1", "userId"]),
    ({"contributors": [{"who": "customer", "sharePercent": 10}]}, "NOT_FOUND", ["input", "contributors", "0", "userId"]),
    ({"contributors": [{"who": "not a user", "sharePercent": 10}]}, "NOT_FOUND",
     ["input", "contributors", "0", "userId"]),
    ({"contentId": "foreign"}, "NOT_FOUND", ["input", "contentId"]),
])
async def test_bad_input_is_a_typed_error_that_changes_nothing(gql, db, admin_db, actors, change, code, field):
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    foreign = await item(db, actors.other_org, actors.other_staff.user_id, ContentStatus.PUBLISHED)
    people = {"member": user(actors.staff_without), "owner": user(actors.staff_with), "customer": user(actors.customer),
              "not a user": to_global_id("Content", content_id)}
    variables: dict[str, Any] = {"contentId": gid(content_id)}
    for key, value in change.items():
        if key == "contributors":
            variables[key] = [{"userId": people[c["who"]], "sharePercent": c["sharePercent"]} for c in value]
        elif key == "contentId":
            variables[key] = gid(foreign)
        else:
            variables[key] = value
    before = await snapshot(admin_db)()
    body = (await gql(SPLIT, {"input": variables}, actors.staff_with.token))["data"]
    errors = body["setContentRevenueSplit"]["errors"]
    assert [(e["code"], e["field"]) for e in errors][:1] == [(code, field)], errors
    assert body["setContentRevenueSplit"]["content"] is None
    assert await snapshot(admin_db)() == before


async def test_parallel_replacements_leave_one_whole_split(gql, db, admin_db, actors):
    """Replacements at once: the item's row lock orders them; the result is one of the whole lists, never a mix."""
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    member, owner = actors.staff_without.user_id, actors.staff_with.user_id
    lists = [[(member, 70)], [(member, 40), (owner, 50)], [(owner, 100)], []]
    bodies = await asyncio.gather(*(
        gql.ok(SPLIT, {"input": {"contentId": gid(content_id), "contributors": [
            {"userId": to_global_id("User", who), "sharePercent": percent} for who, percent in shares]}},
            actors.staff_with.token)
        for shares in lists * 3))
    assert all(body["setContentRevenueSplit"]["errors"] == [] for body in bodies), bodies
    final = sorted((row["user_id"], row["share_percent"]) for row in await admin_db.fetch(
        "select user_id, share_percent from content_contributor where content_id = $1", content_id))
    assert final in [sorted(shares) for shares in lists]


async def test_a_replay_changes_nothing_more_and_an_oversized_list_is_refused(gql, db, admin_db, actors):
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    variables = {"input": {"contentId": gid(content_id), "creatorSharePercent": 55,
                           "contributors": [{"userId": user(actors.staff_without), "sharePercent": 20}]}}
    first = await gql.ok(SPLIT, variables, actors.staff_with.token)
    state = await snapshot(admin_db)()
    again = await gql.ok(SPLIT, variables, actors.staff_with.token)
    assert again == first
    assert await snapshot(admin_db)() == state  # the same split, and no second audit entry
    assert state[2] == 1
    many = [{"userId": to_global_id("User", uuid.uuid4()), "sharePercent": 1} for _ in range(21)]
    body = (await gql(SPLIT, {"input": {"contentId": gid(content_id), "contributors": many}},
                      actors.staff_with.token))["data"]["setContentRevenueSplit"]
    assert [(e["code"], e["field"]) for e in body["errors"]] == [("INVALID_INPUT", ["input", "contributors"])]
    assert await snapshot(admin_db)() == state


async def test_a_revoked_session_changes_nothing(gql, db, admin_db, actors):
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    token = actors.staff_with.token
    assert (await gql.ok("mutation { logout(input: {}) { errors { code } } }", {}, token))["logout"]["errors"] == []
    before = await snapshot(admin_db)()
    body = await gql(SPLIT, {"input": {"contentId": gid(content_id), "creatorSharePercent": 5}}, token)
    assert (body["data"] or {}).get("setContentRevenueSplit") is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}
    assert await snapshot(admin_db)() == before
