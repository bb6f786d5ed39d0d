"""Who may do what with categories: the authorization matrix of every mutation (anonymous, customer, staff of
another organization, staff without the permission, staff with it: nothing leaked, nothing changed), and who
sees which categories on the organization, on each item and by id."""

from __future__ import annotations

from codex_graphql.authz import OrgRole
from codex_graphql.relay import decode_id
from tests.categories.support import (
    CREATE,
    DELETE,
    ITEM,
    LIST,
    SET,
    UPDATE,
    assign,
    create,
    created,
    make_shelf,
    names,
    state,
)
from tests.support import assert_authz_matrix, make_actors
from tests.support.commerce import insert_content
from tests.support.reviews import entitle, without


async def test_category_mutations_matrix(gql, db, factory, admin_db):
    shelf = await make_shelf(db, factory)
    actors = shelf.actors
    yoga = await created(gql, shelf.owner_token, "Yoga")
    await assign(gql, shelf.owner_token, shelf.published, [yoga["id"]])

    async def snapshot():  # type: ignore[no-untyped-def]
        return await state(admin_db)

    # Staff of another organization hold the permission there: their createCategory lands in their own
    # organization (below), and naming this organization's category is NOT_FOUND (test_categories.py).
    matrix = without(actors, "other_org_staff")
    await assert_authz_matrix(gql, matrix, CREATE, {"input": {"name": "Pilates"}}, path=["createCategory"],
                              allowed={"staff_with_permission"}, snapshot=snapshot)
    await assert_authz_matrix(gql, matrix, UPDATE, {"input": {"categoryId": yoga["id"], "name": "Renamed"}},
                              path=["updateCategory"], allowed={"staff_with_permission"}, snapshot=snapshot)
    assert names((await gql.ok(LIST, {"slug": actors.org_slug}))["organization"]["categories"]) == ["Renamed"]
    await assert_authz_matrix(gql, matrix, DELETE, {"input": {"categoryId": yoga["id"]}}, path=["deleteCategory"],
                              allowed={"staff_with_permission"}, snapshot=snapshot)
    assert await admin_db.fetchval("select count(*) from content_category") == 0
    assert await admin_db.fetchval("select count(*) from content where id = $1",
                                   decode_id(shelf.published, "Content")) == 1  # the item stays

    theirs = await create(gql, actors.other_staff.token, name="Pilates")
    assert theirs["errors"] == []
    row = await admin_db.fetchrow("select organization_id from category where id = $1",
                                  decode_id(theirs["category"]["id"], "Category"))
    assert row["organization_id"] == actors.other_org
    ours = (await gql.ok(LIST, {"slug": actors.org_slug}, shelf.owner_token))["organization"]["categories"]
    assert names(ours) == ["Pilates"]  # the one staff_with_permission created in the matrix


async def test_setting_an_items_categories_matrix(gql, db, factory, admin_db):
    actors = await make_actors(factory)  # MEMBER: staff without CONTENT_MANAGE
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Film", 500)
    yoga = await created(gql, actors.staff_with.token, "Yoga")

    async def snapshot():  # type: ignore[no-untyped-def]
        return await state(admin_db)

    body = await assert_authz_matrix(gql, without(actors, "other_org_staff"), SET,
                                     {"input": {"contentId": item, "categoryIds": [yoga["id"]]}},
                                     path=["updateContent", "content"], allowed={"staff_with_permission"},
                                     snapshot=snapshot)
    assert names(body["staff_with_permission"]["data"]["updateContent"]["content"]["categories"]) == ["Yoga"]
    before = await state(admin_db)
    # Staff of another organization: the item is not theirs to find; nothing changes.
    refused = await assign(gql, actors.other_staff.token, item, [])
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"] and refused["content"] is None
    # A creator manages their own items only.
    creator = await factory.user()
    await factory.member(actors.org, creator, OrgRole.CREATOR)
    refused = await assign(gql, creator.token, item, [])
    assert [e["code"] for e in refused["errors"]] == ["NOT_ALLOWED"]
    assert await state(admin_db) == before


async def test_who_sees_which_categories(gql, db, factory):
    shelf = await make_shelf(db, factory)
    actors, token = shelf.actors, shelf.owner_token
    public, drafts, unlisted, empty = [await created(gql, token, name, position=i) for i, name in
                                       enumerate(("Public", "Drafts", "Unlisted", "Empty"))]
    await assign(gql, token, shelf.published, [public["id"]])
    await assign(gql, token, shelf.draft, [drafts["id"]])
    await assign(gql, token, shelf.unlisted, [unlisted["id"]])
    other = await created(gql, actors.other_staff.token, "Elsewhere")

    staff = {"staff_without_permission", "staff_with_permission"}  # CONTENT_READ: every category
    node = "query($id: ID!) { node(id: $id) { ... on Category { name contentCount } } }"
    for who, person_token in actors.tokens().items():
        listed = (await gql.ok(LIST, {"slug": actors.org_slug}, person_token))["organization"]["categories"]
        if who in staff:
            assert [(c["name"], c["contentCount"]) for c in listed] == [
                ("Public", 1), ("Drafts", 1), ("Unlisted", 1), ("Empty", 0)], who
        else:  # only categories holding a published, listed item; counting those items only
            assert [(c["name"], c["contentCount"]) for c in listed] == [("Public", 1)], who
        # The item's categories come with the item: the draft is staff's only.
        assert names((await gql.ok(ITEM, {"id": shelf.published}, person_token))["content"]["categories"]) == [
            "Public"]
        draft = (await gql.ok(ITEM, {"id": shelf.draft}, person_token))["content"]
        assert (names(draft["categories"]) if draft else None) == (["Drafts"] if who in staff else None), who
        for category, visible in ((public, True), (drafts, who in staff), (empty, who in staff), (other, False)):
            found = (await gql.ok(node, {"id": category["id"]}, person_token))["node"]
            if category is other and who == "other_org_staff":
                visible = True  # their own
            assert (found is not None) == visible, (who, category["name"], found)

    # A customer entitled to the draft sees it, and its categories (not the category in the public list).
    await entitle(db, actors.org, decode_id(shelf.draft, "Content"), actors.customer)
    draft = (await gql.ok(ITEM, {"id": shelf.draft}, actors.customer.token))["content"]
    assert names(draft["categories"]) == ["Drafts"]
    listed = (await gql.ok(LIST, {"slug": actors.org_slug}, actors.customer.token))["organization"]["categories"]
    assert names(listed) == ["Public"]
