"""Categories: create, update and delete them; set an item's categories with updateContent; list them on
the organization (public: those holding a listed item; staff: all) and on each item; typed refusals that
change nothing."""

from __future__ import annotations

import asyncio
import uuid

from codex_graphql.categories import rules
from codex_graphql.relay import decode_id, to_global_id
from tests.categories.support import (
    DELETE,
    ITEM,
    LIST,
    UPDATE,
    assign,
    create,
    created,
    make_shelf,
    names,
    state,
)


async def test_create_update_delete_and_the_payload_shows_the_state_after(gql, db, factory, admin_db):
    shelf = await make_shelf(db, factory)
    token = shelf.owner_token
    yoga = await created(gql, token, "  Yoga   Basics ", description="Stretch.", position=2)
    assert {k: yoga[k] for k in ("name", "slug", "description", "position", "contentCount")} == {
        "name": "Yoga Basics", "slug": "yoga-basics", "description": "Stretch.", "position": 2, "contentCount": 0}
    cafe = await created(gql, token, "Café Été", slug="Cafe", position=1)
    assert cafe["slug"] == "cafe"
    derived = await created(gql, token, "Crème brûlée!")
    assert derived["slug"] == "creme-brulee"

    listed = (await gql.ok(LIST, {"slug": shelf.actors.org_slug}, token))["organization"]["categories"]
    assert names(listed) == ["Crème brûlée!", "Café Été", "Yoga Basics"]  # position, then name

    updated = (await gql.ok(UPDATE, {"input": {"categoryId": yoga["id"], "name": "Yoga", "slug": "yoga",
                                               "position": 0}}, token))["updateCategory"]["category"]
    assert {k: updated[k] for k in ("id", "name", "slug", "description", "position")} == {
        "id": yoga["id"], "name": "Yoga", "slug": "yoga", "description": "Stretch.", "position": 0}
    row = await admin_db.fetchrow("select name, slug, position from category where id = $1",
                                  decode_id(yoga["id"], "Category"))
    assert tuple(row) == ("Yoga", "yoga", 0)

    linked = await assign(gql, token, shelf.published, [yoga["id"], cafe["id"]])
    assert linked["errors"] == [] and names(linked["content"]["categories"]) == ["Yoga", "Café Été"]
    deleted = (await gql.ok(DELETE, {"input": {"categoryId": cafe["id"]}}, token))["deleteCategory"]
    assert deleted["deletedCategoryId"] == cafe["id"]
    # The item stays, out of the deleted category; the other link stays.
    item = (await gql.ok(ITEM, {"id": shelf.published}))["content"]
    assert item["id"] == shelf.published and names(item["categories"]) == ["Yoga"]
    assert await admin_db.fetchval("select count(*) from category where id = $1",
                                   decode_id(cafe["id"], "Category")) == 0
    assert await admin_db.fetchval("select count(*) from content_category") == 1


async def test_update_content_replaces_the_set_and_refuses_foreign_or_unknown_ids(gql, db, factory, admin_db):
    shelf = await make_shelf(db, factory)
    token = shelf.owner_token
    a, b, c = [await created(gql, token, name) for name in ("A", "B", "C")]
    first = await assign(gql, token, shelf.published, [a["id"], b["id"], a["id"]])  # duplicates count once
    assert first["errors"] == [] and names(first["content"]["categories"]) == ["A", "B"]
    second = await assign(gql, token, shelf.published, [c["id"], b["id"]])
    assert names(second["content"]["categories"]) == ["B", "C"]

    other = await created(gql, shelf.actors.other_staff.token, "Theirs")
    before = await state(admin_db)
    for ids in ([a["id"], other["id"]], [to_global_id("Category", uuid.uuid4())], ["not-an-id"],
                [shelf.published]):  # another organization's, unknown, malformed, another type's
        refused = (await gql(
            "mutation($input: UpdateContentInput!) { updateContent(input: $input) { errors { code field } "
            "content { id } } }", {"input": {"contentId": shelf.published, "title": "Renamed", "categoryIds": ids}},
            token))["data"]["updateContent"]
        assert refused == {"errors": [{"code": "NOT_FOUND", "field": ["input", "categoryIds"]}], "content": None}
        assert await state(admin_db) == before
    assert await admin_db.fetchval("select title from content where id = $1",
                                   decode_id(shelf.published, "Content")) == "Published film"  # nothing changed

    extra = [(await created(gql, token, f"Extra {i}"))["id"] for i in range(20)]
    too_many = await assign(gql, token, shelf.published, [a["id"], *extra])
    assert [(e["code"], e["field"]) for e in too_many["errors"]] == [("INVALID_INPUT", ["input", "categoryIds"])]

    cleared = await assign(gql, token, shelf.published, [])
    assert cleared["errors"] == [] and cleared["content"]["categories"] == []

    # A deleted item is not found: nothing to set.
    await admin_db.execute("update content set deleted_at = now() where id = $1", decode_id(shelf.draft, "Content"))
    gone = await assign(gql, token, shelf.draft, [a["id"]])
    assert [(e["code"], e["field"]) for e in gone["errors"]] == [("NOT_FOUND", ["input", "contentId"])]
    assert await admin_db.fetchval("select count(*) from content_category where content_id = $1",
                                   decode_id(shelf.draft, "Content")) == 0


async def test_bad_input_is_refused_with_typed_errors_and_changes_nothing(gql, db, factory, admin_db):
    shelf = await make_shelf(db, factory)
    token = shelf.owner_token
    yoga = await created(gql, token, "Yoga")
    before = await state(admin_db)
    cases = [
        ({"name": ""}, "INVALID_INPUT", ["input", "name"]),
        ({"name": "   "}, "INVALID_INPUT", ["input", "name"]),
        ({"name": "x" * 81}, "INVALID_INPUT", ["input", "name"]),
        ({"name": "Fine", "slug": "Not a slug!"}, "INVALID_INPUT", ["input", "slug"]),
        ({"name": "Fine", "slug": "x" * 81}, "INVALID_INPUT", ["input", "slug"]),
        ({"name": "!!!"}, "INVALID_INPUT", ["input", "slug"]),  # no slug can be derived
        ({"name": "Fine", "description": "d" * 2001}, "INVALID_INPUT", ["input", "description"]),
        ({"name": "Fine", "position": -1}, "INVALID_INPUT", ["input", "position"]),
        ({"name": "Yoga"}, "ALREADY_EXISTS", ["input", "slug"]),  # the derived slug is taken
        ({"name": "Other", "slug": "yoga"}, "ALREADY_EXISTS", ["input", "slug"]),
    ]
    for fields, code, field in cases:
        result = await create(gql, token, **fields)
        assert result["category"] is None, (fields, result)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], (fields, result)
        assert await state(admin_db) == before

    pilates = await created(gql, token, "Pilates")
    before = await state(admin_db)
    for fields, code, field in [
        ({"categoryId": pilates["id"], "slug": "yoga"}, "ALREADY_EXISTS", ["input", "slug"]),
        ({"categoryId": pilates["id"], "name": ""}, "INVALID_INPUT", ["input", "name"]),
        ({"categoryId": pilates["id"], "position": 10_001}, "INVALID_INPUT", ["input", "position"]),
        ({"categoryId": to_global_id("Category", uuid.uuid4()), "name": "X"}, "NOT_FOUND", ["input", "categoryId"]),
        ({"categoryId": "garbage", "name": "X"}, "NOT_FOUND", ["input", "categoryId"]),
    ]:
        result = (await gql(UPDATE, {"input": fields}, token))["data"]["updateCategory"]
        assert result["category"] is None and [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)]
        assert await state(admin_db) == before
    # The same slug on the same category is no conflict; another organization may use it too.
    same = (await gql.ok(UPDATE, {"input": {"categoryId": yoga["id"], "slug": "yoga"}}, token))["updateCategory"]
    assert same["category"]["slug"] == "yoga"
    assert (await created(gql, shelf.actors.other_staff.token, "Yoga"))["slug"] == "yoga"

    # Another organization's category: NOT_FOUND for its staff, whatever the mutation, and nothing changes.
    before = await state(admin_db)
    other = shelf.actors.other_staff.token
    refused = (await gql(UPDATE, {"input": {"categoryId": yoga["id"], "name": "Mine"}}, other))["data"]
    assert [e["code"] for e in refused["updateCategory"]["errors"]] == ["NOT_FOUND"]
    refused = (await gql(DELETE, {"input": {"categoryId": yoga["id"]}}, other))["data"]
    assert [e["code"] for e in refused["deleteCategory"]["errors"]] == ["NOT_FOUND"]
    assert await state(admin_db) == before


async def test_concurrent_twins_and_the_cap_per_organization(gql, db, factory, admin_db):
    shelf = await make_shelf(db, factory)
    token, org = shelf.owner_token, shelf.actors.org
    # Two creations of the same slug at once: one category, the other a typed error (never a 500).
    results = await asyncio.gather(*(create(gql, token, name="Twin") for _ in range(2)))
    assert sorted(bool(r["category"]) for r in results) == [False, True], results
    assert [e["code"] for r in results for e in r["errors"]] == ["ALREADY_EXISTS"]
    assert await admin_db.fetchval("select count(*) from category where organization_id = $1", org) == 1

    await admin_db.executemany("insert into category (id, organization_id, name, slug) values ($1, $2, $3, $3)",
                               [(uuid.uuid4(), org, f"c{n}") for n in range(rules.MAX_CATEGORIES - 2)])
    assert (await create(gql, token, name="The last one"))["errors"] == []
    refused = await create(gql, token, name="One too many")
    assert refused["category"] is None and [e["code"] for e in refused["errors"]] == ["NOT_ALLOWED"]
    assert await admin_db.fetchval("select count(*) from category where organization_id = $1",
                                   org) == rules.MAX_CATEGORIES
