"""creators: dashboard summaries, subscription pool, Stripe Connect payout accounts, payouts and statements

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 21:00:00+00:00

The ledger (0036) gains ``basis_cents`` (the whole a row is a part of: a sale's net, a refund piece's net, a
period's subscription revenue) and ``period_start`` (SUBSCRIPTION rows: the pool period they close). A new kind,
SUBSCRIPTION, records each party's part of a period's subscription revenue: the platform fee, each creator's part
of the organization's creator pool (divided by plays), the organization's rest; one row per party, item and
period (a unique index makes the closing job safe to run twice).

Summaries kept by triggers, so every figure of a creator's dashboard costs rows per day, never a scan:
- ``creator_item_daily``: per creator, item, UTC day and currency: sales, their gross (net of tax), what the
  creator earned, gave back to refunds and disputes, and received from the subscription pool;
- ``content_play_daily``: per item and UTC day: plays (``content_view`` rows, one per viewer and hour) and
  completions (a viewer's position crossing 90 % of the item's duration);
- ``creator_earning_summary`` gains ``pool_cents``, ``gross_cents`` (the gross of the sales the creator had a part
  of, net of tax), ``refunded_gross_cents`` (of it, what refunds and disputes returned), ``pending_payout_cents``
  and ``paid_out_cents`` (the last two kept by a trigger on ``payout``), so a creator's balance is one row.

``creator_payout_account``: a person's Stripe Connect (Express) account, one per person for every organization
(read and created by its owner, kept by ``account.updated`` webhooks under the platform scope).
``payout``: one transfer per organization, creator, currency and payout period (PENDING, PAID, FAILED).
``creator_statement``: a creator's monthly statement file, written by a job. ``creator_pool_period``: the
subscription pools a job closed (one row per organization, period and currency).

Row-level security: tenant tables readable by their organization and by the creator they name;
``content_play_daily`` also by the creators of the item (``codex_creator_items()``, a SECURITY DEFINER set of the
verified scope's user's own items, like 0037's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    SCOPED_ORG,
    SCOPED_PLATFORM,
    SCOPED_USER,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0038'
down_revision: str | None = '0037'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATOR_ITEMS = """
CREATE FUNCTION codex_creator_items() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id FROM content c WHERE c.creator_id = nullif((public.codex_scope())[1], '')::uuid
  UNION
  SELECT k.content_id FROM content_contributor k WHERE k.user_id = nullif((public.codex_scope())[1], '')::uuid
$$"""

# The ledger's creator rows move the creator's totals and their per item and day figures.
SUMMARY = """
CREATE OR REPLACE FUNCTION creator_earning_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  is_sale boolean := NEW.kind = 'SALE';
  is_pool boolean := NEW.kind = 'SUBSCRIPTION';
  taken bigint := CASE WHEN NEW.kind IN ('REFUND', 'DISPUTE') THEN -NEW.amount_cents ELSE 0 END;
BEGIN
  IF NEW.party <> 'CREATOR' THEN
    RETURN NULL;
  END IF;
  INSERT INTO creator_earning_summary AS s (organization_id, user_id, currency, sales, earned_cents, refunded_cents,
                                            pool_cents, gross_cents, refunded_gross_cents)
  VALUES (NEW.organization_id, NEW.user_id, NEW.currency, CASE WHEN is_sale THEN 1 ELSE 0 END,
          CASE WHEN is_sale THEN NEW.amount_cents ELSE 0 END, taken,
          CASE WHEN is_pool THEN NEW.amount_cents ELSE 0 END,
          CASE WHEN is_sale THEN coalesce(NEW.basis_cents, 0) ELSE 0 END,
          CASE WHEN NEW.kind IN ('REFUND', 'DISPUTE') THEN -coalesce(NEW.basis_cents, 0) ELSE 0 END)
  ON CONFLICT (organization_id, user_id, currency) DO UPDATE
    SET sales = s.sales + EXCLUDED.sales, earned_cents = s.earned_cents + EXCLUDED.earned_cents,
        refunded_cents = s.refunded_cents + EXCLUDED.refunded_cents, pool_cents = s.pool_cents + EXCLUDED.pool_cents,
        gross_cents = s.gross_cents + EXCLUDED.gross_cents,
        refunded_gross_cents = s.refunded_gross_cents + EXCLUDED.refunded_gross_cents;
  IF NEW.content_id IS NOT NULL THEN
    -- a pool row counts on the first day of the period it divides, not on the day the period was closed
    INSERT INTO creator_item_daily AS d (organization_id, user_id, content_id, day, currency, sales, gross_cents,
                                         earned_cents, refunded_cents, pool_cents)
    VALUES (NEW.organization_id, NEW.user_id, NEW.content_id,
            coalesce(NEW.period_start, (NEW.created_at AT TIME ZONE 'UTC')::date),
            NEW.currency, CASE WHEN is_sale THEN 1 ELSE 0 END,
            CASE WHEN is_sale THEN coalesce(NEW.basis_cents, 0) ELSE 0 END,
            CASE WHEN is_sale THEN NEW.amount_cents ELSE 0 END, taken,
            CASE WHEN is_pool THEN NEW.amount_cents ELSE 0 END)
    ON CONFLICT (organization_id, user_id, content_id, day, currency) DO UPDATE
      SET sales = d.sales + EXCLUDED.sales, gross_cents = d.gross_cents + EXCLUDED.gross_cents,
          earned_cents = d.earned_cents + EXCLUDED.earned_cents,
          refunded_cents = d.refunded_cents + EXCLUDED.refunded_cents, pool_cents = d.pool_cents + EXCLUDED.pool_cents;
  END IF;
  RETURN NULL;
END $$"""

SUMMARY_0036 = """
CREATE OR REPLACE FUNCTION creator_earning_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.party <> 'CREATOR' THEN
    RETURN NULL;
  END IF;
  INSERT INTO creator_earning_summary AS s (organization_id, user_id, currency, sales, earned_cents, refunded_cents)
  VALUES (NEW.organization_id, NEW.user_id, NEW.currency, CASE WHEN NEW.kind = 'SALE' THEN 1 ELSE 0 END,
          CASE WHEN NEW.kind = 'SALE' THEN NEW.amount_cents ELSE 0 END,
          CASE WHEN NEW.kind = 'SALE' THEN 0 ELSE -NEW.amount_cents END)
  ON CONFLICT (organization_id, user_id, currency) DO UPDATE
    SET sales = s.sales + EXCLUDED.sales, earned_cents = s.earned_cents + EXCLUDED.earned_cents,
        refunded_cents = s.refunded_cents + EXCLUDED.refunded_cents;
  RETURN NULL;
END $$"""

# A payout's amount counts as pending while PENDING and as paid out once PAID (a FAILED one as neither).
PAYOUT_SUMMARY = """
CREATE FUNCTION payout_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  pending bigint := 0;
  paid bigint := 0;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.status = 'PENDING' THEN pending := pending - OLD.amount_cents; END IF;
    IF OLD.status = 'PAID' THEN paid := paid - OLD.amount_cents; END IF;
  END IF;
  IF NEW.status = 'PENDING' THEN pending := pending + NEW.amount_cents; END IF;
  IF NEW.status = 'PAID' THEN paid := paid + NEW.amount_cents; END IF;
  IF pending = 0 AND paid = 0 THEN
    RETURN NULL;
  END IF;
  INSERT INTO creator_earning_summary AS s (organization_id, user_id, currency, pending_payout_cents, paid_out_cents)
  VALUES (NEW.organization_id, NEW.user_id, NEW.currency, pending, paid)
  ON CONFLICT (organization_id, user_id, currency) DO UPDATE
    SET pending_payout_cents = s.pending_payout_cents + EXCLUDED.pending_payout_cents,
        paid_out_cents = s.paid_out_cents + EXCLUDED.paid_out_cents;
  RETURN NULL;
END $$"""

# Plays: every content_view row (one per viewer, item and hour). Completions: a viewer's position crossing
# 90 % of the item's duration (again after rewinding counts again).
PLAYS = """
CREATE FUNCTION content_play_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO content_play_daily AS d (organization_id, content_id, day, plays)
  VALUES (NEW.organization_id, NEW.content_id, (NEW.created_at AT TIME ZONE 'UTC')::date, 1)
  ON CONFLICT (organization_id, content_id, day) DO UPDATE SET plays = d.plays + 1;
  RETURN NULL;
END $$"""

COMPLETIONS = """
CREATE FUNCTION content_completion_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  duration double precision;
BEGIN
  SELECT c.duration_seconds INTO duration FROM content c WHERE c.id = NEW.content_id;
  IF duration IS NULL OR duration <= 0 OR NEW.position_seconds < 0.9 * duration THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.position_seconds >= 0.9 * duration THEN
    RETURN NULL;
  END IF;
  INSERT INTO content_play_daily AS d (organization_id, content_id, day, completions)
  VALUES (NEW.organization_id, NEW.content_id, (now() AT TIME ZONE 'UTC')::date, 1)
  ON CONFLICT (organization_id, content_id, day) DO UPDATE SET completions = d.completions + 1;
  RETURN NULL;
END $$"""

POOL_ROWS = "uq_earning_entry_subscription"


def upgrade() -> None:
    op.add_column('earning_entry', sa.Column('basis_cents', sa.BigInteger(), nullable=True))
    op.add_column('earning_entry', sa.Column('period_start', sa.Date(), nullable=True))
    op.create_check_constraint(op.f('ck_earning_entry_subscription_period'), 'earning_entry',
                               "(kind = 'SUBSCRIPTION') = (period_start IS NOT NULL)")
    op.create_index(POOL_ROWS, 'earning_entry', ['organization_id', 'period_start', 'currency', 'party', 'user_id',
                                                 'content_id'], unique=True, postgresql_nulls_not_distinct=True,
                    postgresql_where=sa.text("kind = 'SUBSCRIPTION'"))
    for column in ('pool_cents', 'pending_payout_cents', 'paid_out_cents', 'gross_cents', 'refunded_gross_cents'):
        op.add_column('creator_earning_summary',
                      sa.Column(column, sa.BigInteger(), server_default=sa.text('0'), nullable=False))

    op.create_table('creator_item_daily',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('sales', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('gross_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('earned_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunded_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('pool_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_creator_item_daily_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_creator_item_daily_user_id_user_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_creator_item_daily_content_id_content'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'user_id', 'content_id', 'day', 'currency', name=op.f('pk_creator_item_daily')),
    )
    op.create_index('ix_creator_item_daily_user_day', 'creator_item_daily', ['user_id', 'day'], unique=False)
    op.create_index('ix_creator_item_daily_org_day', 'creator_item_daily', ['organization_id', 'day'], unique=False)

    op.create_table('content_play_daily',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('plays', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('completions', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_play_daily_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_play_daily_content_id_content'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'content_id', 'day', name=op.f('pk_content_play_daily')),
    )
    op.create_index('ix_content_play_daily_content_day', 'content_play_daily', ['content_id', 'day'], unique=False)

    op.create_table('creator_payout_account',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=255), nullable=False),
    sa.Column('details_submitted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('transfers_active', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('requirements', sa.dialects.postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('disabled_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_creator_payout_account_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_creator_payout_account')),
    sa.UniqueConstraint('provider', 'account_id', name=op.f('uq_creator_payout_account_provider_account_id')),
    )

    op.create_table('payout',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'PAID', 'FAILED', name='payout_status', native_enum=False, length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('attempt', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('account_id', sa.String(length=255), nullable=True),
    sa.Column('transfer_id', sa.String(length=255), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_payout_positive')),
    sa.CheckConstraint("(status = 'PAID') = (transfer_id IS NOT NULL AND paid_at IS NOT NULL)", name=op.f('ck_payout_paid_shape')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_payout_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_payout_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout')),
    sa.UniqueConstraint('organization_id', 'user_id', 'currency', 'period_start', name=op.f('uq_payout_organization_id_user_id_currency_period_start')),
    )
    op.create_index('ix_payout_org_created', 'payout', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_payout_user_created', 'payout', ['user_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_payout_pending', 'payout', ['organization_id'], unique=False,
                    postgresql_where=sa.text("status = 'PENDING'"))

    op.create_table('creator_statement',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'READY', 'FAILED', name='statement_status', native_enum=False, length=16), nullable=False),
    sa.Column('storage_key', sa.String(length=512), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.CheckConstraint("extract(day FROM month) = 1", name=op.f('ck_creator_statement_first_of_month')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_creator_statement_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_creator_statement_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creator_statement')),
    sa.UniqueConstraint('organization_id', 'user_id', 'month', name=op.f('uq_creator_statement_organization_id_user_id_month')),
    )
    op.create_index('ix_creator_statement_user', 'creator_statement', ['user_id'], unique=False)

    op.create_table('creator_pool_period',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=False),
    sa.Column('platform_cents', sa.BigInteger(), nullable=False),
    sa.Column('pool_cents', sa.BigInteger(), nullable=False),
    sa.Column('plays', sa.BigInteger(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_creator_pool_period_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'period_start', 'currency', name=op.f('pk_creator_pool_period')),
    )

    for table, privileges, owner in (('creator_item_daily', 'SELECT', 'user_id'),
                                     ('content_play_daily', 'SELECT', None),
                                     ('payout', 'SELECT, INSERT, UPDATE', 'user_id'),
                                     ('creator_statement', 'SELECT, INSERT, UPDATE', 'user_id'),
                                     ('creator_pool_period', 'SELECT, INSERT', None)):
        enable_tenant_rls(table, readable_by_owner_column=owner, scoped=True)
        grant_app(table, privileges)
    op.execute(CREATOR_ITEMS)
    op.execute("DROP POLICY tenant_read ON content_play_daily")
    op.execute(f"CREATE POLICY tenant_read ON content_play_daily FOR SELECT USING (organization_id = {SCOPED_ORG} "
               "OR content_id IN (SELECT codex_creator_items()))")

    op.execute("ALTER TABLE creator_payout_account ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE creator_payout_account FORCE ROW LEVEL SECURITY")
    own = f"user_id = {SCOPED_USER} OR {SCOPED_PLATFORM}"
    op.execute(f"CREATE POLICY owner_or_platform ON creator_payout_account FOR ALL USING ({own}) WITH CHECK ({own})")
    grant_app('creator_payout_account', 'SELECT, INSERT, UPDATE')

    op.execute(SUMMARY)
    op.execute(PAYOUT_SUMMARY)
    op.execute("REVOKE ALL ON FUNCTION payout_recorded() FROM PUBLIC")
    op.execute("CREATE TRIGGER payout_recorded AFTER INSERT OR UPDATE OF status, amount_cents ON payout "
               "FOR EACH ROW EXECUTE FUNCTION payout_recorded()")
    op.execute(PLAYS)
    op.execute("REVOKE ALL ON FUNCTION content_play_recorded() FROM PUBLIC")
    op.execute("CREATE TRIGGER content_play_recorded AFTER INSERT ON content_view "
               "FOR EACH ROW EXECUTE FUNCTION content_play_recorded()")
    op.execute(COMPLETIONS)
    op.execute("REVOKE ALL ON FUNCTION content_completion_recorded() FROM PUBLIC")
    op.execute("CREATE TRIGGER content_completion_recorded AFTER INSERT OR UPDATE OF position_seconds "
               "ON playback_position FOR EACH ROW EXECUTE FUNCTION content_completion_recorded()")
    # Plays recorded before this migration, so the dashboard's play figures start complete.
    op.execute("INSERT INTO content_play_daily (organization_id, content_id, day, plays) "
               "SELECT organization_id, content_id, (created_at AT TIME ZONE 'UTC')::date, count(*) "
               "FROM content_view GROUP BY 1, 2, 3")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS content_completion_recorded ON playback_position")
    op.execute("DROP FUNCTION IF EXISTS content_completion_recorded()")
    op.execute("DROP TRIGGER IF EXISTS content_play_recorded ON content_view")
    op.execute("DROP FUNCTION IF EXISTS content_play_recorded()")
    op.execute("DROP TRIGGER IF EXISTS payout_recorded ON payout")
    op.execute("DROP FUNCTION IF EXISTS payout_recorded()")
    op.execute(SUMMARY_0036)
    op.execute("DROP POLICY IF EXISTS owner_or_platform ON creator_payout_account")
    revoke_app('creator_payout_account')
    for table in ('creator_pool_period', 'creator_statement', 'payout', 'content_play_daily', 'creator_item_daily'):
        disable_tenant_rls(table)
        revoke_app(table)
    op.execute("DROP FUNCTION IF EXISTS codex_creator_items()")
    op.drop_table('creator_pool_period')
    op.drop_index('ix_creator_statement_user', table_name='creator_statement')
    op.drop_table('creator_statement')
    for index in ('ix_payout_pending', 'ix_payout_user_created', 'ix_payout_org_created'):
        op.drop_index(index, table_name='payout')
    op.drop_table('payout')
    op.drop_table('creator_payout_account')
    op.drop_index('ix_content_play_daily_content_day', table_name='content_play_daily')
    op.drop_table('content_play_daily')
    op.drop_index('ix_creator_item_daily_org_day', table_name='creator_item_daily')
    op.drop_index('ix_creator_item_daily_user_day', table_name='creator_item_daily')
    op.drop_table('creator_item_daily')
    for column in ('refunded_gross_cents', 'gross_cents', 'paid_out_cents', 'pending_payout_cents', 'pool_cents'):
        op.drop_column('creator_earning_summary', column)
    op.drop_index(POOL_ROWS, table_name='earning_entry')
    op.drop_constraint(op.f('ck_earning_entry_subscription_period'), 'earning_entry', type_='check')
    op.drop_column('earning_entry', 'period_start')
    op.drop_column('earning_entry', 'basis_cents')
