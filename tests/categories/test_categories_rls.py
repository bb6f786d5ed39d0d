"""Row-level security under categories (migration 0021): a statement that forgets the organization filter
still reads no other tenant's private categories or links, and writes none of them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id
from tests.categories.support import assign, created, make_shelf


async def _rows(db, scope: TenantScope, sql: str) -> set[tuple]:  # type: ignore[no-untyped-def]
    async with db.transaction(scope) as session:
        return {tuple(r) for r in (await session.execute(text(sql))).all()}


async def test_unfiltered_reads_and_writes_stay_in_the_tenant(gql, db, factory, admin_db):
    shelf = await make_shelf(db, factory)
    actors, token = shelf.actors, shelf.owner_token
    public = await created(gql, token, "Public")
    drafts = await created(gql, token, "Drafts")
    await created(gql, token, "Empty")
    await assign(gql, token, shelf.published, [public["id"]])
    await assign(gql, token, shelf.draft, [drafts["id"], public["id"]])
    org = actors.org
    public_id, draft_item = decode_id(public["id"], "Category"), decode_id(shelf.draft, "Content")

    # Deliberately no filter: row-level security is all that scopes these statements.
    everything = "select name from category"
    links = "select content_id, category_id from content_category"
    own = TenantScope(user_id=actors.staff_with.user_id, organization_id=org)
    assert {r[0] for r in await _rows(db, own, everything)} >= {"Public", "Drafts", "Empty"}
    assert len(await _rows(db, own, links)) == 3
    for scope in (TenantScope(), TenantScope(user_id=actors.customer.user_id),
                  TenantScope(user_id=actors.other_staff.user_id, organization_id=actors.other_org)):
        # Only the category holding an item the viewer may see; only the links of such items.
        assert {r[0] for r in await _rows(db, scope, everything)} == {"Public"}, scope
        assert await _rows(db, scope, links) == {(decode_id(shelf.published, "Content"), public_id)}, scope

    # Another organization's staff, unfiltered writes: nothing of this organization changes.
    other = TenantScope(user_id=actors.other_staff.user_id, organization_id=actors.other_org)
    before = await admin_db.fetch("select * from category order by id")
    before_links = await admin_db.fetch("select * from content_category order by content_id, category_id")
    async with db.transaction(other) as session:
        assert (await session.execute(text("update category set name = 'Mine'"))).rowcount == 0
        assert (await session.execute(text("delete from content_category"))).rowcount == 0
        assert (await session.execute(text("delete from category"))).rowcount == 0
    assert await admin_db.fetch("select * from category order by id") == before
    assert await admin_db.fetch("select * from content_category order by content_id, category_id") == before_links
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(other) as session:
            await session.execute(text("insert into category (id, organization_id, name, slug) "
                                       "values (:id, :org, 'Planted', 'planted')"), {"id": uuid.uuid4(), "org": org})
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(other) as session:
            await session.execute(text("insert into content_category (content_id, category_id, organization_id) "
                                       "values (:c, :k, :org)"), {"c": draft_item, "k": public_id, "org": org})
    # Even as the table owner, a link cannot join an item to another organization's category.
    theirs = decode_id((await created(gql, actors.other_staff.token, "Theirs"))["id"], "Category")
    with pytest.raises(Exception, match="foreign key"):
        await admin_db.execute("insert into content_category (content_id, category_id, organization_id) "
                               "values ($1, $2, $3)", draft_item, theirs, org)
