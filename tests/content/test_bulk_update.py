"""bulkUpdateContent (issue 16 item 6): one change for up to 500 items, each on its own (a refused item is
reported and rolled back alone), one revision per changed item, one audit entry with the list; a bad list
changes nothing."""

from __future__ import annotations

from typing import Any

from codex_graphql.authz import OrgRole
from codex_graphql.relay import decode_id, to_global_id
from tests.articles.test_articles import CREATE, doc, paragraph, text
from tests.support import commerce as commerce_support
from tests.support import make_actors

shop = commerce_support.shop

BULK = """mutation($input: BulkUpdateContentInput!) { bulkUpdateContent(input: $input) {
  errors { code field message } updatedCount
  results { contentId errors { code field message } content { id status priceCents tags listed } } } }"""
REVISIONS = "query($id: ID!) { content(id: $id) { revisions { totalCount nodes { changedFields } } } }"


async def _article(gql: Any, token: str, title: str) -> str:
    created = await gql.ok(CREATE, {"input": {"title": title, "body": doc(paragraph(text(title)))}}, token)
    return created["createArticle"]["content"]["id"]


async def _state(admin_db: Any) -> list[tuple[Any, ...]]:
    rows = await admin_db.fetch("select id, status, price_cents, tags, listed from content order by id")
    return [tuple(r) for r in rows]


async def test_each_item_on_its_own_one_revision_each_one_audit_entry(shop, admin_db):
    owner = shop.owner.token
    one, two = await _article(shop.gql, owner, "One"), await _article(shop.gql, owner, "Two")
    ids = [one, two, shop.paid, one]  # the film is already published: publishing it again is refused
    answer = (await shop.gql.ok(BULK, {"input": {"contentIds": ids, "publish": True, "set": {
        "tags": ["Spring Sale"], "priceCents": 250, "listed": True}}}, owner))["bulkUpdateContent"]
    assert answer["updatedCount"] == 2
    assert [r["contentId"] for r in answer["results"]] == [one, two, shop.paid]
    assert [(r["content"]["status"], r["content"]["priceCents"], r["content"]["tags"])
            for r in answer["results"][:2]] == [("PUBLISHED", 250, ["spring-sale"])] * 2
    [refused] = answer["results"][2]["errors"]
    assert (refused["code"], refused["field"]) == ("INVALID_STATE", ["input", "contentIds", "2"])
    film = await admin_db.fetchrow("select price_cents, tags from content where id = $1", decode_id(shop.paid, "Content"))
    assert (film["price_cents"], film["tags"]) == (1999, [])  # its savepoint rolled back the price and tags too
    revisions = (await shop.gql.ok(REVISIONS, {"id": one}, owner))["content"]["revisions"]
    assert revisions["totalCount"] == 2 and revisions["nodes"][0]["changedFields"] == ["PRICE", "TAGS"]
    [entry] = await admin_db.fetch("select after from audit_log_entry where action = 'CONTENT_BULK_UPDATED'")
    assert '"priceCents": 250' in entry["after"] and str(decode_id(one, "Content")) in entry["after"]

    answer = (await shop.gql.ok(BULK, {"input": {"contentIds": [one, two], "unpublish": True}},
                                owner))["bulkUpdateContent"]
    assert [r["content"]["status"] for r in answer["results"]] == ["READY", "READY"]


async def test_a_bad_list_changes_nothing_and_foreign_items_are_refused_one_by_one(shop, factory, admin_db):
    owner = shop.owner.token
    mine = await _article(shop.gql, owner, "Mine")
    stranger = await factory.user()
    await factory.organization(stranger, slug="elsewhere")
    theirs = await _article(shop.gql, stranger.token, "Theirs")
    before = await _state(admin_db)
    bad = {
        "empty list": {"contentIds": [], "set": {"listed": False}},
        "too many": {"contentIds": [mine] + [to_global_id("Content", f"00000000-0000-0000-0000-{i:012d}")
                                             for i in range(500)], "set": {"listed": False}},
        "both ways": {"contentIds": [mine], "publish": True, "unpublish": True},
        "no change": {"contentIds": [mine]},
        "negative price": {"contentIds": [mine], "set": {"priceCents": -5}},
    }
    for name, variables in bad.items():
        answer = (await shop.gql(BULK, {"input": variables}, owner))["data"]["bulkUpdateContent"]
        if name == "negative price":  # an item-level check: reported on the item
            assert [e["code"] for e in answer["results"][0]["errors"]] == ["INVALID_INPUT"], answer
        else:
            assert answer["results"] is None and [e["code"] for e in answer["errors"]] == ["INVALID_INPUT"], name
    assert await _state(admin_db) == before
    answer = (await shop.gql.ok(BULK, {"input": {"contentIds": [theirs, "garbage", mine],
                                                 "set": {"listed": False}}}, owner))["bulkUpdateContent"]
    assert [[e["code"] for e in r["errors"]] for r in answer["results"]] == [["NOT_FOUND"], ["NOT_FOUND"], []]
    assert await admin_db.fetchval("select listed from content where id = $1", decode_id(theirs, "Content")) is True
    assert await admin_db.fetchval("select listed from content where id = $1", decode_id(mine, "Content")) is False


async def test_bulk_update_by_every_caller(factory, gql, admin_db):
    actors = await make_actors(factory, without_role=OrgRole.MEMBER)  # MEMBER: no CONTENT_MANAGE
    item = await _article(gql, actors.staff_with.token, "Matrix")
    variables = {"input": {"contentIds": [item], "set": {"priceCents": 1}}}
    for name, token in actors.tokens().items():
        before = await _state(admin_db)
        body = await gql(BULK, variables, token)
        if name == "staff_with_permission":
            assert body["data"]["bulkUpdateContent"]["updatedCount"] == 1
            continue
        if name == "other_org_staff":  # the item is not in their organization
            codes = [e["code"] for e in body["data"]["bulkUpdateContent"]["results"][0]["errors"]]
            assert codes == ["NOT_FOUND"], body
        else:
            assert {e["extensions"]["code"] for e in body["errors"]} == {
                "UNAUTHENTICATED" if token is None else "FORBIDDEN"} and body["data"] is None, name
        assert await _state(admin_db) == before, name


async def test_a_creator_changes_only_their_own_items(shop, admin_db):
    mine = await _article(shop.gql, shop.creator.token, "By the creator")
    owners = await _article(shop.gql, shop.owner.token, "By the owner")
    answer = (await shop.gql.ok(BULK, {"input": {"contentIds": [mine, owners], "set": {"listed": False}}},
                                shop.creator.token))["bulkUpdateContent"]
    assert [[e["code"] for e in r["errors"]] for r in answer["results"]] == [[], ["NOT_ALLOWED"]]
    assert await admin_db.fetchval("select listed from content where id = $1", decode_id(owners, "Content")) is True
