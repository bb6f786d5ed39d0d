"""subscription figures: MRR, subscribers by tier, new / churned subscribers, trials, recurring revenue

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 15:00:00+00:00

The dashboard's subscription figures come from summaries kept by triggers, like the purchase figures
(0005, 0007, 0019): nothing on a read counts subscription or invoice rows.

* ``subscription`` gains its milestones, set once by a BEFORE trigger (never by the application) when the
  row first reaches them: ``started_at`` (first live status: TRIALING, ACTIVE or PAST_DUE),
  ``trial_started_at`` (started with a trial: TRIALING, or a trial end from the provider),
  ``converted_at`` (ACTIVE after a trial) and ``churned_at`` (CANCELED after having started; a checkout
  that never started is no churn). ``dunning_reminder_sent_at`` marks the reminder sent before the grace
  period ends (one per past-due episode; the dunning job writes it).
* ``subscription_invoice``: one row per paid invoice (``invoice.paid``, keyed by the provider's invoice id),
  the recurring revenue. The revenue stays when a customer or their subscription is deleted.
* ``purchase_daily_stats`` (per organization and local day) gains the subscription columns: invoices paid
  and recurring revenue net of tax, subscriptions started and churned, trials started and converted.
* ``subscription_tier_summary`` (per organization and tier): subscriptions TRIALING, ACTIVE and PAST_DUE
  now, and the tier's MRR. ``subscriber_summary`` (per organization and customer): live subscriptions, so
  ``analytics_totals.subscribers`` counts customers with at least one (moving only on 0 <-> 1, under the
  customer's summary row lock: concurrent changes of one customer's subscriptions count exactly once).
  ``analytics_totals.mrr_cents`` is the organization's MRR.

MRR counts ACTIVE and PAST_DUE subscriptions at the list price they pay (trials pay nothing yet), an annual
price as a twelfth rounded to the cent. The price of a subscription is its ``stripe_price_id``'s row of
``subscription_tier_price``, which never changes (a new price is a new row), so what a change takes out
is exactly what an earlier change put in.

The AFTER triggers are constraint triggers deferred to commit (see 0007: a summary row is locked for the
trigger only, not for the rest of a webhook's transaction) and take the subscription's organization as
their scope for their own writes. They do not assume the rows they decrement still exist: a cascade
(organization, tier or customer deleted) removes summary rows before the deferred trigger runs, so no
summary carries a foreign key to a tier or customer, and decrements are plain UPDATEs.

``analytics_rebuild_daily`` and ``analytics_rebuild`` rebuild the new columns and summaries from the rows.

The periodic jobs' work lists read ``subscription`` across organizations in one statement, under the
authenticated platform scope (``platform_read``, as ``credit_lot`` and the tiers have): the subscriptions a
lost webhook may have left stale (reconciliation) and the PAST_DUE ones due a reminder before their grace
period ends (dunning), each on a partial index of just those rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    SCOPED_PLATFORM,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY_COLUMNS = ("invoices", "recurring_cents", "subscriptions_started", "subscriptions_churned", "trials_started",
               "trials_converted")

MILESTONES = r"""
CREATE FUNCTION subscription_milestones() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN  -- set once: the application never moves them
    NEW.started_at := OLD.started_at;
    NEW.trial_started_at := OLD.trial_started_at;
    NEW.converted_at := OLD.converted_at;
    NEW.churned_at := OLD.churned_at;
  ELSE
    NEW.started_at := NULL; NEW.trial_started_at := NULL; NEW.converted_at := NULL; NEW.churned_at := NULL;
  END IF;
  IF NEW.status IN ('TRIALING', 'ACTIVE', 'PAST_DUE') THEN
    NEW.started_at := coalesce(NEW.started_at, now());
    IF NEW.status = 'TRIALING' OR NEW.trial_end IS NOT NULL THEN
      NEW.trial_started_at := coalesce(NEW.trial_started_at, now());
    END IF;
    IF NEW.status = 'ACTIVE' AND NEW.trial_started_at IS NOT NULL THEN
      NEW.converted_at := coalesce(NEW.converted_at, now());
    END IF;
  ELSIF NEW.status = 'CANCELED' AND NEW.started_at IS NOT NULL THEN
    NEW.churned_at := coalesce(NEW.churned_at, now());
  END IF;
  RETURN NEW;
END $$"""

BUMP_DAY = """
CREATE FUNCTION analytics_bump_subscription_day(org uuid, d date, n_started int, n_churned int, n_trials int,
                                                n_converted int, n_invoices int, recurring bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO purchase_daily_stats AS s (organization_id, day, subscriptions_started, subscriptions_churned,
                                         trials_started, trials_converted, invoices, recurring_cents)
  VALUES (org, d, n_started, n_churned, n_trials, n_converted, n_invoices, recurring)
  ON CONFLICT (organization_id, day) DO UPDATE SET
    subscriptions_started = s.subscriptions_started + EXCLUDED.subscriptions_started,
    subscriptions_churned = s.subscriptions_churned + EXCLUDED.subscriptions_churned,
    trials_started = s.trials_started + EXCLUDED.trials_started,
    trials_converted = s.trials_converted + EXCLUDED.trials_converted,
    invoices = s.invoices + EXCLUDED.invoices, recurring_cents = s.recurring_cents + EXCLUDED.recurring_cents
$$"""

# What one subscription row contributes to MRR (see the module docstring).
MRR_OF = r"""
CREATE FUNCTION subscription_mrr_cents(org uuid, status text, price text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT CASE WHEN status IN ('ACTIVE', 'PAST_DUE') THEN coalesce((
    SELECT CASE p.interval WHEN 'YEAR' THEN round(p.amount_cents / 12.0)::bigint ELSE p.amount_cents::bigint END
    FROM subscription_tier_price p WHERE p.stripe_price_id = price AND p.organization_id = org), 0) ELSE 0 END
$$"""

CHANGED = r"""
CREATE FUNCTION analytics_subscription_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  transaction_org text := current_setting('codex.organization_id', true);
  org uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END;
  tz text;
  o_live int := 0; o_tr int := 0; o_ac int := 0; o_pd int := 0; o_mrr bigint := 0;
  n_live int := 0; n_tr int := 0; n_ac int := 0; n_pd int := 0; n_mrr bigint := 0;
  live_now int;
BEGIN
  PERFORM set_config('codex.organization_id', org::text, true);
  IF TG_OP <> 'INSERT' THEN
    o_live := (OLD.status IN ('TRIALING', 'ACTIVE', 'PAST_DUE'))::int;
    o_tr := (OLD.status = 'TRIALING')::int; o_ac := (OLD.status = 'ACTIVE')::int;
    o_pd := (OLD.status = 'PAST_DUE')::int;
    o_mrr := subscription_mrr_cents(org, OLD.status, OLD.stripe_price_id);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    n_live := (NEW.status IN ('TRIALING', 'ACTIVE', 'PAST_DUE'))::int;
    n_tr := (NEW.status = 'TRIALING')::int; n_ac := (NEW.status = 'ACTIVE')::int;
    n_pd := (NEW.status = 'PAST_DUE')::int;
    n_mrr := subscription_mrr_cents(org, NEW.status, NEW.stripe_price_id);
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.tier_id = NEW.tier_id AND (o_tr, o_ac, o_pd, o_mrr) = (n_tr, n_ac, n_pd, n_mrr) THEN
    NULL;  -- the tier's figures do not move
  ELSE
    IF TG_OP <> 'INSERT' THEN
      UPDATE subscription_tier_summary SET trialing = trialing - o_tr, active = active - o_ac,
        past_due = past_due - o_pd, mrr_cents = mrr_cents - o_mrr
      WHERE organization_id = org AND tier_id = OLD.tier_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
      INSERT INTO subscription_tier_summary AS t (organization_id, tier_id, trialing, active, past_due, mrr_cents)
      VALUES (org, NEW.tier_id, n_tr, n_ac, n_pd, n_mrr)
      ON CONFLICT (organization_id, tier_id) DO UPDATE SET trialing = t.trialing + EXCLUDED.trialing,
        active = t.active + EXCLUDED.active, past_due = t.past_due + EXCLUDED.past_due,
        mrr_cents = t.mrr_cents + EXCLUDED.mrr_cents;
    END IF;
  END IF;
  IF n_live > o_live THEN
    INSERT INTO subscriber_summary AS c (organization_id, user_id, live) VALUES (org, NEW.user_id, 1)
    ON CONFLICT (organization_id, user_id) DO UPDATE SET live = c.live + 1 RETURNING c.live INTO live_now;
  ELSIF n_live < o_live THEN
    UPDATE subscriber_summary SET live = live - 1 WHERE organization_id = org AND user_id = OLD.user_id
    RETURNING live INTO live_now;
  END IF;
  IF n_mrr <> o_mrr OR live_now IS NOT NULL AND live_now = n_live THEN
    -- live_now = n_live: the customer's count went 0 -> 1 (n_live = 1) or 1 -> 0 (n_live = 0)
    IF TG_OP = 'DELETE' THEN
      UPDATE analytics_totals SET mrr_cents = mrr_cents - o_mrr,
        subscribers = subscribers - (live_now IS NOT NULL AND live_now = 0)::int
      WHERE organization_id = org;
    ELSE
      INSERT INTO analytics_totals AS t (organization_id, mrr_cents, subscribers)
      VALUES (org, n_mrr - o_mrr, CASE WHEN live_now IS NULL OR live_now <> n_live THEN 0
                                       WHEN n_live = 1 THEN 1 ELSE -1 END)
      ON CONFLICT (organization_id) DO UPDATE SET mrr_cents = t.mrr_cents + EXCLUDED.mrr_cents,
        subscribers = t.subscribers + EXCLUDED.subscribers;
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    SELECT o.timezone INTO tz FROM organization o WHERE o.id = org;
    tz := coalesce(tz, 'UTC');
    IF NEW.started_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.started_at IS NULL) THEN
      PERFORM analytics_bump_subscription_day(org, (NEW.started_at AT TIME ZONE tz)::date, 1, 0, 0, 0, 0, 0);
    END IF;
    IF NEW.trial_started_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.trial_started_at IS NULL) THEN
      PERFORM analytics_bump_subscription_day(org, (NEW.trial_started_at AT TIME ZONE tz)::date, 0, 0, 1, 0, 0, 0);
    END IF;
    IF NEW.converted_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.converted_at IS NULL) THEN
      PERFORM analytics_bump_subscription_day(org, (NEW.converted_at AT TIME ZONE tz)::date, 0, 0, 0, 1, 0, 0);
    END IF;
    IF NEW.churned_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.churned_at IS NULL) THEN
      PERFORM analytics_bump_subscription_day(org, (NEW.churned_at AT TIME ZONE tz)::date, 0, 1, 0, 0, 0, 0);
    END IF;
  END IF;
  PERFORM set_config('codex.organization_id', coalesce(transaction_org, ''), true);
  RETURN NULL;
END $$"""

INVOICE_PAID = """
CREATE FUNCTION analytics_invoice_paid() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  transaction_org text := current_setting('codex.organization_id', true);
  tz text;
BEGIN
  PERFORM set_config('codex.organization_id', NEW.organization_id::text, true);
  SELECT o.timezone INTO tz FROM organization o WHERE o.id = NEW.organization_id;
  PERFORM analytics_bump_subscription_day(NEW.organization_id, (NEW.paid_at AT TIME ZONE coalesce(tz, 'UTC'))::date,
                                          0, 0, 0, 0, 1, NEW.amount_paid_cents - NEW.tax_cents);
  PERFORM set_config('codex.organization_id', coalesce(transaction_org, ''), true);
  RETURN NULL;
END $$"""

REBUILD_DAILY = """
CREATE OR REPLACE FUNCTION analytics_rebuild_daily(org uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  tz text;
BEGIN
  PERFORM analytics_check_scope(org);
  SELECT o.timezone INTO tz FROM organization o WHERE o.id = org;
  tz := coalesce(tz, 'UTC');
  DELETE FROM purchase_daily_stats WHERE organization_id = org;
  INSERT INTO purchase_daily_stats (organization_id, day, purchases, gross_cents, refunds, refunded_cents,
    invoices, recurring_cents, subscriptions_started, subscriptions_churned, trials_started, trials_converted)
  SELECT org, d, sum(n_p), sum(g), sum(n_r), sum(r), sum(n_i), sum(rc), sum(n_s), sum(n_c), sum(n_t), sum(n_v)
  FROM (
    SELECT (p.created_at AT TIME ZONE tz)::date AS d, 1 AS n_p, (p.amount_cents - p.tax_cents)::bigint AS g,
           0 AS n_r, 0::bigint AS r, 0 AS n_i, 0::bigint AS rc, 0 AS n_s, 0 AS n_c, 0 AS n_t, 0 AS n_v
    FROM purchase p WHERE p.organization_id = org
    UNION ALL
    SELECT (f.succeeded_at AT TIME ZONE tz)::date, 0, 0, 0, f.net_cents, 0, 0, 0, 0, 0, 0
    FROM purchase_refund f WHERE f.organization_id = org AND f.status = 'SUCCEEDED' AND f.net_cents <> 0
    UNION ALL
    SELECT (coalesce(p.refunded_at, p.created_at) AT TIME ZONE tz)::date, 0, 0, 1,
           p.amount_cents - p.tax_cents - p.refunded_net_cents, 0, 0, 0, 0, 0, 0
    FROM purchase p WHERE p.organization_id = org AND p.status = 'REFUNDED'
    UNION ALL
    SELECT (i.paid_at AT TIME ZONE tz)::date, 0, 0, 0, 0, 1, i.amount_paid_cents - i.tax_cents, 0, 0, 0, 0
    FROM subscription_invoice i WHERE i.organization_id = org
    UNION ALL
    SELECT (m.at AT TIME ZONE tz)::date, 0, 0, 0, 0, 0, 0, m.s, m.c, m.t, m.v
    FROM subscription s CROSS JOIN LATERAL (VALUES (s.started_at, 1, 0, 0, 0), (s.churned_at, 0, 1, 0, 0),
      (s.trial_started_at, 0, 0, 1, 0), (s.converted_at, 0, 0, 0, 1)) m(at, s, c, t, v)
    WHERE s.organization_id = org AND m.at IS NOT NULL
  ) x GROUP BY d;
END $$"""

REBUILD = r"""
CREATE OR REPLACE FUNCTION analytics_rebuild_subscriptions(org uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM analytics_check_scope(org);
  DELETE FROM subscription_tier_summary WHERE organization_id = org;
  INSERT INTO subscription_tier_summary (organization_id, tier_id, trialing, active, past_due, mrr_cents)
  SELECT org, s.tier_id, count(*) FILTER (WHERE s.status = 'TRIALING'), count(*) FILTER (WHERE s.status = 'ACTIVE'),
         count(*) FILTER (WHERE s.status = 'PAST_DUE'), coalesce(sum(subscription_mrr_cents(org, s.status, s.stripe_price_id)), 0)
  FROM subscription s WHERE s.organization_id = org GROUP BY s.tier_id;
  DELETE FROM subscriber_summary WHERE organization_id = org;
  INSERT INTO subscriber_summary (organization_id, user_id, live)
  SELECT org, s.user_id, count(*) FROM subscription s
  WHERE s.organization_id = org AND s.status IN ('TRIALING', 'ACTIVE', 'PAST_DUE') GROUP BY s.user_id;
  INSERT INTO analytics_totals AS t (organization_id, subscribers, mrr_cents)
  VALUES (org, (SELECT count(*) FROM subscriber_summary c WHERE c.organization_id = org AND c.live > 0),
          (SELECT coalesce(sum(m.mrr_cents), 0) FROM subscription_tier_summary m WHERE m.organization_id = org))
  ON CONFLICT (organization_id) DO UPDATE SET subscribers = EXCLUDED.subscribers, mrr_cents = EXCLUDED.mrr_cents;
END $$
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
  PERFORM analytics_rebuild_subscriptions(org);
END $$"""

TRIGGERS = (
    "CREATE TRIGGER subscription_milestones BEFORE INSERT OR UPDATE ON subscription "
    "FOR EACH ROW EXECUTE FUNCTION subscription_milestones()",
    "CREATE CONSTRAINT TRIGGER analytics_subscription_inserted AFTER INSERT ON subscription "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_subscription_changed()",
    "CREATE CONSTRAINT TRIGGER analytics_subscription_updated AFTER UPDATE OF status, tier_id, stripe_price_id, "
    "started_at, trial_started_at, converted_at, churned_at ON subscription "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_subscription_changed()",
    "CREATE CONSTRAINT TRIGGER analytics_subscription_deleted AFTER DELETE ON subscription "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_subscription_changed()",
    "CREATE CONSTRAINT TRIGGER analytics_invoice_paid AFTER INSERT ON subscription_invoice "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_invoice_paid()",
)

# Milestones of rows written before this migration, as well as they can be told, then every organization's
# figures rebuilt in its own scope (the summaries force their policies on an owner that is not a superuser).
BACKFILL = """
DO $$
DECLARE
  o record;
BEGIN
  ALTER TABLE subscription DISABLE TRIGGER subscription_milestones;
  UPDATE subscription SET started_at = coalesce(current_period_start, created_at)
  WHERE status IN ('TRIALING', 'ACTIVE', 'PAST_DUE') OR (status = 'CANCELED' AND current_period_start IS NOT NULL);
  UPDATE subscription SET trial_started_at = started_at WHERE started_at IS NOT NULL AND trial_end IS NOT NULL;
  UPDATE subscription SET converted_at = trial_end WHERE trial_started_at IS NOT NULL AND status = 'ACTIVE';
  UPDATE subscription SET churned_at = coalesce(ended_at, canceled_at, updated_at)
  WHERE started_at IS NOT NULL AND status = 'CANCELED';
  ALTER TABLE subscription ENABLE TRIGGER subscription_milestones;
  FOR o IN SELECT id FROM organization LOOP
    PERFORM set_config('codex.organization_id', o.id::text, true);
    PERFORM analytics_rebuild_daily(o.id);
    PERFORM analytics_rebuild_subscriptions(o.id);
  END LOOP;
  PERFORM set_config('codex.organization_id', '', true);
END $$"""


# The jobs' work lists (models.Subscription declares the same indexes).
WORK_INDEXES = (
    ("ix_subscription_live_period_end", ["current_period_end"],
     "status IN ('TRIALING', 'ACTIVE', 'PAST_DUE') AND stripe_subscription_id IS NOT NULL"),
    ("ix_subscription_incomplete_updated", ["updated_at"],
     "status = 'INCOMPLETE' AND stripe_subscription_id IS NOT NULL"),
    ("ix_subscription_reminder_due", ["access_until"],
     "status = 'PAST_DUE' AND dunning_reminder_sent_at IS NULL"),
)


def upgrade() -> None:
    for column in ("started_at", "trial_started_at", "converted_at", "churned_at", "dunning_reminder_sent_at"):
        op.add_column('subscription', sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    for column in DAY_COLUMNS:
        kind = sa.BigInteger() if column.endswith("_cents") else sa.Integer()
        op.add_column('purchase_daily_stats', sa.Column(column, kind, server_default=sa.text('0'), nullable=False))
    for column in ("subscribers", "mrr_cents"):
        op.add_column('analytics_totals', sa.Column(column, sa.BigInteger(), server_default=sa.text('0'), nullable=False))

    op.create_table('subscription_invoice',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=True),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('tier_id', sa.UUID(), nullable=True),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=False),
    sa.Column('billing_reason', sa.String(length=40), nullable=True),
    sa.Column('amount_paid_cents', sa.BigInteger(), nullable=False),
    sa.Column('tax_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount_paid_cents >= 0 AND tax_cents >= 0 AND tax_cents <= amount_paid_cents',
                       name=op.f('ck_subscription_invoice_amounts')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscription_invoice_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], name=op.f('fk_subscription_invoice_subscription_id_subscription'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_subscription_invoice_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_invoice')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_subscription_invoice_stripe_invoice_id')),
    )
    op.create_index('ix_subscription_invoice_org_paid', 'subscription_invoice', ['organization_id', 'paid_at'])
    op.create_index('ix_subscription_invoice_subscription', 'subscription_invoice', ['subscription_id'])
    op.create_index('ix_subscription_invoice_user', 'subscription_invoice', ['user_id'])
    enable_tenant_rls('subscription_invoice', readable_by_owner_column='user_id', scoped=True)
    grant_app('subscription_invoice', 'SELECT, INSERT')

    op.create_table('subscription_tier_summary',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('tier_id', sa.UUID(), nullable=False),
    sa.Column('trialing', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('active', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('past_due', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('mrr_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscription_tier_summary_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'tier_id', name=op.f('pk_subscription_tier_summary')),
    )
    op.create_table('subscriber_summary',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('live', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscriber_summary_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'user_id', name=op.f('pk_subscriber_summary')),
    )
    for table in ('subscription_tier_summary', 'subscriber_summary'):
        enable_tenant_rls(table, scoped=True)
        grant_app(table, 'SELECT')

    for statement in (MILESTONES, BUMP_DAY, MRR_OF, CHANGED, INVOICE_PAID, REBUILD_DAILY, *REBUILD.split("--split--")):
        op.execute(statement)
    for function in ("analytics_bump_subscription_day(uuid, date, int, int, int, int, int, bigint)",
                     "analytics_subscription_changed()", "analytics_invoice_paid()",
                     "analytics_rebuild_subscriptions(uuid)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)

    op.execute(f"CREATE POLICY platform_read ON subscription FOR SELECT USING ({SCOPED_PLATFORM})")
    for name, columns, where in WORK_INDEXES:
        op.create_index(name, 'subscription', columns, postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, _, _ in WORK_INDEXES:
        op.drop_index(name, table_name='subscription')
    op.execute("DROP POLICY IF EXISTS platform_read ON subscription")
    for trigger, table in (("analytics_invoice_paid", "subscription_invoice"),
                           ("analytics_subscription_deleted", "subscription"),
                           ("analytics_subscription_updated", "subscription"),
                           ("analytics_subscription_inserted", "subscription"),
                           ("subscription_milestones", "subscription")):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    _restore_0009_rebuilds()
    for function in ("analytics_rebuild_subscriptions(uuid)", "analytics_invoice_paid()",
                     "analytics_subscription_changed()", "subscription_mrr_cents(uuid, text, text)",
                     "analytics_bump_subscription_day(uuid, date, int, int, int, int, int, bigint)",
                     "subscription_milestones()"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for table in ('subscriber_summary', 'subscription_tier_summary', 'subscription_invoice'):
        disable_tenant_rls(table)
        revoke_app(table)
        op.drop_table(table)
    for column in ("mrr_cents", "subscribers"):
        op.drop_column('analytics_totals', column)
    for column in DAY_COLUMNS:
        op.drop_column('purchase_daily_stats', column)
    for column in ("dunning_reminder_sent_at", "churned_at", "converted_at", "trial_started_at", "started_at"):
        op.drop_column('subscription', column)


def _restore_0009_rebuilds() -> None:
    """The rebuild functions as migration 0009 wrote them (its module's text, run again); the subscription
    columns and summaries are dropped after this."""
    import importlib.util
    from pathlib import Path

    path = next(Path(__file__).parent.glob("*-0009_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0009", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for statement in module.REBUILD.split("--split--"):
        if statement.strip():
            op.execute(statement)
