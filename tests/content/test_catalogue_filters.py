"""content.filters states the catalogue filter in two forms (SQLAlchemy conditions for the repository, SQL
text over named parameters for the compiled statement); this runs both, under the listing rule, on a grid
of rows x filters x viewers and requires the same rows, and the rows a plain reading of the filter expects
(so the two forms cannot agree on a wrong answer)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from graphql import GraphQLError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from codex_graphql.content import access, filters
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from tests.conftest import module_database

database_url = module_database("catalogue_filters")

ORG, OTHER_ORG, STAFF = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
TEXTS = [("Foo bar", ""), ("plain", "50% off"), ("plain", "500 off"), ("a_b", ""), ("axb", ""),
         ("x", "back\\slash"), ("x", "backslash"), ("Ünïcode FOO", "tail")]
TAGS = [[], ["a"], ["a", "b-c"], ["b-c"]]
STATUSES = [ContentStatus.PUBLISHED, ContentStatus.READY, ContentStatus.FAILED]
# (kind, tag, search, status) as a client sends them; normalized by filters.normalize.
FILTERS = list(itertools.product(
    [None, "VIDEO", ContentKind.AUDIO],
    [None, "A", "b c", "  ", "zzz"],
    [None, "foo", "50%", "a_b", "back\\slash", "  FOO  ", "%", "nothing-like-it"],
    [None, "PUBLISHED", ContentStatus.READY],
))
# staff: whether the viewer is staff of ORG (the repository's flag); the SQL form's staff organization.
VIEWERS = {"staff": (True, ORG), "customer": (False, None), "staff_elsewhere": (False, OTHER_ORG)}


@pytest.fixture(scope="module")
async def items(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    rows: list[dict[str, Any]] = []
    try:
        await conn.execute("INSERT INTO user_account (id, email, password_hash, platform_role) "
                           "VALUES ($1, $2, 'x', 'CUSTOMER')", STAFF, f"s-{STAFF.hex[:6]}@example.com")
        for organization_id in (ORG, OTHER_ORG):
            await conn.execute("INSERT INTO organization (id, slug, name) VALUES ($1, $2, 'Org')",
                               organization_id, f"org-{organization_id.hex[:8]}")
        grid = itertools.product((ORG, OTHER_ORG), list(ContentKind), TAGS, TEXTS, STATUSES, (True, False),
                                 (True, False))
        for organization_id, kind, tags, (title, description), status, listed, deleted in grid:
            rows.append({"id": uuid.uuid4(), "organization_id": organization_id, "kind": kind, "tags": tags,
                         "title": title, "description": description, "status": status, "listed": listed,
                         "deleted": deleted})
        await conn.executemany(
            "INSERT INTO content (id, organization_id, creator_id, kind, status, title, description, tags, "
            "storage_key, mime_type, original_filename, size_bytes, listed, deleted_at) VALUES ($1, $2, $3, $4, $5, "
            "$6, $7, $8, 'k', 'video/mp4', 'f.mp4', 1, $9, $10)",
            [(r["id"], r["organization_id"], STAFF, r["kind"].value, r["status"].value, r["title"], r["description"],
              r["tags"], r["listed"], datetime.now(UTC) if r["deleted"] else None) for r in rows])
    finally:
        await conn.close()
    return rows


def expected(rows: list[dict[str, Any]], narrow: filters.CatalogueFilter, staff: bool) -> set[uuid.UUID]:
    """The filter read plainly: ORG's listed rows of that kind, carrying that tag, with the words in the
    title or description (any case), of that status when the viewer is staff."""
    found = set()
    for r in rows:
        if r["organization_id"] != ORG or r["deleted"]:
            continue
        if not staff and (r["status"] != ContentStatus.PUBLISHED or not r["listed"]):
            continue
        if staff and narrow.status is not None and r["status"] != narrow.status:
            continue
        if narrow.kind is not None and r["kind"] != narrow.kind:
            continue
        if narrow.tag is not None and narrow.tag not in r["tags"]:
            continue
        words = (narrow.search or "").lower()
        if words and words not in r["title"].lower() and words not in r["description"].lower():
            continue
        found.add(r["id"])
    return found


async def test_both_forms_select_the_same_rows_for_every_filter_and_viewer(
        database_url: str, items: list[dict[str, Any]]) -> None:
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    conn = await asyncpg.connect(database_url)
    nonempty = 0
    try:
        async with engine.connect() as session:
            for (kind, tag, search, status), (who, (staff, staff_org)) in itertools.product(FILTERS, VIEWERS.items()):
                narrow = filters.normalize(kind, tag, search, status)
                clause = select(Content.id).where(Content.organization_id == ORG, access.listed_clause(staff),
                                                  *filters.conditions(narrow, staff=staff))
                by_clause = set((await session.execute(clause)).scalars())

                names: list[str] = ["organization", "staff_org"]

                def param(name: str, names: list[str] = names) -> str:
                    if name not in names:
                        names.append(name)
                    return f"${names.index(name) + 1}"
                values = {"organization": ORG, "staff_org": staff_org, **filters.parameters(narrow)}
                condition = filters.filter_sql("c", param, frozenset(filters.parameters(narrow)), "$2")
                text = (f"SELECT c.id FROM content c WHERE c.organization_id = $1 "  # noqa: S608
                        f"AND {access.listed_sql('c', '$2')} AND {condition}")
                by_text = {row[0] for row in await conn.fetch(text, *[values[name] for name in names])}

                want = expected(items, narrow, staff)
                assert by_clause == want, (who, kind, tag, search, status)
                assert by_text == want, (who, kind, tag, search, status, text)
                nonempty += bool(want)
    finally:
        await conn.close()
        await engine.dispose()
    assert nonempty > len(FILTERS)  # the grid is not vacuous: most combinations select something


def test_normalizing_reads_the_argument_as_the_catalogue_applies_it() -> None:
    assert filters.normalize(None, None, None, None) == filters.CatalogueFilter()
    assert filters.normalize("VIDEO", "  Big Cats ", "  words  ", "READY") == filters.CatalogueFilter(
        ContentKind.VIDEO, "big-cats", "words", ContentStatus.READY)
    assert filters.normalize(None, "---", "   ", None) == filters.CatalogueFilter()  # empty: no condition
    assert filters.normalize(None, None, "x" * 300, None).search == "x" * 200
    with pytest.raises(GraphQLError) as error:
        filters.normalize(None, "no/slashes", None, None)
    assert error.value.extensions == {"code": "BAD_USER_INPUT"}
    assert str(error.value).startswith("Invalid tag filter: ")
    assert filters.parameters(filters.normalize(None, None, "50%_\\", None)) == {filters.WORDS: "%50\\%\\_\\\\%"}
