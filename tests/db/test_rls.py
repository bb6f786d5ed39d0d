"""Row-level security: the database, not only the application, keeps tenants apart.

Every transaction opened through ``Database`` switches to the unprivileged role ``codex_app`` and
sets ``codex.organization_id`` / ``codex.user_id``; these tests run queries that deliberately forget
the application's organization filter and prove PostgreSQL still returns no other tenant's rows.
"""

from __future__ import annotations

import ast
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.db import APP_ROLE, TenantScope
from codex_graphql.models import TENANT_TABLES
from tests.conftest import module_database

ROOT = Path(__file__).resolve().parents[2]


# One database for the module. Every test makes its own organizations, and the rows other tests
# left behind only add foreign tenants that RLS must hide.
database_url = module_database("rls")


@dataclass
class Someone:
    user_id: uuid.UUID


async def _user(admin_db) -> Someone:
    # Inserted directly (no password hashing, no login): these tests talk to the database only.
    user_id = uuid.uuid4()
    await admin_db.execute(
        "insert into user_account (id, email, password_hash, platform_role) values ($1, $2, 'x', 'CUSTOMER')",
        user_id, f"{user_id.hex[:12]}@example.com",
    )
    return Someone(user_id)


async def _org(admin_db, *owners_and_roles: tuple[Someone, str]) -> uuid.UUID:
    org_id = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Org')", org_id, f"o-{org_id.hex[:10]}")
    for person, role in owners_and_roles:
        await _join(admin_db, org_id, person, role)
    return org_id


async def _join(admin_db, org_id: uuid.UUID, person: Someone, role: str) -> None:
    await admin_db.execute(
        "insert into organization_membership (id, organization_id, user_id, role) values ($1, $2, $3, $4)",
        uuid.uuid4(), org_id, person.user_id, role,
    )


@pytest.fixture
async def two_orgs(admin_db):
    alice, bob, carol = await _user(admin_db), await _user(admin_db), await _user(admin_db)
    org_a = await _org(admin_db, (alice, "OWNER"), (carol, "MEMBER"))
    org_b = await _org(admin_db, (bob, "OWNER"))
    return {"alice": alice, "bob": bob, "carol": carol, "a": org_a, "b": org_b}


async def _membership_rows(db, scope: TenantScope) -> list[tuple[uuid.UUID, uuid.UUID]]:
    async with db.transaction(scope) as session:
        # Deliberately no organization filter: RLS is the only thing scoping this statement.
        result = await session.execute(text("select organization_id, user_id from organization_membership"))
        return [(row[0], row[1]) for row in result.all()]


async def test_unfiltered_select_sees_only_the_scoped_organization(db, admin_db, two_orgs):
    # The superuser sees both tenants: the data is really there.
    all_orgs = {r["organization_id"] for r in await admin_db.fetch("select organization_id from organization_membership")}
    assert {two_orgs["a"], two_orgs["b"]} <= all_orgs

    rows = await _membership_rows(db, TenantScope(organization_id=two_orgs["a"]))
    assert {org for org, _ in rows} == {two_orgs["a"]}
    assert {user for _, user in rows} == {two_orgs["alice"].user_id, two_orgs["carol"].user_id}

    rows = await _membership_rows(db, TenantScope(organization_id=two_orgs["b"]))
    assert rows == [(two_orgs["b"], two_orgs["bob"].user_id)]


async def test_scope_user_also_sees_own_memberships_but_no_foreign_rows(db, admin_db, two_orgs):
    # Bob joins org A as well; in scope B with user Bob he sees B's rows plus his own membership in A,
    # never Alice's or Carol's membership of A.
    await _join(admin_db, two_orgs["a"], two_orgs["bob"], "MEMBER")
    rows = await _membership_rows(db, TenantScope(user_id=two_orgs["bob"].user_id, organization_id=two_orgs["b"]))
    assert sorted(rows) == sorted([(two_orgs["b"], two_orgs["bob"].user_id), (two_orgs["a"], two_orgs["bob"].user_id)])
    assert all(user == two_orgs["bob"].user_id for org, user in rows if org == two_orgs["a"])


async def test_empty_scope_sees_no_memberships(db, two_orgs):
    assert await _membership_rows(db, TenantScope()) == []
    # A user id alone (no organization) shows only that user's own rows.
    rows = await _membership_rows(db, TenantScope(user_id=two_orgs["carol"].user_id))
    assert rows == [(two_orgs["a"], two_orgs["carol"].user_id)]


async def test_insert_into_another_organization_is_refused(db, admin_db, two_orgs):
    before = await admin_db.fetchval("select count(*) from organization_membership")
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(TenantScope(organization_id=two_orgs["a"])) as session:
            await session.execute(
                text("insert into organization_membership (id, organization_id, user_id, role) "
                     "values (:id, :org, :user, 'OWNER')"),
                {"id": uuid.uuid4(), "org": two_orgs["b"], "user": two_orgs["carol"].user_id},
            )
    assert await admin_db.fetchval("select count(*) from organization_membership") == before
    assert await admin_db.fetchval(
        "select count(*) from organization_membership where organization_id = $1 and user_id = $2",
        two_orgs["b"], two_orgs["carol"].user_id,
    ) == 0


async def test_update_and_delete_cannot_touch_another_organization(db, admin_db, two_orgs):
    scope = TenantScope(user_id=two_orgs["bob"].user_id, organization_id=two_orgs["a"])
    async with db.transaction(scope) as session:
        updated = await session.execute(text("update organization_membership set role = 'MEMBER' where organization_id = :b"),
                                        {"b": two_orgs["b"]})
        deleted = await session.execute(text("delete from organization_membership where organization_id = :b"),
                                        {"b": two_orgs["b"]})
        assert updated.rowcount == 0
        assert deleted.rowcount == 0
    # Moving a row of A into B is refused by the policy's WITH CHECK.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(TenantScope(organization_id=two_orgs["a"])) as session:
            await session.execute(text("update organization_membership set organization_id = :b where user_id = :u"),
                                  {"b": two_orgs["b"], "u": two_orgs["carol"].user_id})
    rows = await admin_db.fetch("select organization_id, role from organization_membership where organization_id = $1",
                                two_orgs["b"])
    assert [(r["organization_id"], r["role"]) for r in rows] == [(two_orgs["b"], "OWNER")]
    assert await admin_db.fetchval("select organization_id from organization_membership where user_id = $1",
                                   two_orgs["carol"].user_id) == two_orgs["a"]


async def test_own_memberships_in_other_orgs_are_not_writable(db, admin_db, two_orgs):
    await _join(admin_db, two_orgs["b"], two_orgs["carol"], "MEMBER")
    async with db.transaction(TenantScope(user_id=two_orgs["carol"].user_id, organization_id=two_orgs["a"])) as session:
        result = await session.execute(
            text("update organization_membership set role = 'OWNER' where user_id = :u and organization_id = :b"),
            {"u": two_orgs["carol"].user_id, "b": two_orgs["b"]},
        )
        assert result.rowcount == 0
    assert await admin_db.fetchval(
        "select role from organization_membership where user_id = $1 and organization_id = $2",
        two_orgs["carol"].user_id, two_orgs["b"],
    ) == "MEMBER"


async def test_transaction_runs_as_codex_app_with_settings(db, two_orgs):
    scope = TenantScope(user_id=two_orgs["alice"].user_id, organization_id=two_orgs["a"])
    async with db.transaction(scope) as session:
        row = (await session.execute(text(
            "select current_user, session_user, current_setting('codex.organization_id', true), "
            "current_setting('codex.user_id', true)"
        ))).one()
    assert row[0] == APP_ROLE
    assert row[1] != APP_ROLE  # the login role is someone else; only the transaction is switched
    assert row[2] == str(two_orgs["a"])
    assert row[3] == str(two_orgs["alice"].user_id)
    # The settings are transaction-local: a new transaction with an empty scope carries none of them.
    async with db.transaction() as session:
        row = (await session.execute(text(
            "select current_user, current_setting('codex.organization_id', true), current_setting('codex.user_id', true)"
        ))).one()
    assert tuple(row) == (APP_ROLE, "", "")


async def test_scope_does_not_leak_to_the_next_transaction_on_a_pooled_connection(db, two_orgs):
    # The fixture's pool is tiny, so the second transaction reuses the first one's connection.
    assert await _membership_rows(db, TenantScope(organization_id=two_orgs["a"]))
    async with db.engine.connect() as conn:  # a raw connection, no tenant scope applied
        row = (await conn.execute(text(
            "select current_user <> 'codex_app', coalesce(current_setting('codex.organization_id', true), '')"
        ))).one()
    assert tuple(row) == (True, "")


async def test_codex_app_is_unprivileged_and_owns_nothing(admin_db):
    role = await admin_db.fetchrow(
        "select rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb from pg_roles where rolname = $1", APP_ROLE
    )
    assert role is not None
    assert dict(role) == {"rolsuper": False, "rolbypassrls": False, "rolcanlogin": False,
                          "rolcreaterole": False, "rolcreatedb": False}
    owned = await admin_db.fetch("select tablename from pg_tables where schemaname = 'public' and tableowner = $1", APP_ROLE)
    assert owned == []
    owner = await admin_db.fetchval("select tableowner from pg_tables where tablename = 'organization_membership'")
    assert owner != APP_ROLE


async def test_every_tenant_table_has_forced_rls(admin_db):
    rows = await admin_db.fetch(
        """
        select c.relname, c.relrowsecurity, c.relforcerowsecurity
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
        where n.nspname = 'public' and c.relkind in ('r', 'p')
        """
    )
    tables = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows}
    # No exemptions: the platform-wide tables are covered like every other (tests/db/test_platform_scope.py).
    assert {"organization_membership", "outbox_message", "stripe_event", "idempotency_record"} <= set(tables)
    for name, (enabled, forced) in tables.items():
        assert enabled and forced, f"{name} has organization_id but row-level security is not enabled and forced"
        policies = await admin_db.fetchval("select count(*) from pg_policies where schemaname = 'public' and tablename = $1", name)
        assert policies > 0, f"{name} has RLS but no policy"
    # The models' list of tenant tables agrees with the database.
    assert set(TENANT_TABLES) == set(tables)


async def test_codex_app_has_grants_on_every_public_table(admin_db):
    missing = await admin_db.fetch(
        "select tablename from pg_tables where schemaname = 'public' and tablename <> 'alembic_version' "
        "and not has_table_privilege($1, format('%I.%I', schemaname, tablename), 'SELECT')", APP_ROLE,
    )
    assert [r["tablename"] for r in missing] == []


def _functions_touching_membership(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            segment = ast.get_source_segment(source, node) or ""
            if "OrganizationMembership" in segment:
                found[node.name] = segment
    return found


def test_organization_repository_scopes_through_in_organization():
    source = (ROOT / "codex_graphql/organizations/repository.py").read_text()
    assert "from codex_graphql.authz import in_organization" in source
    functions = _functions_touching_membership(source)
    assert functions, "the repository no longer reads memberships?"
    # Documented exceptions: the viewer's own memberships (by user id, across organizations, which RLS
    # admits through the user policy) and a lookup by primary key (RLS limits it; node() re-checks).
    exempt = {"memberships_of_user", "membership_by_id"}
    for name, body in functions.items():
        if name in exempt:
            continue
        assert "in_organization(" in body, f"repository.{name} queries a tenant table without in_organization"
    # And nowhere does the repository filter on organization_id by hand.
    assert "OrganizationMembership.organization_id ==" not in source.replace("Organization.id == OrganizationMembership.organization_id", "")


def test_in_organization_adds_the_filter():
    from sqlalchemy import select

    from codex_graphql.authz import in_organization
    from codex_graphql.organizations.models import OrganizationMembership

    org = uuid.uuid4()
    statement = in_organization(select(OrganizationMembership), OrganizationMembership, org)
    compiled = statement.compile()
    assert "organization_membership.organization_id = " in str(compiled)
    assert org in compiled.params.values()
