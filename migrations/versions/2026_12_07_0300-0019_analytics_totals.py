"""analytics totals: the customer count of an organization kept by triggers instead of counted per read

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:00:00+00:00

``Analytics.customerCount`` counted the organization's ``customer_summary`` rows on every dashboard read
(an index or sequential scan growing with the customers: the one figure of the dashboard that read rows
in proportion to the data). ``analytics_totals.customers`` now holds that count, moved by statement-level
triggers on ``customer_summary`` itself (transition tables, one upsert per organization and statement),
so every way a row appears or goes moves it exactly once: the purchase trigger's upsert (only rows really
inserted count; ``ON CONFLICT DO UPDATE`` rows are updates), the rebuild functions (delete, then insert),
cascades from a deleted user or organization. ``TRUNCATE customer_summary`` zeroes it.

The function is SECURITY DEFINER like the other summary writers (codex_app may only read the table); it
takes each organization as the transaction's plain ``codex.organization_id`` while it writes (the write
policy's organization for a definer that is not a superuser) and restores the previous value.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = r"""
CREATE FUNCTION analytics_customers_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  previous text := current_setting('codex.organization_id', true);
  r record;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE analytics_totals SET customers = 0;
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    FOR r IN SELECT n.organization_id AS org, count(*) AS n FROM inserted n GROUP BY n.organization_id LOOP
      PERFORM set_config('codex.organization_id', r.org::text, true);
      INSERT INTO analytics_totals AS t (organization_id, customers) VALUES (r.org, r.n)
      ON CONFLICT (organization_id) DO UPDATE SET customers = t.customers + EXCLUDED.customers;
    END LOOP;
  ELSE
    FOR r IN SELECT o.organization_id AS org, count(*) AS n FROM removed o GROUP BY o.organization_id LOOP
      PERFORM set_config('codex.organization_id', r.org::text, true);
      UPDATE analytics_totals SET customers = customers - r.n WHERE organization_id = r.org;
    END LOOP;
  END IF;
  PERFORM set_config('codex.organization_id', coalesce(previous, ''), true);
  RETURN NULL;
END $$"""

TRIGGERS = (
    "CREATE TRIGGER analytics_customers_inserted AFTER INSERT ON customer_summary REFERENCING NEW TABLE AS inserted "
    "FOR EACH STATEMENT EXECUTE FUNCTION analytics_customers_changed()",
    "CREATE TRIGGER analytics_customers_deleted AFTER DELETE ON customer_summary REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION analytics_customers_changed()",
    "CREATE TRIGGER analytics_customers_truncated AFTER TRUNCATE ON customer_summary "
    "FOR EACH STATEMENT EXECUTE FUNCTION analytics_customers_changed()",
)

# Counted once per organization in that organization's scope (customer_summary forces its policies on a
# table owner that is not a superuser).
BACKFILL = """
DO $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT id FROM organization LOOP
    PERFORM set_config('codex.organization_id', o.id::text, true);
    INSERT INTO analytics_totals (organization_id, customers)
    SELECT o.id, count(*) FROM customer_summary s WHERE s.organization_id = o.id;
  END LOOP;
  PERFORM set_config('codex.organization_id', '', true);
END $$"""


def upgrade() -> None:
    op.create_table('analytics_totals',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('customers', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_analytics_totals_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_analytics_totals'))
    )
    enable_tenant_rls('analytics_totals', scoped=True)
    grant_app('analytics_totals', 'SELECT')
    op.execute(FUNCTION)
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)


def downgrade() -> None:
    for name in ("analytics_customers_truncated", "analytics_customers_deleted", "analytics_customers_inserted"):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON customer_summary")
    op.execute("DROP FUNCTION IF EXISTS analytics_customers_changed()")
    disable_tenant_rls('analytics_totals')
    revoke_app('analytics_totals')
    op.drop_table('analytics_totals')
