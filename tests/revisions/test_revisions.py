"""Content revisions (issue 16 item 4): every change of title, description, price, tags, categories or body writes
one revision (who, when, what), listed newest first for staff; restoring puts an earlier state back as a new
change, never rewriting past purchases; refused restores change nothing; the history is append-only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.authz import OrgRole
from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id
from tests.articles.test_articles import CREATE, doc, paragraph
from tests.articles.test_articles import text as text_node
from tests.support import assert_authz_matrix, make_actors
from tests.support import commerce as commerce_support
from tests.support.content import PUBLISH

shop = commerce_support.shop

UPDATE = """mutation($input: UpdateContentInput!) { updateContent(input: $input) {
  errors { code field message } content { id title priceCents } } }"""
REVISIONS = """query($id: ID!, $first: Int, $after: String) { content(id: $id) { revisions(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  nodes { id createdAt changedFields title description priceCents currency tags categoryIds bodyDocument
          restoredFromId actor { name } } } } }"""
RESTORE = """mutation($input: RestoreContentRevisionInput!) { restoreContentRevision(input: $input) {
  errors { code field message } content { id title priceCents body } revision { id changedFields restoredFromId } } }"""
CATEGORY = """mutation($input: CreateCategoryInput!) { createCategory(input: $input) { errors { code } category { id } } }"""
PURCHASES = "query { viewer { purchases { nodes { amountCents content { id } } } } }"


async def _revisions(gql: Any, token: str, content_id: str, **page: Any) -> dict[str, Any]:
    return (await gql.ok(REVISIONS, {"id": content_id, **page}, token))["content"]["revisions"]


async def _update(gql: Any, token: str, content_id: str, **fields: Any) -> dict[str, Any]:
    return (await gql.ok(UPDATE, {"input": {"contentId": content_id, **fields}}, token))["updateContent"]


async def test_each_change_writes_one_revision_and_a_restore_puts_it_back(shop, admin_db):
    owner = shop.owner.token
    created = (await shop.gql.ok(CREATE, {"input": {"title": "Draft one", "priceCents": 500,
                                                    "body": doc(paragraph(text_node("First words.")))}},
                                 owner))["createArticle"]["content"]
    article = created["id"]
    [first] = (await _revisions(shop.gql, owner, article))["nodes"]
    assert first["changedFields"] == ["TITLE", "DESCRIPTION", "PRICE", "TAGS", "CATEGORIES", "BODY"]
    assert (first["title"], first["priceCents"]) == ("Draft one", 500)
    assert first["actor"]["name"] == await admin_db.fetchval("select name from user_account where id = $1",
                                                             shop.owner.user_id)
    assert first["bodyDocument"]["content"][0]["content"][0]["text"] == "First words."

    category = (await shop.gql.ok(CATEGORY, {"input": {"name": "Breath"}}, owner))["createCategory"]["category"]["id"]
    await _update(shop.gql, owner, article, title="Final title", priceCents=900)
    await _update(shop.gql, owner, article, body=doc(paragraph(text_node("Second words."))), categoryIds=[category])
    await _update(shop.gql, owner, article, title="Final title", priceCents=900)  # nothing changes: no revision
    page = await _revisions(shop.gql, owner, article, first=2)
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    assert [r["changedFields"] for r in page["nodes"]] == [["CATEGORIES", "BODY"], ["TITLE", "PRICE"]]
    assert page["nodes"][0]["categoryIds"] == [category] and page["nodes"][1]["bodyDocument"] is None
    rest = await _revisions(shop.gql, owner, article, first=2, after=page["pageInfo"]["endCursor"])
    assert [r["id"] for r in rest["nodes"]] == [first["id"]] and rest["pageInfo"]["hasNextPage"] is False

    # Someone buys at 900; restoring the first revision brings 500 back for new buyers only.
    await shop.gql.ok(PUBLISH, {"id": article}, owner)
    reader = await shop.factory.user(name="Buyer")
    await shop.buy(reader, article)
    restored = (await shop.gql.ok(RESTORE, {"input": {"contentId": article, "revisionId": first["id"]}},
                                  owner))["restoreContentRevision"]
    assert restored["content"]["title"] == "Draft one" and restored["content"]["priceCents"] == 500
    assert restored["content"]["body"] == "<p>First words.</p>"
    assert restored["revision"]["restoredFromId"] == first["id"]
    assert set(restored["revision"]["changedFields"]) == {"TITLE", "PRICE", "CATEGORIES", "BODY"}
    bought = (await shop.gql.ok(PURCHASES, {}, reader.token))["viewer"]["purchases"]["nodes"]
    assert [(p["amountCents"], p["content"]["id"]) for p in bought] == [(900, article)]
    again = (await shop.gql.ok(RESTORE, {"input": {"contentId": article, "revisionId": first["id"]}},
                               owner))["restoreContentRevision"]
    assert again["revision"] is None  # already in that state
    assert (await _revisions(shop.gql, owner, article))["totalCount"] == 4


async def test_a_restore_of_another_items_revision_changes_nothing(shop, admin_db):
    owner = shop.owner.token
    one = (await shop.gql.ok(CREATE, {"input": {"title": "One", "body": doc(paragraph(text_node("a")))}},
                             owner))["createArticle"]["content"]["id"]
    two = (await shop.gql.ok(CREATE, {"input": {"title": "Two", "body": doc(paragraph(text_node("b")))}},
                             owner))["createArticle"]["content"]["id"]
    [of_one] = (await _revisions(shop.gql, owner, one))["nodes"]
    before = await admin_db.fetch("select * from content_revision order by id")
    for revision_id in (of_one["id"], "Q29udGVudFJldmlzaW9uOm5vcGU", "not-an-id", one):
        body = await shop.gql(RESTORE, {"input": {"contentId": two, "revisionId": revision_id}}, owner)
        assert "errors" not in body, (revision_id, body)
        answer = body["data"]["restoreContentRevision"]
        assert [(e["code"], e["field"]) for e in answer["errors"]] == [("NOT_FOUND", ["input", "revisionId"])]
    assert await admin_db.fetch("select * from content_revision order by id") == before
    assert await admin_db.fetchval("select title from content where id = $1", decode_id(two, "Content")) == "Two"


async def test_revisions_and_restore_by_every_caller(factory, gql, admin_db):
    actors = await make_actors(factory, without_role=OrgRole.MEMBER)  # MEMBER: CONTENT_READ, not CONTENT_MANAGE
    created = (await gql.ok(CREATE, {"input": {"title": "Secret draft", "body": doc(paragraph(text_node("x")))}},
                            actors.staff_with.token))["createArticle"]["content"]["id"]
    await gql.ok(PUBLISH, {"id": created}, actors.staff_with.token)  # visible to all: only the history is not
    results = await assert_authz_matrix(gql, actors, REVISIONS, {"id": created}, path=["content", "revisions"],
                                        allowed={"staff_with_permission", "staff_without_permission"})
    assert "Secret" not in str(results["customer"]) and "Secret" not in str(results["other_org_staff"])
    [revision] = results["staff_with_permission"]["data"]["content"]["revisions"]["nodes"]
    snapshot = lambda: admin_db.fetch("select * from content_revision order by id")  # noqa: E731
    variables = {"input": {"contentId": created, "revisionId": revision["id"]}}
    for name, token in actors.tokens().items():
        before = await snapshot()
        body = await gql(RESTORE, variables, token)
        if name == "staff_with_permission":
            assert body["data"]["restoreContentRevision"]["errors"] == []
        elif name == "other_org_staff":  # not their organization's item
            assert [e["code"] for e in body["data"]["restoreContentRevision"]["errors"]] == ["NOT_FOUND"]
        else:
            assert {e["extensions"]["code"] for e in body["errors"]} == {
                "UNAUTHENTICATED" if token is None else "FORBIDDEN"}, name
        assert await snapshot() == before, name


async def test_the_history_is_append_only_for_the_api_role(shop, db):
    created = (await shop.gql.ok(CREATE, {"input": {"title": "Kept", "body": doc(paragraph(text_node("x")))}},
                                 shop.owner.token))["createArticle"]["content"]["id"]
    assert created
    for statement in ("update content_revision set snapshot = '{}'", "delete from content_revision"):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.transaction(TenantScope(organization_id=shop.org)) as session:
                await session.execute(text(statement))
