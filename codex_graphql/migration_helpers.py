"""Helpers for migrations: the application role, grants and tenant row-level security."""

from __future__ import annotations

from alembic import op

from codex_graphql.db import APP_ROLE

CURRENT_ORG = "(select nullif(current_setting('codex.organization_id', true), '')::uuid)"
CURRENT_USER = "(select nullif(current_setting('codex.user_id', true), '')::uuid)"


def create_app_role() -> None:
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$;
    """)
    # The login role must be able to `set role codex_app`.
    op.execute(f"""
        DO $$ BEGIN
          IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
            EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
          END IF;
        END $$;
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")


def grant_app(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    op.execute(f"GRANT {privileges} ON TABLE {table} TO {APP_ROLE}")


def revoke_app(table: str) -> None:
    op.execute(f"REVOKE ALL ON TABLE {table} FROM {APP_ROLE}")


def enable_tenant_rls(table: str, *, readable_by_owner_column: str | None = None) -> None:
    """Enable and force RLS: rows of the transaction's organization only.

    ``readable_by_owner_column`` additionally lets a user read (never write) rows that name them,
    e.g. their own memberships or purchases across organizations.
    """
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    read = f"organization_id = {CURRENT_ORG}"
    if readable_by_owner_column:
        read += f" OR {readable_by_owner_column} = {CURRENT_USER}"
    op.execute(f"CREATE POLICY tenant_read ON {table} FOR SELECT USING ({read})")
    op.execute(
        f"CREATE POLICY tenant_write ON {table} FOR ALL USING (organization_id = {CURRENT_ORG}) "
        f"WITH CHECK (organization_id = {CURRENT_ORG})"
    )


def disable_tenant_rls(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_read ON {table}")
    op.execute(f"DROP POLICY IF EXISTS tenant_write ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
