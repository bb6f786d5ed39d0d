"""Organization.search with bad and hostile queries: empty, too long or control-only queries are BAD_USER_INPUT
errors; tsquery syntax, quotes, backslashes, SQL, markup and any Unicode are only characters (never a 500);
nothing changes either way. The query normalization on its own, and the plans: the public search and its typo
fallback are answered from their indexes under the API role and row-level security."""

from __future__ import annotations

from typing import Any

import pytest

from codex_graphql.content.filters import CatalogueFilter
from codex_graphql.db import TenantScope, driver_connection
from codex_graphql.search import repository, service
from tests.search.support import insert

QUERY = """query($q: String!) { organization(slug: "shop") { search(query: $q) {
  totalCount edges { node { headline content { title } } } } } }"""

BAD = ["", "   ", "\t\n\r", "\x01\x02\x7f", "\u200b\u200e", "a" * 201, " ".join(["word"] * 41), "y" * 10_000,
       "yoga " + "\u0007" * 900]
HOSTILE = [
    "yoga & pilates | !core", "yoga <-> flow", "yog:*", "'yoga'", "\"yoga", "yoga\"\"\"", "\\", "yoga\\", "\\\\'",
    "'); DROP TABLE content; --", "%", "_", "*", "!", "&", "|", "()", "(yoga", ":", ":*", "<->", "<2>", "-", "- -yoga",
    "or", "or or", "yoga or", "\"\"", "<script>alert(1)</script>", "ÿøgå", "瑜伽", "🧘 yoga", "\u0301yoga",
    "yoga\u00a0flow", "\ue000yoga\ue001", "a" * 200, "x " * 99,
]


async def _state(admin_db: Any) -> tuple[Any, ...]:
    return tuple([await admin_db.fetchval(f"select md5(string_agg(t::text, ',' order by t::text)) from {table} t")
                  for table in ("content", "content_search_public", "content_search_staff")])


async def test_empty_and_oversized_queries_are_bad_user_input(db, gql, admin_db, shop):
    await insert(db, shop["org"], shop["owner"].user_id, [{"title": "Yoga"}])
    before = await _state(admin_db)
    for token in (None, shop["owner"].token):
        for query in BAD:
            body = await gql(QUERY, {"q": query}, token)
            assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (query[:20], body)
            assert body["data"] == {"organization": None}
    nul = await gql(QUERY, {"q": "yoga\x00"})
    assert nul["errors"] and nul["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")
    assert await _state(admin_db) == before


async def test_hostile_queries_are_only_characters(db, gql, admin_db, shop):
    await insert(db, shop["org"], shop["owner"].user_id, [{"title": "Yoga flow", "description": "Core & pilates."}])
    before = await _state(admin_db)
    for token in (None, shop["owner"].token):
        for query in HOSTILE:
            body = await gql(QUERY, {"q": query}, token)
            assert "errors" not in body, (query, body)
            hits = body["data"]["organization"]["search"]
            assert hits["totalCount"] == len(hits["edges"]), query
    # The operators were not operators: "yoga & pilates | !core" is three words (two of which are in the item).
    assert (await gql(QUERY, {"q": "yoga & pilates | !core"}))["data"]["organization"]["search"]["totalCount"] == 1
    assert (await gql(QUERY, {"q": "yoga & zebra"}))["data"]["organization"]["search"]["totalCount"] == 0
    assert await _state(admin_db) == before


def test_normalize_query():
    assert service.normalize_query("  Yoga\t\n flow\x00\u200b ") == "Yoga flow"
    assert service.normalize_query("a" * 200) == "a" * 200
    assert service.normalize_query("\ue000x\ue001") == "x"  # private-use characters (the snippet markers) go
    for bad in BAD:
        with pytest.raises(Exception) as raised:
            service.normalize_query(bad)
        assert raised.value.extensions == {"code": "BAD_USER_INPUT"}  # type: ignore[attr-defined]


def test_typo_tolerance_is_for_short_plain_queries():
    assert service.typo_tolerant("yogaa")
    assert service.typo_tolerant("yoga flw now")
    assert not service.typo_tolerant("one two three four")
    assert not service.typo_tolerant("a" * 41)
    assert not service.typo_tolerant('"yoga flow"')
    assert not service.typo_tolerant("yoga -pilates")
    assert not service.typo_tolerant("yoga or pilates")


def test_cursors_round_trip_and_refuse_anything_else():
    import uuid

    item = uuid.uuid4()
    for rank in (0.0, 0.0607927, 1e-30, 0.6666666865348816):
        assert service.decode_cursor(service.encode_cursor(rank, item)) == (rank, item)
    for cursor in ("", "!!!", service.encode_cursor(float("nan"), item), "aW5mfA==", "MC41fG5vcGU="):
        with pytest.raises(Exception) as raised:
            service.decode_cursor(cursor)
        assert raised.value.extensions == {"code": "BAD_USER_INPUT"}  # type: ignore[attr-defined]


def test_headlines_keep_only_mark_tags():
    raw = f'<b>x</b> & "{service.START}yoga{service.STOP}" <img onerror=1>'
    assert service.headline_html(raw) == "&lt;b&gt;x&lt;/b&gt; &amp; &quot;<mark>yoga</mark>&quot; &lt;img onerror=1&gt;"
    assert service.headline_html(None) is None


async def test_public_search_and_typo_fallback_use_their_indexes_under_row_level_security(db, admin_db, shop):
    """``@@`` and ``<%`` are not LEAKPROOF: only on the public table (read policy ``true``) may the planner use
    them as index conditions. EXPLAIN of the statement the repository sends, in the API role and tenant scope."""
    await admin_db.execute(
        "insert into content (id, organization_id, creator_id, kind, status, title, storage_key, mime_type, "
        "original_filename, size_bytes) select gen_random_uuid(), $1, $2, 'VIDEO', 'PUBLISHED', 'Item ' || g || "
        "case when g % 500 = 0 then ' yoga' else '' end, 'k', 'video/mp4', 'f.mp4', 1 "
        "from generate_series(1, 3000) g", shop["org"], shop["owner"].user_id)
    await admin_db.execute("vacuum analyze content_search_public")
    await admin_db.execute("vacuum analyze content")
    async with db.transaction(TenantScope(organization_id=None)) as session:
        page = await repository.search_page(session, shop["org"], staff=False, words="yoga", fuzzy=True,
                                            narrow=CatalogueFilter(), free=None, first=10, after=None)
        assert len(page.items) == 6
        connection = await driver_connection(session)
        assert await connection.fetchval("select current_user") == "codex_app"
        statement = repository._statement(staff=False, fuzzy=False, names=frozenset(
            ["organization_id", "words", "staff", "staff_org", "limit", "headline_options"]), after=False, count=False)
        sql = str(statement.compile(compile_kwargs={})).replace(":organization_id", "$1").replace(":words", "$2") \
            .replace(":staff_org", "NULL::uuid").replace(":limit", "11").replace(":headline_options", "''")
        plan = "\n".join(r[0] for r in await connection.fetch("explain " + sql, shop["org"], "yoga"))
        assert "Bitmap Index Scan on ix_content_search_public_document" in plan, plan
        await connection.execute("set local pg_trgm.word_similarity_threshold = 0.4")
        await connection.execute("set local enable_seqscan = off")  # a few thousand rows: the planner could scan
        fuzzy = "\n".join(r[0] for r in await connection.fetch(
            "explain select content_id from content_search_public s where s.organization_id = $1 and $2 <% s.words",
            shop["org"], "yogaa"))
        assert "Bitmap Index Scan on ix_content_search_public_words_trgm" in fuzzy, fuzzy
        found = await connection.fetch("select * from codex_search_fuzzy($1, '{yogaa}', false)", shop["org"])
        assert len(found) == 6


async def test_the_api_role_cannot_rebuild_vectors_itself(db, shop):
    """Only the triggers call codex_search_refresh (SECURITY DEFINER): the app's role may not, for any organization."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.transaction(TenantScope(organization_id=shop["org"])) as session:
            await session.execute(text("select codex_search_refresh(:o, NULL, NULL)"), {"o": shop["org"]})
