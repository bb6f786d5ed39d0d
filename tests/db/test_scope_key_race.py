"""Connections opening at the same moment keep their scope keys (migration 0025).

``codex_open_session`` forgets the keys of ended connections by comparing ``session_key`` with
``pg_stat_activity``, which PostgreSQL reads once per transaction. Here the opening connection's activity
snapshot is taken before another connection registers its key, as happens when a pool opens several
connections at once under concurrent requests: before 0025 the newcomer's key was deleted and every
transaction on it failed with "the tenant scope is not authenticated"."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from codex_graphql.db import new_scope_key, scope_proof


async def _org(admin_db) -> uuid.UUID:
    org_id = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Org')", org_id,
                           f"o-{org_id.hex[:10]}")
    return org_id


async def _scoped(conn: asyncpg.Connection, key: bytes, org: uuid.UUID) -> int:
    await conn.execute("select codex_set_scope('', $1, '', $2, false)", str(org), scope_proof(key, "", str(org), ""))
    return await conn.fetchval("select count(*) from organization where id = $1", org)


async def test_a_key_registered_while_another_connection_opens_is_kept(database_url, api_database_url, admin_db):
    org = await _org(admin_db)
    opening = await asyncpg.connect(database_url)
    late: asyncpg.Connection | None = None
    try:
        async with opening.transaction():
            # The opening connection has read the activity (a snapshot kept for its transaction) before a
            # backend started after it registers its key; then it registers its own.
            await opening.fetchval("select count(*) from pg_stat_activity")
            late = await asyncpg.connect(api_database_url)
            late_key, ikey, okey = new_scope_key()
            await late.execute("select codex_open_session($1, $2)", ikey, okey)
            _, ikey, okey = new_scope_key()
            await opening.execute("select codex_open_session($1, $2)", ikey, okey)
        await late.execute("set role codex_app")
        assert await _scoped(late, late_key, org) == 1
    finally:
        await opening.close()
        if late is not None:
            await late.close()


async def test_keys_of_ended_connections_are_still_forgotten(database_url, api_database_url, admin_db):
    ended = await asyncpg.connect(api_database_url)
    _, ikey, okey = new_scope_key()
    await ended.execute("select codex_open_session($1, $2)", ikey, okey)
    pid = ended.get_server_pid()
    await ended.close()
    for _ in range(100):  # the backend's exit is asynchronous to the client's close
        if not await admin_db.fetchval("select count(*) from pg_stat_activity where pid = $1", pid):
            break
        await asyncio.sleep(0.05)
    opener = await asyncpg.connect(api_database_url)
    try:
        _, ikey, okey = new_scope_key()
        await opener.execute("select codex_open_session($1, $2)", ikey, okey)
        assert await admin_db.fetchval("select count(*) from codex_private.session_key where pid = $1", pid) == 0
    finally:
        await opener.close()
