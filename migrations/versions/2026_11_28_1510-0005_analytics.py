"""analytics: content views, purchase summaries maintained by triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 15:10:22.139355+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    CURRENT_ORG,
    CURRENT_USER,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

SUMMARIES = ("purchase_daily_stats", "customer_summary", "content_sales_summary")

# Summaries are written only by these functions. They are SECURITY DEFINER (owned by the migration
# user, fixed search_path) so that codex_app needs nothing but SELECT on the summaries and cannot
# tamper with them. Row-level security still applies to the owner because the tables FORCE it (unless
# the owner is a superuser): the write policy admits rows of the transaction's organization, which is
# exactly the organization of the purchase row the trigger fires for (the purchase table's own policy
# already required it). The rebuild functions check the organization against the transaction's scope
# themselves, since a superuser owner would bypass the policies.
#
# Amounts are minor units net of tax (amount_cents - tax_cents), like Content.revenueCents. FREE and
# GRANT purchases have amount 0: they count as purchases and add no revenue. A purchase counts on the
# local day (organization.timezone) it was created; its refund counts on the local day of refunded_at.
FUNCTIONS = r"""
CREATE FUNCTION analytics_bump_day(org uuid, d date, n_purchases int, gross bigint, n_refunds int, refunded bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO purchase_daily_stats AS s (organization_id, day, purchases, gross_cents, refunds, refunded_cents)
  VALUES (org, d, n_purchases, gross, n_refunds, refunded)
  ON CONFLICT (organization_id, day) DO UPDATE SET
    purchases = s.purchases + EXCLUDED.purchases, gross_cents = s.gross_cents + EXCLUDED.gross_cents,
    refunds = s.refunds + EXCLUDED.refunds, refunded_cents = s.refunded_cents + EXCLUDED.refunded_cents
$$;
--split--
CREATE FUNCTION analytics_purchase_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  tz text;
  new_net bigint := NEW.amount_cents - NEW.tax_cents;
  new_kept bigint := CASE WHEN NEW.status = 'COMPLETED' THEN NEW.amount_cents - NEW.tax_cents ELSE 0 END;
  new_refunded int := CASE WHEN NEW.status = 'REFUNDED' THEN 1 ELSE 0 END;
  old_net bigint;
  old_kept bigint;
  old_refunded int;
BEGIN
  SELECT o.timezone INTO tz FROM organization o WHERE o.id = NEW.organization_id;
  tz := coalesce(tz, 'UTC');
  IF TG_OP = 'INSERT' THEN
    PERFORM analytics_bump_day(NEW.organization_id, (NEW.created_at AT TIME ZONE tz)::date, 1, new_net, 0, 0);
    IF new_refunded = 1 THEN
      PERFORM analytics_bump_day(NEW.organization_id,
        (coalesce(NEW.refunded_at, NEW.created_at) AT TIME ZONE tz)::date, 0, 0, 1, new_net);
    END IF;
    INSERT INTO customer_summary AS c (organization_id, user_id, first_purchase_at, last_purchase_at,
                                       purchase_count, total_spent_cents)
    VALUES (NEW.organization_id, NEW.user_id, NEW.created_at, NEW.created_at, 1, new_kept)
    ON CONFLICT (organization_id, user_id) DO UPDATE SET
      first_purchase_at = least(c.first_purchase_at, EXCLUDED.first_purchase_at),
      last_purchase_at = greatest(c.last_purchase_at, EXCLUDED.last_purchase_at),
      purchase_count = c.purchase_count + 1, total_spent_cents = c.total_spent_cents + EXCLUDED.total_spent_cents;
    INSERT INTO content_sales_summary AS s (organization_id, content_id, purchases, revenue_cents, refunds)
    VALUES (NEW.organization_id, NEW.content_id, 1, new_kept, new_refunded)
    ON CONFLICT (organization_id, content_id) DO UPDATE SET
      purchases = s.purchases + 1, revenue_cents = s.revenue_cents + EXCLUDED.revenue_cents,
      refunds = s.refunds + EXCLUDED.refunds;
    RETURN NULL;
  END IF;

  -- UPDATE: take the old row's contribution out and put the new one's in.
  IF OLD.status = NEW.status AND OLD.refunded_at IS NOT DISTINCT FROM NEW.refunded_at
     AND OLD.amount_cents = NEW.amount_cents AND OLD.tax_cents = NEW.tax_cents THEN
    RETURN NULL;
  END IF;
  old_net := OLD.amount_cents - OLD.tax_cents;
  old_kept := CASE WHEN OLD.status = 'COMPLETED' THEN old_net ELSE 0 END;
  old_refunded := CASE WHEN OLD.status = 'REFUNDED' THEN 1 ELSE 0 END;
  IF new_net <> old_net THEN
    PERFORM analytics_bump_day(NEW.organization_id, (NEW.created_at AT TIME ZONE tz)::date, 0, new_net - old_net, 0, 0);
  END IF;
  IF old_refunded = 1 THEN
    PERFORM analytics_bump_day(OLD.organization_id,
      (coalesce(OLD.refunded_at, OLD.created_at) AT TIME ZONE tz)::date, 0, 0, -1, -old_net);
  END IF;
  IF new_refunded = 1 THEN
    PERFORM analytics_bump_day(NEW.organization_id,
      (coalesce(NEW.refunded_at, NEW.created_at) AT TIME ZONE tz)::date, 0, 0, 1, new_net);
  END IF;
  UPDATE customer_summary SET total_spent_cents = total_spent_cents + new_kept - old_kept
  WHERE organization_id = NEW.organization_id AND user_id = NEW.user_id;
  UPDATE content_sales_summary SET revenue_cents = revenue_cents + new_kept - old_kept,
    refunds = refunds + new_refunded - old_refunded
  WHERE organization_id = NEW.organization_id AND content_id = NEW.content_id;
  RETURN NULL;
END $$;
--split--
CREATE FUNCTION analytics_check_scope(org uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF org IS DISTINCT FROM nullif(current_setting('codex.organization_id', true), '')::uuid THEN
    RAISE EXCEPTION 'organization % is not the organization of this transaction', org USING ERRCODE = '42501';
  END IF;
END $$;
--split--
CREATE FUNCTION analytics_rebuild_daily(org uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  tz text;
BEGIN
  PERFORM analytics_check_scope(org);
  SELECT o.timezone INTO tz FROM organization o WHERE o.id = org;
  tz := coalesce(tz, 'UTC');
  DELETE FROM purchase_daily_stats WHERE organization_id = org;
  INSERT INTO purchase_daily_stats (organization_id, day, purchases, gross_cents, refunds, refunded_cents)
  SELECT org, d, sum(n_p), sum(g), sum(n_r), sum(r) FROM (
    SELECT (p.created_at AT TIME ZONE tz)::date AS d, 1 AS n_p, (p.amount_cents - p.tax_cents)::bigint AS g,
           0 AS n_r, 0::bigint AS r
    FROM purchase p WHERE p.organization_id = org
    UNION ALL
    SELECT (coalesce(p.refunded_at, p.created_at) AT TIME ZONE tz)::date, 0, 0, 1, p.amount_cents - p.tax_cents
    FROM purchase p WHERE p.organization_id = org AND p.status = 'REFUNDED'
  ) x GROUP BY d;
END $$;
--split--
CREATE FUNCTION analytics_rebuild(org uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM analytics_rebuild_daily(org);
  DELETE FROM customer_summary WHERE organization_id = org;
  INSERT INTO customer_summary (organization_id, user_id, first_purchase_at, last_purchase_at, purchase_count,
                                total_spent_cents)
  SELECT org, p.user_id, min(p.created_at), max(p.created_at), count(*),
         coalesce(sum(p.amount_cents - p.tax_cents) FILTER (WHERE p.status = 'COMPLETED'), 0)
  FROM purchase p WHERE p.organization_id = org GROUP BY p.user_id;
  DELETE FROM content_sales_summary WHERE organization_id = org;
  INSERT INTO content_sales_summary (organization_id, content_id, purchases, revenue_cents, refunds)
  SELECT org, p.content_id, count(*),
         coalesce(sum(p.amount_cents - p.tax_cents) FILTER (WHERE p.status = 'COMPLETED'), 0),
         count(*) FILTER (WHERE p.status = 'REFUNDED')
  FROM purchase p WHERE p.organization_id = org GROUP BY p.content_id;
END $$;
--split--
CREATE TRIGGER analytics_purchase_inserted AFTER INSERT ON purchase
  FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed();
--split--
CREATE TRIGGER analytics_purchase_updated AFTER UPDATE OF status, refunded_at, amount_cents, tax_cents ON purchase
  FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed();
--split--
REVOKE ALL ON FUNCTION analytics_bump_day(uuid, date, int, bigint, int, bigint) FROM PUBLIC;
--split--
REVOKE ALL ON FUNCTION analytics_purchase_changed() FROM PUBLIC;
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS analytics_purchase_updated ON purchase;
DROP TRIGGER IF EXISTS analytics_purchase_inserted ON purchase;
DROP FUNCTION IF EXISTS analytics_rebuild(uuid);
DROP FUNCTION IF EXISTS analytics_rebuild_daily(uuid);
DROP FUNCTION IF EXISTS analytics_check_scope(uuid);
DROP FUNCTION IF EXISTS analytics_purchase_changed();
DROP FUNCTION IF EXISTS analytics_bump_day(uuid, date, int, bigint, int, bigint);
"""


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('customer_summary',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('first_purchase_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_purchase_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purchase_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('total_spent_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_customer_summary_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_customer_summary_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'user_id', name=op.f('pk_customer_summary'))
    )
    op.create_index('ix_customer_summary_last', 'customer_summary', ['organization_id', 'last_purchase_at', 'user_id'], unique=False)
    op.create_index('ix_customer_summary_spent', 'customer_summary', ['organization_id', 'total_spent_cents', 'user_id'], unique=False)
    op.create_index(op.f('ix_customer_summary_user_id'), 'customer_summary', ['user_id'], unique=False)
    op.create_table('purchase_daily_stats',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('purchases', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('gross_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunded_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_purchase_daily_stats_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'day', name=op.f('pk_purchase_daily_stats'))
    )
    op.create_table('content_sales_summary',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('purchases', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunds', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_sales_summary_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_sales_summary_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'content_id', name=op.f('pk_content_sales_summary'))
    )
    op.create_index(op.f('ix_content_sales_summary_content_id'), 'content_sales_summary', ['content_id'], unique=False)
    op.create_index('ix_content_sales_summary_revenue', 'content_sales_summary', ['organization_id', 'revenue_cents', 'purchases'], unique=False)
    op.create_table('content_view',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_view_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_view_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_content_view_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'user_id', 'hour', name=op.f('pk_content_view'))
    )
    op.create_index(op.f('ix_content_view_organization_id'), 'content_view', ['organization_id'], unique=False)
    # ### end Alembic commands ###
    # Views: staff of the organization read them; a viewer inserts and reads their own rows.
    op.execute("ALTER TABLE content_view ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE content_view FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_read ON content_view FOR SELECT USING (organization_id = {CURRENT_ORG} "
               f"OR user_id = {CURRENT_USER})")
    op.execute(f"CREATE POLICY owner_insert ON content_view FOR INSERT WITH CHECK (user_id = {CURRENT_USER})")
    grant_app("content_view", "SELECT, INSERT")
    for table in SUMMARIES:
        enable_tenant_rls(table)
        grant_app(table, "SELECT")
    for statement in FUNCTIONS.split("--split--"):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_FUNCTIONS.strip().splitlines():
        op.execute(statement)
    for table in SUMMARIES:
        disable_tenant_rls(table)
        revoke_app(table)
    for policy in ("tenant_read", "owner_insert"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON content_view")
    revoke_app("content_view")
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index(op.f('ix_content_view_organization_id'), table_name='content_view')
    op.drop_table('content_view')
    op.drop_index('ix_content_sales_summary_revenue', table_name='content_sales_summary')
    op.drop_index(op.f('ix_content_sales_summary_content_id'), table_name='content_sales_summary')
    op.drop_table('content_sales_summary')
    op.drop_table('purchase_daily_stats')
    op.drop_index(op.f('ix_customer_summary_user_id'), table_name='customer_summary')
    op.drop_index('ix_customer_summary_spent', table_name='customer_summary')
    op.drop_index('ix_customer_summary_last', table_name='customer_summary')
    op.drop_table('customer_summary')
    # ### end Alembic commands ###
