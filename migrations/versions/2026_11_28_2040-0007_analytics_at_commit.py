"""analytics at commit: the purchase summary triggers run when the transaction commits

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 20:40:00+00:00

Why: every purchase of an organization adds to one row, the organization's ``purchase_daily_stats`` row
of the day. As plain AFTER triggers they locked that row at the purchase INSERT and held it through the
rest of the transaction (the entitlement, the outbox rows, the webhook inbox update, each a round trip
from the application) until COMMIT, so an organization's concurrent purchases queued behind each other:
webhook ingest reached 84 distinct purchases per second on two cores with 28 of 30 transactions
waiting on that lock. As constraint triggers deferred to commit, the row is locked only for the trigger
itself and the commit's WAL flush.

A deferred trigger runs in whatever tenant scope the transaction has at commit, which need not be the
purchase's (``acting_in`` restores the viewer's scope after a claim). The function therefore takes the
purchase's organization as the scope for its own writes, which the summaries' policies require when
the function's owner is not a superuser, and restores the transaction's scope afterwards.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS analytics_purchase_updated ON purchase;
DROP TRIGGER IF EXISTS analytics_purchase_inserted ON purchase;
"""

# The body of 0005's function, unchanged but for the scope handling and one exit at the end.
FUNCTION = r"""
CREATE OR REPLACE FUNCTION analytics_purchase_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  tz text;
  transaction_org text := current_setting('codex.organization_id', true);
  new_net bigint := NEW.amount_cents - NEW.tax_cents;
  new_kept bigint := CASE WHEN NEW.status = 'COMPLETED' THEN NEW.amount_cents - NEW.tax_cents ELSE 0 END;
  new_refunded int := CASE WHEN NEW.status = 'REFUNDED' THEN 1 ELSE 0 END;
  old_net bigint;
  old_kept bigint;
  old_refunded int;
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.refunded_at IS NOT DISTINCT FROM NEW.refunded_at
     AND OLD.amount_cents = NEW.amount_cents AND OLD.tax_cents = NEW.tax_cents THEN
    RETURN NULL;
  END IF;
  -- The purchase row passed its table's policy in this organization's scope when it was written.
  PERFORM set_config('codex.organization_id', NEW.organization_id::text, true);
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
  ELSE
    -- UPDATE: take the old row's contribution out and put the new one's in.
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
  END IF;
  PERFORM set_config('codex.organization_id', coalesce(transaction_org, ''), true);
  RETURN NULL;
END $$;
"""

CONSTRAINT_TRIGGERS = """
CREATE CONSTRAINT TRIGGER analytics_purchase_inserted AFTER INSERT ON purchase
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed();
--split--
CREATE CONSTRAINT TRIGGER analytics_purchase_updated AFTER UPDATE OF status, refunded_at, amount_cents, tax_cents
  ON purchase DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed();
"""

PLAIN_TRIGGERS = """
CREATE TRIGGER analytics_purchase_inserted AFTER INSERT ON purchase
  FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed();
--split--
CREATE TRIGGER analytics_purchase_updated AFTER UPDATE OF status, refunded_at, amount_cents, tax_cents ON purchase
  FOR EACH ROW EXECUTE FUNCTION analytics_purchase_changed();
"""


def _run(script: str) -> None:
    for statement in script.split("--split--"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    for statement in DROP_TRIGGERS.strip().splitlines():
        op.execute(statement)
    op.execute(FUNCTION)
    _run(CONSTRAINT_TRIGGERS)


def downgrade() -> None:
    # The function stays: with plain triggers its scope handling changes nothing.
    for statement in DROP_TRIGGERS.strip().splitlines():
        op.execute(statement)
    _run(PLAIN_TRIGGERS)
