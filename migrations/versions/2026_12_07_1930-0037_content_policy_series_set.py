"""content policy: a bought series' items as one set per statement, not a nested row-level-security join per row

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 19:30:00+00:00

0034 admitted the items of a bought series to ``content``'s read policy with a correlated EXISTS over
``series_item``, ``series`` and ``content_entitlement``, each under its own policy (the series' own readers look
up entitlements again). Every statement reading ``content`` carried that nest: hundreds of InitPlans and several
milliseconds of planning, for a source of access few rows use.

The same rule now reads ``id IN (SELECT codex_series_bought_items())``: a SECURITY DEFINER set function (fixed
search_path) listing the items of the series whose offer the *verified* scope's user holds a live entitlement
to, read once per statement (a hashed subplan) and only when the cheaper conditions before it fail. It takes no
argument: the user comes from ``codex_scope()``, which checks the scope's tag, so no caller can ask for another
user's items. The rule itself is unchanged (``content.access.bought_series_sql``).
"""

from collections.abc import Sequence

from alembic import op

from codex_graphql.migration_helpers import SCOPED_ORG, SCOPED_USER

revision: str = '0037'
down_revision: str | None = '0036'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = "codex_series_bought_items()"
FUNCTION = """
CREATE FUNCTION codex_series_bought_items() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT si.content_id
  FROM content_entitlement se
  JOIN series s ON s.offer_content_id = se.content_id
  JOIN series_item si ON si.series_id = s.id
  WHERE se.user_id = nullif((public.codex_scope())[1], '')::uuid AND se.revoked_at IS NULL
$$"""

CATALOGUE = f"organization_id = {SCOPED_ORG} OR (status = 'PUBLISHED' AND deleted_at IS NULL)"
ENTITLED = (f"EXISTS (SELECT 1 FROM content_entitlement e WHERE e.content_id = content.id "  # noqa: S608
            f"AND e.user_id = {SCOPED_USER} AND e.revoked_at IS NULL)")
BOUGHT_SERIES_SET = f"id IN (SELECT {SIGNATURE})"
BOUGHT_SERIES_NEST = (f"EXISTS (SELECT 1 FROM series_item si JOIN series s ON s.id = si.series_id "  # noqa: S608
                      f"JOIN content_entitlement se ON se.content_id = s.offer_content_id "
                      f"WHERE si.content_id = content.id AND se.user_id = {SCOPED_USER} AND se.revoked_at IS NULL)")


def upgrade() -> None:
    op.execute(FUNCTION)
    # Executable by everyone (the default): a policy runs as whichever role reads ``content`` (the app role, the
    # owner of a SECURITY DEFINER reader such as codex_content_preview, ...), and the function answers only
    # the verified scope's own user.
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({CATALOGUE} OR {ENTITLED} OR {BOUGHT_SERIES_SET})")


def downgrade() -> None:
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({CATALOGUE} OR {ENTITLED} OR {BOUGHT_SERIES_NEST})")
    op.execute(f"DROP FUNCTION {SIGNATURE}")
