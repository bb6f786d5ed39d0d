"""The database role the API logs in as, and the authenticated tenant scope (issue 21, item 7; migration 0016).

The app under test logs in as ``codex_api`` (tests/conftest.py: ``settings`` and ``db``), never as a
superuser. These tests run, inside the app's own tenant transactions, the statements an SQL injection
would try, and assert that none of them widens the scope: ``RESET ROLE`` leaves a role with no
privileges, ``SET ROLE`` to anyone else fails, plain ``set_config`` of the tenant settings is ignored,
a forged or replayed ``codex.scope`` is refused, and the per-connection key cannot be replaced or read.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.db import APP_ROLE, Database, TenantScope, new_scope_key, scope_proof
from tests.conftest import API_ROLE

REFUSED = "insufficient_privilege|permission denied|not authenticated|not set by codex_set_scope|registered its scope key"


async def _user(admin_db) -> uuid.UUID:
    user_id = uuid.uuid4()
    await admin_db.execute("insert into user_account (id, email, password_hash, platform_role) "
                           "values ($1, $2, 'x', 'CUSTOMER')", user_id, f"{user_id.hex[:12]}@example.com")
    return user_id


async def _org(admin_db, owner: uuid.UUID) -> uuid.UUID:
    org_id = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Org')", org_id, f"o-{org_id.hex[:10]}")
    await admin_db.execute("insert into organization_membership (id, organization_id, user_id, role) "
                           "values ($1, $2, $3, 'OWNER')", uuid.uuid4(), org_id, owner)
    return org_id


@pytest.fixture
async def tenants(admin_db):
    alice, bob = await _user(admin_db), await _user(admin_db)
    a, b = await _org(admin_db, alice), await _org(admin_db, bob)
    await admin_db.execute("insert into stripe_event (id, type, payload) values ('evt_platform', 'x', '{}')")
    return {"alice": alice, "bob": bob, "a": a, "b": b}


@pytest.fixture
async def one_connection(api_database_url):
    """A Database with a single connection, so consecutive transactions share one backend."""
    from codex_graphql.settings import Settings

    database = Database(Settings(database_url=api_database_url).database_url or "", pool_size=1, max_overflow=0)
    yield database
    await database.dispose()


def _scope(t) -> TenantScope:
    return TenantScope(user_id=t["alice"], organization_id=t["a"])


async def _memberships(session) -> set[uuid.UUID]:
    rows = await session.execute(text("select organization_id from organization_membership"))
    return {r[0] for r in rows}


# -- the role ---------------------------------------------------------------------------------------

async def test_the_api_role_is_unprivileged_owns_nothing_and_is_a_member_of_codex_app_only(admin_db):
    role = await admin_db.fetchrow("select oid, rolcanlogin, rolsuper, rolbypassrls, rolinherit, rolcreatedb, "
                                   "rolcreaterole, rolreplication from pg_roles where rolname = $1", API_ROLE)
    assert role is not None
    assert (role["rolcanlogin"], role["rolsuper"], role["rolbypassrls"], role["rolinherit"], role["rolcreatedb"],
            role["rolcreaterole"], role["rolreplication"]) == (True, False, False, False, False, False, False)
    granted = await admin_db.fetch("select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
                                   "where m.member = $1", role["oid"])
    assert [g["rolname"] for g in granted] == [APP_ROLE]
    owned = await admin_db.fetchval("select count(*) from pg_shdepend where refobjid = $1 and deptype = 'o'", role["oid"])
    assert owned == 0
    # Its own privileges (NOINHERIT: codex_app's do not apply until SET ROLE): none on any table.
    usable = await admin_db.fetch(
        "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p', 'v', 'm') "
        "and has_table_privilege($1, oid, 'SELECT,INSERT,UPDATE,DELETE')", API_ROLE)
    assert usable == []
    assert await admin_db.fetchval("select count(*) from pg_class where relnamespace = 'public'::regnamespace "
                                   "and relkind = 'r' and has_table_privilege($1, oid, 'SELECT')", APP_ROLE) > 20


async def test_the_app_logs_in_as_the_api_role_and_works_as_codex_app(app, db, gql):
    services = app.state.runtime["services"]
    for database in (services.db, db):
        async with database.transaction(TenantScope()) as session:
            row = (await session.execute(text("select session_user, current_user, "
                                              "(select rolsuper from pg_roles where rolname = session_user)"))).one()
        assert tuple(row) == (API_ROLE, APP_ROLE, False)
    body = await gql("{ viewer { id } }", {}, None)  # a request through the served schema works as that role
    assert body["data"] == {"viewer": None}


async def test_every_policy_reads_the_authenticated_scope(admin_db):
    """No policy trusts a plain setting any longer, but two capabilities, each the hash of a secret token: the
    invitation's, and the preview link's (which admits no role the API runs as, only codex_content_preview's owner,
    migration 0030; tests/previews/test_preview_db.py)."""
    rows = await admin_db.fetch("select tablename, policyname from pg_policies where schemaname = 'public' and "
                                "(coalesce(qual, '') || coalesce(with_check, '')) like '%current_setting%' "
                                "order by tablename")
    assert [(r["tablename"], r["policyname"]) for r in rows] == [("content_preview_link", "preview_by_token"),
                                                                 ("organization_invitation", "invitation_by_token")]
    uses = await admin_db.fetchval("select count(*) from pg_policies where schemaname = 'public' and "
                                   "(coalesce(qual, '') || coalesce(with_check, '')) like '%codex_current_org()%'")
    assert uses > 20


# -- injected statements inside the app's transaction -------------------------------------------------

async def test_the_scope_works_and_plain_settings_change_nothing(db, tenants):
    async with db.transaction(_scope(tenants)) as session:
        assert await _memberships(session) == {tenants["a"]}
        await session.execute(text("select set_config('codex.organization_id', :b, true), "
                                   "set_config('codex.user_id', :bob, true), set_config('codex.platform', 'on', true)"),
                              {"b": str(tenants["b"]), "bob": str(tenants["bob"])})
        assert await _memberships(session) == {tenants["a"]}  # not B's, not bob's
        assert (await session.execute(text("select count(*) from stripe_event"))).scalar_one() == 0  # no platform
        assert (await session.execute(text("select codex_current_org(), codex_current_user(), codex_platform()"))).one() \
            == (tenants["a"], tenants["alice"], False)
        # Session-level too (set_config(..., false)): ignored the same way.
        await session.execute(text("select set_config('codex.organization_id', :b, false)"), {"b": str(tenants["b"])})
        assert await _memberships(session) == {tenants["a"]}


async def test_reset_role_gives_no_more_rows(db, tenants):
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.transaction(_scope(tenants)) as session:
            await session.execute(text("reset role"))
            assert (await session.execute(text("select current_user"))).scalar_one() == API_ROLE
            await session.execute(text("select organization_id from organization_membership"))


@pytest.mark.parametrize("role", ["postgres", "pg_read_all_data", "pg_write_all_data"])
async def test_set_role_to_anyone_else_fails(db, tenants, role):
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.transaction(_scope(tenants)) as session:
            await session.execute(text(f"set role {role}"))


async def test_a_forged_scope_setting_is_refused(db, tenants):
    with pytest.raises(DBAPIError, match="not set by codex_set_scope"):
        async with db.transaction(_scope(tenants)) as session:
            forged = f"{tenants['bob']}|{tenants['b']}|on|true|{'0' * 64}"
            await session.execute(text("select set_config('codex.scope', :s, true)"), {"s": forged})
            await _memberships(session)


async def test_a_scope_tag_from_another_transaction_is_refused(one_connection, tenants):
    """The tag is bound to the backend and the transaction's start: copying the scope of an earlier
    transaction on the same connection (as an injection that saw it there would) is refused."""
    bobs = TenantScope(user_id=tenants["bob"], organization_id=tenants["b"])
    async with one_connection.transaction(bobs) as session:
        seen = (await session.execute(text("select current_setting('codex.scope')"))).scalar_one()
        pid = (await session.execute(text("select pg_backend_pid()"))).scalar_one()
    with pytest.raises(DBAPIError, match="not set by codex_set_scope"):
        async with one_connection.transaction(_scope(tenants)) as session:
            assert (await session.execute(text("select pg_backend_pid()"))).scalar_one() == pid
            await session.execute(text("select set_config('codex.scope', :s, true)"), {"s": seen})
            await _memberships(session)
    async with one_connection.transaction(_scope(tenants)) as session:  # the connection is still fine
        assert await _memberships(session) == {tenants["a"]}


async def test_set_scope_needs_the_connections_key(db, tenants):
    guesses = ["0" * 64, scope_proof(b"k" * 32, str(tenants["bob"]), str(tenants["b"]), "on")]
    for guess in guesses:
        with pytest.raises(DBAPIError, match="not authenticated"):
            async with db.transaction(_scope(tenants)) as session:
                await session.execute(text("select codex_set_scope(:u, :o, 'on', :p, true)"),
                                      {"u": str(tenants["bob"]), "o": str(tenants["b"]), "p": guess})


async def test_the_key_cannot_be_replaced_or_read(db, tenants):
    _, ikey, okey = new_scope_key()
    with pytest.raises(DBAPIError, match="registered its scope key"):
        async with db.transaction(_scope(tenants)) as session:
            await session.execute(text("select codex_open_session(:i, :o)"), {"i": ikey, "o": okey})
    for statement in ("select * from codex_private.session_key", "reset role; select * from codex_private.session_key"):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.transaction(_scope(tenants)) as session:
                for part in statement.split("; "):
                    await session.execute(text(part))


@pytest.mark.parametrize("function", ["analytics_rebuild_daily", "analytics_rebuild"])
async def test_analytics_rebuild_for_another_organization_is_refused(db, tenants, function):
    """SECURITY DEFINER functions the app may call check the authenticated organization."""
    async with db.transaction(_scope(tenants)) as session:  # its own organization: allowed
        await session.execute(text(f"select {function}(:a)"), {"a": tenants["a"]})
    with pytest.raises(DBAPIError, match="not the organization of this transaction"):
        async with db.transaction(_scope(tenants)) as session:
            await session.execute(text("select set_config('codex.organization_id', :b, true)"), {"b": str(tenants["b"])})
            await session.execute(text(f"select {function}(:b)"), {"b": tenants["b"]})


async def test_a_raw_api_connection_without_the_apps_key_sees_nothing(api_database_url, tenants):
    """Someone holding the API role's credentials but not the app's code (e.g. psql): no scope can be set."""
    conn = await asyncpg.connect(api_database_url)
    try:
        await conn.execute("set role codex_app")
        await conn.execute("select set_config('codex.organization_id', $1, false)", str(tenants["a"]))
        assert await conn.fetchval("select count(*) from organization_membership") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("select codex_set_scope('', $1, '', $2, false)", str(tenants["a"]), "0" * 64)
        # It may register a key of its own: then it is a client like the app, scoped by what it proves.
        key, ikey, okey = new_scope_key()
        await conn.execute("select codex_open_session($1, $2)", ikey, okey)
        await conn.execute("select codex_set_scope('', $1, '', $2, false)", str(tenants["a"]),
                           scope_proof(key, "", str(tenants["a"]), ""))
        assert {r[0] for r in await conn.fetch("select organization_id from organization_membership")} == {tenants["a"]}
    finally:
        await conn.close()


async def test_concurrent_transactions_on_shared_connections_keep_their_own_scope(app, tenants):
    """Pooled connections serve many scopes in turn; concurrently, each transaction sees its own only."""
    database = app.state.runtime["services"].db
    scopes = [TenantScope(user_id=tenants["alice"], organization_id=tenants["a"]),
              TenantScope(user_id=tenants["bob"], organization_id=tenants["b"]), TenantScope()]

    async def look(scope: TenantScope) -> tuple[TenantScope, set[uuid.UUID], tuple]:
        async with database.transaction(scope) as session:
            seen = await _memberships(session)
            await asyncio.sleep(0)
            current = (await session.execute(text("select codex_current_org(), codex_current_user()"))).one()
            return scope, seen, tuple(current)

    results = await asyncio.gather(*(look(scopes[i % 3]) for i in range(60)))
    for scope, seen, current in results:
        assert current == (scope.organization_id, scope.user_id)
        expected = {scope.organization_id} if scope.organization_id else set()
        assert seen == expected, (scope, seen)


async def test_the_scope_functions_work_under_an_empty_search_path(admin_db, tenants):
    """pg_dump runs with an empty search_path; the policies' functions must not depend on it
    (migration 0017). Before, this raised "function codex_scope() does not exist"."""
    async with admin_db.transaction():
        await admin_db.execute("SET LOCAL search_path = ''")
        await admin_db.execute("SELECT set_config('codex.organization_id', $1, true)", str(tenants["a"]))
        assert await admin_db.fetchval("SELECT public.codex_current_org()") == tenants["a"]
        assert await admin_db.fetchval("SELECT public.codex_platform()") is False
