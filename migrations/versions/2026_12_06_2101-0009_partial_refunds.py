"""partial refunds: refunded amounts, disputes, net revenue

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:00:00+00:00

A purchase keeps what was refunded of it (``refunded_amount_cents``, tax included, as the provider
counts it), the part of that net of tax (``refunded_net_cents``, what revenue figures subtract) and the
creator's part (``creator_refunded_cents``, what creator earnings subtract). Each refund is a
``purchase_refund`` row: reserved PENDING before the provider is called (so concurrent refunds of one
purchase cannot together exceed it), SUCCEEDED once the provider confirmed it, deduplicated by the
provider's refund id for the ``charge.refunded`` webhook.

The summary trigger of 0007 is replaced so that revenue is net of partial refunds, still incrementally:
a change of ``refunded_net_cents`` subtracts on the local day it happens (the transaction's ``now()``,
which is also the refund row's ``succeeded_at``), and a purchase that ends REFUNDED subtracts what was
not refunded in pieces before (all of it for revoked grants) on the local day of ``refunded_at``, as
before. The rebuild functions read the same pieces from ``purchase_refund``.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER_COLUMNS = "status, refunded_at, amount_cents, tax_cents, refunded_net_cents"

FUNCTION = r"""
CREATE OR REPLACE FUNCTION analytics_purchase_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  tz text;
  transaction_org text := current_setting('codex.organization_id', true);
  new_net bigint := NEW.amount_cents - NEW.tax_cents;
  -- Kept: net of tax and of refunds; nothing of a purchase that ended REFUNDED.
  new_kept bigint := CASE WHEN NEW.status = 'REFUNDED' THEN 0 ELSE NEW.amount_cents - NEW.tax_cents - NEW.refunded_net_cents END;
  new_refunded int := CASE WHEN NEW.status = 'REFUNDED' THEN 1 ELSE 0 END;
  -- What the final refund (or revocation) takes beyond the pieces refunded before it.
  new_rest bigint := CASE WHEN NEW.status = 'REFUNDED' THEN NEW.amount_cents - NEW.tax_cents - NEW.refunded_net_cents ELSE 0 END;
  old_net bigint;
  old_kept bigint;
  old_refunded int;
  old_rest bigint;
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.refunded_at IS NOT DISTINCT FROM NEW.refunded_at
     AND OLD.amount_cents = NEW.amount_cents AND OLD.tax_cents = NEW.tax_cents
     AND OLD.refunded_net_cents = NEW.refunded_net_cents THEN
    RETURN NULL;
  END IF;
  -- The purchase row passed its table's policy in this organization's scope when it was written.
  PERFORM set_config('codex.organization_id', NEW.organization_id::text, true);
  SELECT o.timezone INTO tz FROM organization o WHERE o.id = NEW.organization_id;
  tz := coalesce(tz, 'UTC');
  IF TG_OP = 'INSERT' THEN
    PERFORM analytics_bump_day(NEW.organization_id, (NEW.created_at AT TIME ZONE tz)::date, 1, new_net, 0, 0);
    IF NEW.refunded_net_cents <> 0 THEN
      PERFORM analytics_bump_day(NEW.organization_id, (now() AT TIME ZONE tz)::date, 0, 0, 0, NEW.refunded_net_cents);
    END IF;
    IF new_refunded = 1 THEN
      PERFORM analytics_bump_day(NEW.organization_id,
        (coalesce(NEW.refunded_at, NEW.created_at) AT TIME ZONE tz)::date, 0, 0, 1, new_rest);
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
  ELSE
    -- UPDATE: take the old row's contribution out and put the new one's in; a refunded piece counts
    -- on the day it happens.
    old_net := OLD.amount_cents - OLD.tax_cents;
    old_kept := CASE WHEN OLD.status = 'REFUNDED' THEN 0 ELSE old_net - OLD.refunded_net_cents END;
    old_refunded := CASE WHEN OLD.status = 'REFUNDED' THEN 1 ELSE 0 END;
    old_rest := CASE WHEN OLD.status = 'REFUNDED' THEN old_net - OLD.refunded_net_cents ELSE 0 END;
    IF new_net <> old_net THEN
      PERFORM analytics_bump_day(NEW.organization_id, (NEW.created_at AT TIME ZONE tz)::date, 0, new_net - old_net, 0, 0);
    END IF;
    IF NEW.refunded_net_cents <> OLD.refunded_net_cents THEN
      PERFORM analytics_bump_day(NEW.organization_id, (now() AT TIME ZONE tz)::date, 0, 0, 0,
        NEW.refunded_net_cents - OLD.refunded_net_cents);
    END IF;
    IF old_refunded = 1 THEN
      PERFORM analytics_bump_day(OLD.organization_id,
        (coalesce(OLD.refunded_at, OLD.created_at) AT TIME ZONE tz)::date, 0, 0, -1, -old_rest);
    END IF;
    IF new_refunded = 1 THEN
      PERFORM analytics_bump_day(NEW.organization_id,
        (coalesce(NEW.refunded_at, NEW.created_at) AT TIME ZONE tz)::date, 0, 0, 1, new_rest);
    END IF;
    UPDATE customer_summary SET total_spent_cents = total_spent_cents + new_kept - old_kept
    WHERE organization_id = NEW.organization_id AND user_id = NEW.user_id;
    UPDATE content_sales_summary SET revenue_cents = revenue_cents + new_kept - old_kept,
      refunds = refunds + new_refunded - old_refunded
    WHERE organization_id = NEW.organization_id AND content_id = NEW.content_id;
  END IF;
  PERFORM set_config('codex.organization_id', coalesce(transaction_org, ''), true);
  RETURN NULL;
END $$;
"""

REBUILD = r"""
CREATE OR REPLACE FUNCTION analytics_rebuild_daily(org uuid) RETURNS void
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
    SELECT (f.succeeded_at AT TIME ZONE tz)::date, 0, 0, 0, f.net_cents
    FROM purchase_refund f WHERE f.organization_id = org AND f.status = 'SUCCEEDED' AND f.net_cents <> 0
    UNION ALL
    SELECT (coalesce(p.refunded_at, p.created_at) AT TIME ZONE tz)::date, 0, 0, 1,
           p.amount_cents - p.tax_cents - p.refunded_net_cents
    FROM purchase p WHERE p.organization_id = org AND p.status = 'REFUNDED'
  ) x GROUP BY d;
END $$;
--split--
CREATE OR REPLACE FUNCTION analytics_rebuild(org uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM analytics_rebuild_daily(org);
  DELETE FROM customer_summary WHERE organization_id = org;
  INSERT INTO customer_summary (organization_id, user_id, first_purchase_at, last_purchase_at, purchase_count,
                                total_spent_cents)
  SELECT org, p.user_id, min(p.created_at), max(p.created_at), count(*),
         coalesce(sum(p.amount_cents - p.tax_cents - p.refunded_net_cents) FILTER (WHERE p.status <> 'REFUNDED'), 0)
  FROM purchase p WHERE p.organization_id = org GROUP BY p.user_id;
  DELETE FROM content_sales_summary WHERE organization_id = org;
  INSERT INTO content_sales_summary (organization_id, content_id, purchases, revenue_cents, refunds)
  SELECT org, p.content_id, count(*),
         coalesce(sum(p.amount_cents - p.tax_cents - p.refunded_net_cents) FILTER (WHERE p.status <> 'REFUNDED'), 0),
         count(*) FILTER (WHERE p.status = 'REFUNDED')
  FROM purchase p WHERE p.organization_id = org GROUP BY p.content_id;
END $$;
"""


DROP_TRIGGERS = ["DROP TRIGGER IF EXISTS analytics_purchase_updated ON purchase",
                 "DROP TRIGGER IF EXISTS analytics_purchase_inserted ON purchase"]


def _create_triggers(columns: str) -> None:
    op.execute("CREATE CONSTRAINT TRIGGER analytics_purchase_inserted AFTER INSERT ON purchase "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed()")
    op.execute(f"CREATE CONSTRAINT TRIGGER analytics_purchase_updated AFTER UPDATE OF {columns} ON purchase "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed()")


def _earlier(name: str) -> object:
    """An earlier revision's module (their file names are not importable names)."""
    path = next(Path(__file__).parent.glob(f"*-{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"codex_revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    for statement in DROP_TRIGGERS:  # (a column named in a trigger cannot change its type)
        op.execute(statement)
    op.alter_column('purchase', 'status', existing_type=sa.String(length=16), type_=sa.String(length=20),
                    existing_nullable=False)
    for column in ('refunded_amount_cents', 'refunded_net_cents', 'creator_refunded_cents'):
        op.add_column('purchase', sa.Column(column, sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.add_column('purchase', sa.Column('dispute_id', sa.String(length=255), nullable=True))
    op.add_column('purchase', sa.Column('dispute_status', sa.Enum('OPEN', 'WON', 'LOST', name='dispute_status',
                                                                  native_enum=False, length=16), nullable=True))
    op.create_check_constraint(op.f('ck_purchase_refund_within_amount'), 'purchase',
                               'refunded_amount_cents >= 0 AND refunded_amount_cents <= amount_cents')
    op.create_check_constraint(op.f('ck_purchase_creator_refund_within_share'), 'purchase',
                               'creator_refunded_cents >= 0 AND creator_refunded_cents <= creator_share_cents')
    op.create_table('purchase_refund',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('purchase_id', sa.UUID(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('net_cents', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('creator_cents', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'SUCCEEDED', 'FAILED', name='refund_status', native_enum=False, length=16), nullable=False),
    sa.Column('source', sa.Enum('API', 'STRIPE', 'DISPUTE', name='refund_source', native_enum=False, length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=400), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('provider_refund_id', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('requested_by_id', sa.UUID(), nullable=True),
    sa.Column('succeeded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_purchase_refund_amount_positive')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_purchase_refund_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchase.id'], name=op.f('fk_purchase_refund_purchase_id_purchase'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_purchase_refund_requested_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_refund'))
    )
    op.create_index('ix_purchase_refund_purchase', 'purchase_refund', ['purchase_id', 'status'], unique=False)
    op.create_index('uq_purchase_refund_key', 'purchase_refund', ['organization_id', 'idempotency_key'], unique=True)
    op.create_index('uq_purchase_refund_provider_id', 'purchase_refund', ['provider_refund_id'], unique=True,
                    postgresql_where=sa.text('provider_refund_id IS NOT NULL'))
    enable_tenant_rls('purchase_refund')
    grant_app('purchase_refund', 'SELECT, INSERT, UPDATE')
    # Who acted when no person did: `stripe` for changes the payment provider reported.
    op.add_column('audit_log_entry', sa.Column('actor_service', sa.String(length=40), nullable=True))
    op.execute(FUNCTION)
    for statement in REBUILD.split("--split--"):
        op.execute(statement)
    _create_triggers(TRIGGER_COLUMNS)


def downgrade() -> None:
    for statement in DROP_TRIGGERS:
        op.execute(statement)
    op.execute(_earlier("0007").FUNCTION)  # type: ignore[attr-defined]
    for statement in _earlier("0005").FUNCTIONS.split("--split--"):  # type: ignore[attr-defined]
        if statement.strip().startswith("CREATE FUNCTION analytics_rebuild"):
            op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.drop_column('audit_log_entry', 'actor_service')
    revoke_app('purchase_refund')
    disable_tenant_rls('purchase_refund')
    op.drop_index('uq_purchase_refund_provider_id', table_name='purchase_refund',
                  postgresql_where=sa.text('provider_refund_id IS NOT NULL'))
    op.drop_index('uq_purchase_refund_key', table_name='purchase_refund')
    op.drop_index('ix_purchase_refund_purchase', table_name='purchase_refund')
    op.drop_table('purchase_refund')
    op.drop_constraint(op.f('ck_purchase_creator_refund_within_share'), 'purchase', type_='check')
    op.drop_constraint(op.f('ck_purchase_refund_within_amount'), 'purchase', type_='check')
    for column in ('dispute_status', 'dispute_id', 'creator_refunded_cents', 'refunded_net_cents', 'refunded_amount_cents'):
        op.drop_column('purchase', column)
    # Partially refunded purchases keep their access: COMPLETED again (their refunded amounts are gone).
    op.execute("UPDATE purchase SET status = 'COMPLETED' WHERE status = 'PARTIALLY_REFUNDED'")
    op.alter_column('purchase', 'status', existing_type=sa.String(length=20), type_=sa.String(length=16),
                    existing_nullable=False)
    _create_triggers("status, refunded_at, amount_cents, tax_cents")
