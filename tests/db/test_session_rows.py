"""``SerializedSession.rows`` (plain rows on the request's transaction) and the json codec of the app's pool
(db.py): rows run in the tenant scope, one statement at a time, and json decodes as the compiled path's pool
decodes it (fastpath/engine.py), with ``json.loads`` for what orjson refuses."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB

from codex_graphql.accounts.models import User
from codex_graphql.db import APP_ROLE, TenantScope
from codex_graphql.fastpath.engine import _jsonb_decode

DOCUMENT = '{"a": [1, 2.5, null, true], "é": {"nested": "ünïcode \\u2028"}, "big": 123456789012345678901234567890}'


async def test_rows_run_in_the_tenant_scope_one_statement_at_a_time(db, factory):
    person = await factory.user(name="Row Reader")
    session = db.session(TenantScope(user_id=person.user_id))
    try:
        role, = (await session.rows(text("select current_setting('role')")))[0]
        assert role == APP_ROLE  # the first statement began the transaction with the scope statement
        # Concurrent callers share one connection: each statement waits for the previous one's rows.
        answers = await asyncio.gather(*(session.rows(text(f"select {n}, pg_sleep(0.01)")) for n in range(5)))
        assert [rows[0][0] for rows in answers] == list(range(5))
        # An entity selected comes back as its columns, read by attribute name, with no ORM instance.
        row, = await session.rows(select(User).where(User.id == person.user_id))
        assert not isinstance(row, User) and (row.id, row.email, row.name) == (person.user_id, person.email, "Row Reader")
        assert User not in {type(value) for value in row} and session.identity_map.keys() == set()
    finally:
        await session.rollback()
        await session.close()


async def test_json_decodes_as_on_the_compiled_path_and_what_orjson_refuses_as_json_loads(db):
    session = db.session(TenantScope())
    try:
        statement = text("select cast(:doc as jsonb), cast(:doc as json), cast(:huge as jsonb), :value")
        statement = statement.bindparams(bindparam("value", type_=JSONB), doc=DOCUMENT, huge="1" + "0" * 400)
        jsonb, plain, huge, sent = (await session.rows(statement, {"value": {"sent": ["ü", 1.5, None]}}))[0]
    finally:
        await session.rollback()
        await session.close()
    compiled = _jsonb_decode(b"\x01" + DOCUMENT.encode())
    assert jsonb == plain == compiled
    assert isinstance(jsonb["big"], float)  # as orjson (and the compiled path) reads it; json.loads gives an int
    assert huge == json.loads("1" + "0" * 400)  # beyond a double: orjson refuses, json.loads reads it
    assert sent == {"sent": ["ü", 1.5, None]}  # a jsonb parameter goes out in the same binary format
