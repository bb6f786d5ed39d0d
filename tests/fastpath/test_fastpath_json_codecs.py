"""The compiled pool's json and jsonb codecs are binary ones (fastpath/engine.py): the same values whether a
column is read at the top of a row, inside an anonymous record (which asyncpg decodes field by field in
binary, the dashboard's lists) or in an array, and as parameters."""

from __future__ import annotations

import pytest

from codex_graphql.fastpath.engine import _jsonb_decode
from tests.fastpath.test_fastpath_equivalence import fast_path

DOCUMENT = {"a": [1, 2.5, None, True], "é": {"nested": "ünïcode \u2028"}, "n": 12345678901234}


async def test_json_and_jsonb_read_alike_at_the_top_inside_records_and_in_arrays(app):
    fast = fast_path(app)
    pool = fast._pool or await fast._open()
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT $1::jsonb AS b, $1::json AS j, NULL::jsonb AS nothing, "
            "ARRAY(SELECT ROW($1::jsonb, $1::json, NULL::jsonb, 7) FROM generate_series(1, 2)) AS records, "
            "ARRAY[$1::jsonb, NULL] AS list, ($1::jsonb -> 'é') AS inner_value, $2::jsonb AS text_value",
            DOCUMENT, "a string")
    assert row["b"] == row["j"] == DOCUMENT and row["nothing"] is None
    assert [tuple(record) for record in row["records"]] == [(DOCUMENT, DOCUMENT, None, 7)] * 2
    assert row["list"] == [DOCUMENT, None] and row["inner_value"] == DOCUMENT["é"]
    assert row["text_value"] == "a string"  # a str parameter is a JSON string, as with the text codecs


def test_an_unknown_jsonb_format_version_is_refused():
    assert _jsonb_decode(b'\x01{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="jsonb binary format"):
        _jsonb_decode(b'\x02{"a": 1}')


async def test_the_compiled_pool_plans_its_statements_generically_from_the_first_execution(app):
    """db.GENERIC_PLANS: no five custom plans per statement and connection before the generic one (each 2 to
    3 ms under the policies), while the app pool keeps PostgreSQL's default."""
    fast = fast_path(app)
    pool = fast._pool or await fast._open()
    async with pool.acquire() as conn:
        assert await conn.fetchval("show plan_cache_mode") == "force_generic_plan"
        statement = await conn.prepare("SELECT count(*) FROM generate_series(1, $1::int)")
        for _ in range(2):
            assert await statement.fetchval(3) == 3
        plan = await conn.fetchval("SELECT generic_plans FROM pg_prepared_statements WHERE statement = $1",
                                   "SELECT count(*) FROM generate_series(1, $1::int)")
        assert plan == 2  # both executions ran the generic plan (PostgreSQL 14+ counts them)
