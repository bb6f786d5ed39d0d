"""paid bookings: an offering's checkout through the purchase path, and subscription tiers' offering access

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-08 03:30:00+00:00

A priced offering is sold through the purchase path (Stripe Checkout, the webhook inbox, receipts, refunds, the
earnings ledger) as a content item of kind OFFERING (``offering.offer_content_id``: no media, never listed, never
bought through ``startCheckout``), the way a series sells its BUNDLE. A paid booking holds its seat while the
person pays (status PAYMENT_PENDING, counted as live: one per person and session), its checkout names it
(``checkout_session.booking_id``) and the completed purchase is kept on the booking (``booking.purchase_id``) for
the refund a cancellation makes. Row-level security is unchanged: the columns live on tables that have it.

Hardening: every SECURITY DEFINER function of the schema whose search_path was ``pg_catalog, public`` gets
``pg_catalog, public, pg_temp``. Without ``pg_temp`` named, PostgreSQL searches the session's temporary schema
first for tables, so a session able to create a temporary table named like one these functions read could
shadow it while the function runs as its owner (tests/db/test_definer_functions.py keeps it so).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0047'
down_revision: str | None = '0046'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_BEFORE = "status IN ('CONFIRMED', 'WAITLISTED', 'HELD')"
LIVE_AFTER = "status IN ('CONFIRMED', 'WAITLISTED', 'HELD', 'PAYMENT_PENDING')"


SEARCH_PATH = """
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.prosecdef AND 'search_path={before}' = ANY(p.proconfig) LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = {after}', f);
  END LOOP;
END $$"""


def _live_index(where: str) -> None:
    op.drop_index('uq_booking_live', table_name='booking')
    op.create_index('uq_booking_live', 'booking', ['session_id', 'user_id'], unique=True,
                    postgresql_where=sa.text(where))


def upgrade() -> None:
    op.add_column('offering', sa.Column('offer_content_id', sa.Uuid(), nullable=True))
    op.create_foreign_key('fk_offering_offer_content_id_content', 'offering', 'content', ['offer_content_id'], ['id'],
                          ondelete='SET NULL')
    op.create_unique_constraint('uq_offering_offer_content_id', 'offering', ['offer_content_id'])
    op.add_column('checkout_session', sa.Column('booking_id', sa.Uuid(), nullable=True))
    op.create_foreign_key('fk_checkout_session_booking_id_booking', 'checkout_session', 'booking', ['booking_id'],
                          ['id'], ondelete='SET NULL')
    op.create_index('ix_checkout_session_booking', 'checkout_session', ['booking_id'],
                    postgresql_where=sa.text('booking_id IS NOT NULL'))
    op.add_column('booking', sa.Column('purchase_id', sa.Uuid(), nullable=True))
    op.create_foreign_key('fk_booking_purchase_id_purchase', 'booking', 'purchase', ['purchase_id'], ['id'],
                          ondelete='SET NULL')
    op.create_index('ix_booking_purchase', 'booking', ['purchase_id'], postgresql_where=sa.text('purchase_id IS NOT NULL'))
    _live_index(LIVE_AFTER)
    op.create_index('ix_booking_payment_pending', 'booking', ['hold_expires_at'],
                    postgresql_where=sa.text("status = 'PAYMENT_PENDING'"))
    op.execute(SEARCH_PATH.format(before="pg_catalog, public", after="pg_catalog, public, pg_temp"))


def downgrade() -> None:
    op.execute(SEARCH_PATH.format(before="pg_catalog, public, pg_temp", after="pg_catalog, public"))
    op.drop_index('ix_booking_payment_pending', table_name='booking')
    op.execute("UPDATE booking SET status = 'EXPIRED', hold_expires_at = NULL WHERE status = 'PAYMENT_PENDING'")
    _live_index(LIVE_BEFORE)
    op.drop_index('ix_booking_purchase', table_name='booking')
    op.drop_constraint('fk_booking_purchase_id_purchase', 'booking', type_='foreignkey')
    op.drop_column('booking', 'purchase_id')
    op.drop_index('ix_checkout_session_booking', table_name='checkout_session')
    op.drop_constraint('fk_checkout_session_booking_id_booking', 'checkout_session', type_='foreignkey')
    op.drop_column('checkout_session', 'booking_id')
    op.drop_constraint('uq_offering_offer_content_id', 'offering', type_='unique')
    op.drop_constraint('fk_offering_offer_content_id_content', 'offering', type_='foreignkey')
    op.drop_column('offering', 'offer_content_id')
