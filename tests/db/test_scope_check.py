"""The tenant scope is verified once per scope, not on every policy check (migration 0018).

``codex_set_scope`` (and, for a scope string not remembered, ``codex_private.scope_verify``) remembers the
verified scope in session-local sequence values only the functions' owner can set; ``codex_scope()``
compares with them instead of reading the connection's key and recomputing the HMAC.
These tests assert the properties, never a time: the key is read once per scope however many checks
follow, and nothing an API session can run makes an unverified scope pass (tests/db/test_db_role.py holds
the forging tests of 0016, unchanged).
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text

from codex_graphql.db import TenantScope, new_scope_key, scope_proof
from tests.conftest import module_database

database_url = module_database("scope")

REFUSED = "not set by codex_set_scope"
REGISTERS = ("codex_private.scope_user_hi", "codex_private.scope_user_lo", "codex_private.scope_org_hi",
             "codex_private.scope_org_lo", "codex_private.scope_meta")
KEY_READS = ("select coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) from pg_stat_xact_all_tables "
             "where schemaname = 'codex_private' and relname = 'session_key'")
MEMBERSHIPS = "select organization_id from organization_membership"


@pytest.fixture(scope="module")
async def tenants(database_url):
    admin = await asyncpg.connect(database_url)
    try:
        ids = {}
        for name in ("a", "b"):
            user_id, org_id = uuid.uuid4(), uuid.uuid4()
            await admin.execute("insert into user_account (id, email, password_hash, platform_role) "
                                "values ($1, $2, 'x', 'CUSTOMER')", user_id, f"{user_id.hex[:12]}@example.com")
            await admin.execute("insert into organization (id, slug, name) values ($1, $2, 'Org')",
                                org_id, f"o-{org_id.hex[:10]}")
            await admin.execute("insert into organization_membership (id, organization_id, user_id, role) "
                                "values ($1, $2, $3, 'OWNER')", uuid.uuid4(), org_id, user_id)
            ids[f"user_{name}"], ids[name] = user_id, org_id
        return ids
    finally:
        await admin.close()


class KeyedConnection(asyncpg.Connection):  # type: ignore[misc]
    scope_key: bytes = b""


@pytest.fixture
async def raw(api_database_url):
    """A connection of the API role that registered its own key (as the app's connections do)."""
    conn = await asyncpg.connect(api_database_url, connection_class=KeyedConnection)
    key, ikey, okey = new_scope_key()
    await conn.execute("select codex_open_session($1, $2)", ikey, okey)
    conn.scope_key = key
    yield conn
    await conn.close()


async def _set(conn, org: uuid.UUID, *, local: bool = True) -> None:
    await conn.execute(f"select set_config('role', 'codex_app', {str(local).lower()}), "
                       "codex_set_scope('', $1, '', $2, $3)", str(org), scope_proof(conn.scope_key, "", str(org), ""), local)


async def _orgs(conn) -> set[uuid.UUID]:
    return {r[0] for r in await conn.fetch(MEMBERSHIPS)}


async def test_the_key_is_read_once_per_scope_however_many_checks_follow(db, tenants):
    async with db.transaction(TenantScope(user_id=tenants["user_a"], organization_id=tenants["a"])) as session:
        after_set = (await session.execute(text(KEY_READS))).scalar_one()
        assert after_set >= 1  # codex_set_scope read it (the counter does count this table)
        for _ in range(25):
            assert {r[0] for r in await session.execute(text(MEMBERSHIPS))} == {tenants["a"]}
        assert (await session.execute(text(
            "select count(codex_current_org()) from generate_series(1, 200)"))).scalar_one() == 200
        assert (await session.execute(text(KEY_READS))).scalar_one() == after_set


async def test_a_local_scope_does_not_verify_in_a_later_transaction(raw, tenants):
    """Transaction A sets a local scope; B (no codex_set_scope of its own, so the remembered digest is still
    A's) copies A's scope string: refused, because the transaction's start is part of what is compared."""
    async with raw.transaction():
        await _set(raw, tenants["a"])
        assert await _orgs(raw) == {tenants["a"]}
        seen = await raw.fetchval("select current_setting('codex.scope')")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=REFUSED):
        async with raw.transaction():
            await raw.execute("set local role codex_app")
            await raw.execute("select set_config('codex.scope', $1, true)", seen)
            await raw.fetch(MEMBERSHIPS)
    async with raw.transaction():  # the connection still works with a scope it proves
        await _set(raw, tenants["a"])
        assert await _orgs(raw) == {tenants["a"]}


async def test_an_altered_copy_of_the_verified_scope_is_refused(raw, tenants):
    """The digest of the verified scope is in place; the same string with another organization is not it."""
    async with raw.transaction():
        await _set(raw, tenants["a"], local=False)
    seen = await raw.fetchval("select current_setting('codex.scope')")
    assert await _orgs(raw) == {tenants["a"]}
    altered = seen.replace(str(tenants["a"]), str(tenants["b"]))
    assert altered != seen
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=REFUSED):
        async with raw.transaction():
            await raw.execute("select set_config('codex.scope', $1, true)", altered)
            await raw.fetch(MEMBERSHIPS)
    assert await _orgs(raw) == {tenants["a"]}  # the session scope, verified, still applies


async def test_the_api_role_cannot_write_the_remembered_scope(raw, tenants):
    async def digest() -> tuple[int, ...]:
        async with raw.transaction():
            await raw.execute("set local role codex_app")  # the API role itself may not even read them
            row = await raw.fetchrow("select " + ", ".join(f"currval('{name}')" for name in REGISTERS))
            return tuple(row)

    async with raw.transaction():
        await _set(raw, tenants["a"])
    before = await digest()
    statements = [f"select setval('{name}', 1)" for name in REGISTERS] + [
        f"select nextval('{name}')" for name in REGISTERS] + [
        "alter sequence codex_private.scope_meta restart with 1", "select * from codex_private.session_key",
        "select codex_private.scope_remember('', $1, 'on', false)"]
    for statement in statements:
        with pytest.raises(asyncpg.PostgresError, match="permission denied|must be owner"):
            async with raw.transaction():
                await raw.execute("set local role codex_app")
                await raw.execute(statement, *([str(tenants["b"])] if "$1" in statement else []))
    assert await digest() == before


async def test_discarding_the_digest_fails_closed(raw, tenants):
    async with raw.transaction():
        await _set(raw, tenants["a"], local=False)
    await raw.execute("discard sequences")
    with pytest.raises(asyncpg.PostgresError, match="not yet defined|" + REFUSED):
        await raw.fetch(MEMBERSHIPS)
    await _set(raw, tenants["a"], local=False)  # a scope set again works again
    assert await _orgs(raw) == {tenants["a"]}


async def test_a_scope_restored_by_a_rolled_back_savepoint_still_verifies(raw, tenants):
    """A rescope inside a savepoint that rolls back leaves the digest of the newer scope; the restored
    scope is verified in full once (its tag is valid) and then remembered."""
    async with raw.transaction():
        await _set(raw, tenants["a"])
        tr = raw.transaction()
        await tr.start()
        await _set(raw, tenants["b"])
        assert await _orgs(raw) == {tenants["b"]}
        await tr.rollback()
        assert await _orgs(raw) == {tenants["a"]}
        reads = await raw.fetchval(KEY_READS)
        for _ in range(5):
            assert await _orgs(raw) == {tenants["a"]}
        assert await raw.fetchval(KEY_READS) == reads  # remembered again after one full check


async def test_the_session_scope_verifies_again_after_a_local_scope(raw, tenants):
    """The compiled read path keeps a connection-wide scope; a transaction-local scope in between (which
    replaces the remembered digest) must not break it once that transaction ends."""
    await _set(raw, tenants["a"], local=False)
    assert await _orgs(raw) == {tenants["a"]}
    async with raw.transaction():
        await _set(raw, tenants["b"])
        assert await _orgs(raw) == {tenants["b"]}
    assert await _orgs(raw) == {tenants["a"]}
    assert await raw.fetchval("select codex_current_org()") == tenants["a"]


async def test_the_check_ignores_the_callers_search_path(raw, tenants):
    """codex_scope() has no SET clause any more: a search_path putting a schema before pg_catalog (and
    pg_temp first) changes nothing, since every name in it is qualified."""
    await _set(raw, tenants["a"], local=False)
    async with raw.transaction():
        await raw.execute("set local search_path = pg_temp, public, pg_catalog")
        assert await _orgs(raw) == {tenants["a"]}
        assert await raw.fetchval("select public.codex_current_org()") == tenants["a"]
