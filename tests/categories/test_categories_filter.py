"""``Organization.contents(filter: {category})``: the condition is stated once (content/filters.py) in two
forms; both select the same rows as a plain reading of the filter, through the resolvers and the compiled
path alike; a malformed id is a BAD_USER_INPUT error, another organization's category matches nothing."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from codex_graphql.content import access, filters
from codex_graphql.content.models import Content
from codex_graphql.relay import to_global_id
from tests.categories.support import assign, created, make_shelf
from tests.categories.test_categories_reads import resolvers_app, resolvers_gql  # noqa: F401  (fixtures)
from tests.fastpath.test_fastpath_equivalence import compare, compiled_execution_never_fails  # noqa: F401

ORG, OTHER_ORG, STAFF = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
YOGA, RUN, THEIRS = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
LISTING = """query($slug: String!, $filter: ContentFilter) { organization(slug: $slug) {
  contents(first: 50, filter: $filter) { totalCount nodes { id title } } } }"""


@pytest.fixture
async def grid(database_url: str) -> list[dict[str, Any]]:
    """Items of both organizations in every status / listing, each in some of its organization's categories."""
    conn = await asyncpg.connect(database_url)
    rows: list[dict[str, Any]] = []
    try:
        await conn.execute("INSERT INTO user_account (id, email, password_hash, platform_role) "
                           "VALUES ($1, $2, 'x', 'CUSTOMER')", STAFF, f"s-{STAFF.hex[:6]}@example.com")
        for organization_id in (ORG, OTHER_ORG):
            await conn.execute("INSERT INTO organization (id, slug, name) VALUES ($1, $2, 'Org')",
                               organization_id, f"org-{organization_id.hex[:8]}")
        await conn.execute("INSERT INTO category (id, organization_id, name, slug) VALUES ($1, $3, 'Yoga', 'yoga'), "
                           "($2, $3, 'Run', 'run'), ($4, $5, 'Theirs', 'theirs')", YOGA, RUN, ORG, THEIRS, OTHER_ORG)
        sets = {ORG: [(), (YOGA,), (RUN,), (YOGA, RUN)], OTHER_ORG: [(), (THEIRS,)]}
        for organization_id, kind, status, listed in itertools.product(
                (ORG, OTHER_ORG), ("VIDEO", "AUDIO"), ("PUBLISHED", "READY"), (True, False)):
            for categories in sets[organization_id]:
                row = {"id": uuid.uuid4(), "organization_id": organization_id, "kind": kind, "status": status,
                       "listed": listed, "categories": set(categories)}
                rows.append(row)
                await conn.execute(
                    "INSERT INTO content (id, organization_id, creator_id, kind, status, title, storage_key, mime_type, "
                    "original_filename, size_bytes, listed) VALUES ($1, $2, $3, $4, $5, 't', 'k', 'video/mp4', 'f.mp4', "
                    "1, $6)", row["id"], organization_id, STAFF, kind, status, listed)
                for category in categories:
                    await conn.execute("INSERT INTO content_category (content_id, category_id, organization_id) "
                                       "VALUES ($1, $2, $3)", row["id"], category, organization_id)
    finally:
        await conn.close()
    return rows


def expected(rows: list[dict[str, Any]], narrow: filters.CatalogueFilter, staff: bool) -> set[uuid.UUID]:
    return {r["id"] for r in rows if r["organization_id"] == ORG
            and (staff or (r["status"] == "PUBLISHED" and r["listed"]))
            and (narrow.kind is None or r["kind"] == narrow.kind.value)
            and (narrow.category is None or narrow.category in r["categories"])}


async def test_both_forms_select_the_items_of_the_category(database_url: str, grid: list[dict[str, Any]]) -> None:
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    conn = await asyncpg.connect(database_url)
    nonempty = 0
    try:
        async with engine.connect() as session:
            for kind, category, (staff, staff_org) in itertools.product(
                    (None, "AUDIO"), (None, YOGA, RUN, THEIRS, uuid.uuid4()), ((True, ORG), (False, None))):
                narrow = filters.normalize(kind, None, None, None,
                                           to_global_id("Category", category) if category else None)
                assert narrow.category == category
                clause = select(Content.id).where(Content.organization_id == ORG, access.listed_clause(staff),
                                                  *filters.conditions(narrow, staff=staff))
                by_clause = set((await session.execute(clause)).scalars())
                names = ["organization", "staff_org"]

                def param(name: str, names: list[str] = names) -> str:
                    if name not in names:
                        names.append(name)
                    return f"${names.index(name) + 1}"
                values = {"organization": ORG, "staff_org": staff_org, **filters.parameters(narrow)}
                condition = filters.filter_sql("c", param, frozenset(filters.parameters(narrow)), "$2")
                text = (f"SELECT c.id FROM content c WHERE c.organization_id = $1 "  # noqa: S608
                        f"AND {access.listed_sql('c', '$2')} AND {condition}")
                by_text = {row[0] for row in await conn.fetch(text, *[values[name] for name in names])}
                want = expected(grid, narrow, staff)
                assert by_clause == want == by_text, (kind, category, staff)
                nonempty += bool(want)
    finally:
        await conn.close()
        await engine.dispose()
    assert nonempty >= 10


async def test_the_filter_through_both_executors(app, gql, resolvers_gql, db, factory):  # noqa: F811
    shelf = await make_shelf(db, factory)
    token = shelf.owner_token
    yoga = await created(gql, token, "Yoga")
    empty = await created(gql, token, "Empty")
    theirs = await created(gql, shelf.actors.other_staff.token, "Theirs")
    for item in (shelf.published, shelf.draft, shelf.unlisted):
        assert (await assign(gql, token, item, [yoga["id"]]))["errors"] == []
    slug = shelf.actors.org_slug
    viewers = {"anonymous": None, "owner": token, "other": shelf.actors.other_staff.token}
    for who, viewer in viewers.items():
        for category, wanted in ((yoga, {"owner": 3}), (empty, {}), (theirs, {})):
            data = await compare(app, gql, resolvers_gql, LISTING,
                                 {"slug": slug, "filter": {"category": category["id"]}}, viewer)
            contents = data["organization"]["contents"]
            count = wanted.get(who, 1 if category is yoga else 0)  # the published, listed item only
            assert contents["totalCount"] == len(contents["nodes"]) == count, (who, category["name"], contents)
        both = await compare(app, gql, resolvers_gql, LISTING,
                             {"slug": slug, "filter": {"category": yoga["id"], "kind": "AUDIO"}}, viewer)
        assert both["organization"]["contents"]["nodes"] == []
    for executor in (gql, resolvers_gql):
        refused = await executor(LISTING, {"slug": slug, "filter": {"category": shelf.published}})
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["BAD_USER_INPUT"]
        assert refused["data"]["organization"] is None or refused["data"]["organization"]["contents"] is None
