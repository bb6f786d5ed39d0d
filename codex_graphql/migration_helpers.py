"""Helpers for migrations: the application role, grants and tenant row-level security."""

from __future__ import annotations

from alembic import op

from codex_graphql.db import APP_ROLE

# The scope as migrations 0001-0015 wrote it into policies (they import these names, so they stay as
# they ran). From 0016 on the scope is authenticated (``codex_set_scope`` checks the app's proof) and
# policies must read it through the functions below; test_db_role fails on a policy that reads the
# plain settings. New migrations call ``enable_tenant_rls(..., scoped=True)``.
CURRENT_ORG = "(select nullif(current_setting('codex.organization_id', true), '')::uuid)"
CURRENT_USER = "(select nullif(current_setting('codex.user_id', true), '')::uuid)"
SCOPED_ORG = "(select codex_current_org())"
SCOPED_USER = "(select codex_current_user())"
SCOPED_PLATFORM = "(select codex_platform())"


def create_app_role() -> None:
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        -- Roles belong to the cluster: a migration of another database running at the same time may have
        -- created it between the check and CREATE ROLE.
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
    """)
    # The login role must be able to `set role codex_app`.
    op.execute(f"""
        DO $$ BEGIN
          IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
            EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
          END IF;
        EXCEPTION WHEN unique_violation THEN NULL;  -- granted by a concurrent migration
        END $$;
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")


def grant_app(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    op.execute(f"GRANT {privileges} ON TABLE {table} TO {APP_ROLE}")


def revoke_app(table: str) -> None:
    op.execute(f"REVOKE ALL ON TABLE {table} FROM {APP_ROLE}")


def enable_tenant_rls(table: str, *, readable_by_owner_column: str | None = None, scoped: bool = False) -> None:
    """Enable and force RLS: rows of the transaction's organization only.

    ``scoped``: read the authenticated scope functions (every migration after 0016 must).
    ``readable_by_owner_column`` additionally lets a user read (never write) rows that name them,
    e.g. their own memberships or purchases across organizations.
    """
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    org, user = (SCOPED_ORG, SCOPED_USER) if scoped else (CURRENT_ORG, CURRENT_USER)
    read = f"organization_id = {org}"
    if readable_by_owner_column:
        read += f" OR {readable_by_owner_column} = {user}"
    op.execute(f"CREATE POLICY tenant_read ON {table} FOR SELECT USING ({read})")
    op.execute(
        f"CREATE POLICY tenant_write ON {table} FOR ALL USING (organization_id = {org}) "
        f"WITH CHECK (organization_id = {org})"
    )


def disable_tenant_rls(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_read ON {table}")
    op.execute(f"DROP POLICY IF EXISTS tenant_write ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
