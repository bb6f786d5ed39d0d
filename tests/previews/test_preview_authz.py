"""Who may do what with preview links: the authorization matrix of createContentPreviewLink,
revokeContentPreviewLink, Content.previewLinks and node(id:) for a link (anonymous, customer, staff of another
organization, staff without the permission, staff with it: nothing leaked, nothing changed), and creators, who
manage the links of their own items only."""

from __future__ import annotations

from codex_graphql.authz import OrgRole
from tests.previews.support import (
    CREATE,
    LINKS,
    NODE,
    REVOKE,
    create,
    created,
    draft,
    preview,
    revoke,
    state,
)
from tests.support import assert_authz_matrix, make_actors
from tests.support.commerce import insert_content
from tests.support.reviews import without


async def test_mutations_matrix(gql, db, factory, admin_db):
    actors = await make_actors(factory)  # MEMBER: staff without CONTENT_MANAGE
    item = await draft(db, actors.org, actors.staff_with.user_id)
    existing = await created(gql, actors.staff_with.token, item)

    async def snapshot():  # type: ignore[no-untyped-def]
        return await state(admin_db)

    # Staff of another organization hold CONTENT_MANAGE there: naming this organization's item or link is
    # NOT_FOUND (below), never a change.
    matrix = without(actors, "other_org_staff")
    made = await assert_authz_matrix(gql, matrix, CREATE, {"input": {"contentId": item, "expiresInHours": 5}},
                                     path=["createContentPreviewLink", "previewLink"],
                                     allowed={"staff_with_permission"}, snapshot=snapshot)
    token = made["staff_with_permission"]["data"]["createContentPreviewLink"]["token"]
    for name, body in made.items():  # the token is in the answer of the one allowed caller only
        assert (token in str(body)) == (name == "staff_with_permission"), name
    await assert_authz_matrix(gql, matrix, REVOKE, {"input": {"previewLinkId": existing["previewLink"]["id"]}},
                              path=["revokeContentPreviewLink", "previewLink"], allowed={"staff_with_permission"},
                              snapshot=snapshot)
    assert await preview(gql, existing["token"]) is None and await preview(gql, token) is not None

    before = await state(admin_db)
    theirs = actors.other_staff.token
    refused = await create(gql, theirs, item)
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"] and refused["token"] is None
    refused = await revoke(gql, theirs, made["staff_with_permission"]["data"]["createContentPreviewLink"]
                           ["previewLink"]["id"])
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"] and refused["previewLink"] is None
    assert await state(admin_db) == before
    assert await preview(gql, token) is not None


async def test_reading_links_matrix(gql, db, factory, admin_db):
    actors = await make_actors(factory)
    # A published item: every caller sees the item, so the matrix is about its previewLinks field alone.
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Film", 500)
    made = await created(gql, actors.staff_with.token, item)
    link_id, token = made["previewLink"]["id"], made["token"]

    async def snapshot():  # type: ignore[no-untyped-def]
        return await state(admin_db)

    seen = await assert_authz_matrix(gql, actors, LINKS, {"id": item, "all": True}, path=["content", "previewLinks"],
                                     allowed={"staff_with_permission"}, snapshot=snapshot)
    listed = seen["staff_with_permission"]["data"]["content"]["previewLinks"]
    assert [(link["id"], link["url"]) for link in listed] == [(link_id, None)]  # never the token, nor its URL
    for body in seen.values():
        assert token not in str(body)
    for who, person in actors.tokens().items():
        found = (await gql.ok(NODE, {"id": link_id}, person))["node"]
        assert (found is not None) == (who == "staff_with_permission"), who
        assert token not in str(found)


async def test_creators_manage_the_links_of_their_own_items_only(gql, db, factory, admin_db):
    actors = await make_actors(factory)
    creator = await factory.user()
    await factory.member(actors.org, creator, OrgRole.CREATOR)
    theirs = await draft(db, actors.org, creator.user_id, title="Creator's draft")
    owners = await insert_content(db, actors.org, actors.staff_with.user_id, "Owner's film", 500)
    owners_link = await created(gql, actors.staff_with.token, owners)

    before = await state(admin_db)
    refused = await create(gql, creator.token, owners)
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_ALLOWED", ["input", "contentId"])]
    refused = await revoke(gql, creator.token, owners_link["previewLink"]["id"])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_ALLOWED", ["input", "previewLinkId"])]
    body = await gql(LINKS, {"id": owners}, creator.token)
    assert body["data"]["content"]["previewLinks"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert (await gql.ok(NODE, {"id": owners_link["previewLink"]["id"]}, creator.token))["node"] is None
    assert await state(admin_db) == before

    # Their own item: they make, list and revoke its links; the owner (CONTENT_MANAGE_ALL) may too.
    mine = await created(gql, creator.token, theirs)
    listed = (await gql.ok(LINKS, {"id": theirs}, creator.token))["content"]["previewLinks"]
    assert [link["id"] for link in listed] == [mine["previewLink"]["id"]]
    assert (await gql.ok(NODE, {"id": mine["previewLink"]["id"]}, creator.token))["node"]["status"] == "ACTIVE"
    assert (await preview(gql, mine["token"]))["title"] == "Creator's draft"
    assert (await revoke(gql, actors.staff_with.token, mine["previewLink"]["id"]))["errors"] == []
    assert await preview(gql, mine["token"]) is None
