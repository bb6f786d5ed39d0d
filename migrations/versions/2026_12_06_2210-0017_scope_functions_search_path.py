"""scope functions: schema-qualified calls, so they work under any search_path

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 22:10:00+00:00

``codex_current_user()``, ``codex_current_org()`` and ``codex_platform()`` (migration 0016) called
``codex_scope()`` unqualified. Under an empty search_path, which is what ``pg_dump`` sets, every
policy that reads them failed with "function codex_scope() does not exist", so a dump taken with
``--enable-row-security`` could not be made. The bodies are the same with the call qualified; they
stay plain SQL functions (no SET clause), so the planner can still inline them.
"""

from collections.abc import Sequence

from alembic import op

from codex_graphql.db import APP_ROLE

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLES = f"'{APP_ROLE}', 'codex_api'"


def _functions(scope: str) -> list[str]:
    return [
        f"""
CREATE OR REPLACE FUNCTION public.codex_current_user() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_user IN ({API_ROLES}) THEN nullif(({scope}())[1], '')::uuid
              ELSE nullif(current_setting('codex.user_id', true), '')::uuid END $$""",
        f"""
CREATE OR REPLACE FUNCTION public.codex_current_org() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_user IN ({API_ROLES}) THEN nullif(({scope}())[2], '')::uuid
              ELSE nullif(current_setting('codex.organization_id', true), '')::uuid END $$""",
        f"""
CREATE OR REPLACE FUNCTION public.codex_platform() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_user IN ({API_ROLES}) THEN coalesce(({scope}())[3] = 'on', false)
              ELSE coalesce(current_setting('codex.platform', true) = 'on', false) END $$""",
    ]


def upgrade() -> None:
    for statement in _functions("public.codex_scope"):
        op.execute(statement)


def downgrade() -> None:
    for statement in _functions("codex_scope"):
        op.execute(statement)
