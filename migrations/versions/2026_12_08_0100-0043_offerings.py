"""offerings: events, programs, services and cohorts, their sessions, a service's availability, bookings

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-08 01:00:00+00:00

Row-level security, forced, on every table (``enable_tenant_rls``, scoped): the active organization reads and
writes its own rows. Everyone reads an offering that is not a DRAFT, with its sessions, categories and
availability (``public_read``); the platform scope reads bookings (the hold-expiry job). A person reads their own
bookings (``readable_by_owner_column``); bookings are
written in the organization's scope (``acting_in``) after the service checked the booking. A session's seat
counter has a check constraint (``seats_taken <= capacity``), so no writer can overbook it.

A waiting person's place in the queue counts the other people's WAITLISTED bookings, which RLS hides from them:
``codex_waitlist_ahead(org, session, created_at, id)``, SECURITY DEFINER, fixed search_path, executable by the
API role only, returns how many WAITLISTED bookings of the session come at or before (created_at, id) — a count
per session, no more than ``offering_session.seats_taken`` already tells everyone. Running as its owner it reads
under the owner's policies (the plain settings: it sets ``codex.organization_id`` to ``org`` and puts it back).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.db import APP_ROLE
from codex_graphql.migration_helpers import SCOPED_PLATFORM, enable_tenant_rls, grant_app, revoke_app

revision: str = '0043'
down_revision: str | None = '0042'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('offering', 'offering_category', 'offering_session', 'offering_availability', 'booking')
WAITLIST_AHEAD = "public.codex_waitlist_ahead(uuid, uuid, timestamp with time zone, uuid)"
WAITLIST_AHEAD_FUNCTION = r"""
CREATE FUNCTION public.codex_waitlist_ahead(p_org uuid, p_session uuid, p_created_at timestamptz, p_id uuid)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  saved_org text := current_setting('codex.organization_id', true);
  ahead integer;
BEGIN
  PERFORM set_config('codex.organization_id', p_org::text, true);
  SELECT count(*)::integer INTO ahead FROM public.booking w
   WHERE w.organization_id = p_org AND w.session_id = p_session AND w.status = 'WAITLISTED'
     AND (w.created_at, w.id) <= (p_created_at, p_id);
  PERFORM set_config('codex.organization_id', coalesce(saved_org, ''), true);
  RETURN ahead;
END $$"""
VISIBLE = "EXISTS (SELECT 1 FROM offering o WHERE o.id = {table}.offering_id AND o.status <> 'DRAFT')"


def upgrade() -> None:
    op.create_table('offering',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('type', sa.Enum('EVENT', 'PROGRAM', 'SERVICE', 'COHORT', name='offering_type', native_enum=False,
                              length=16), nullable=False),
    sa.Column('status', sa.Enum('DRAFT', 'PUBLISHED', 'CANCELLED', name='offering_status', native_enum=False,
                                length=16), server_default='DRAFT', nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('price_cents', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('credit_price', sa.Integer(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('location', sa.String(length=300), nullable=True),
    sa.Column('online', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('cancellation_hours', sa.Integer(), server_default=sa.text('24'), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('capacity > 0', name=op.f('ck_offering_capacity_positive')),
    sa.CheckConstraint('cancellation_hours >= 0', name=op.f('ck_offering_cancellation_hours_not_negative')),
    sa.CheckConstraint('credit_price IS NULL OR credit_price > 0', name=op.f('ck_offering_credit_price_positive')),
    sa.CheckConstraint('price_cents >= 0', name=op.f('ck_offering_price_not_negative')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_offering_created_by_user_account'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offering')),
    sa.UniqueConstraint('id', 'organization_id', name=op.f('uq_offering_id_organization_id')),
    )
    op.create_index('ix_offering_org_created', 'offering', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_table('offering_category',
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_offering_category_category_id_category'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'], name=op.f('fk_offering_category_offering_id_offering'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_category_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offering_id', 'category_id', name=op.f('pk_offering_category')),
    )
    op.create_index(op.f('ix_offering_category_organization_id'), 'offering_category', ['organization_id'],
                    unique=False)
    op.create_table('offering_session',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('seats_taken', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('capacity > 0', name=op.f('ck_offering_session_capacity_positive')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_offering_session_ends_after_start')),
    sa.CheckConstraint('seats_taken >= 0 AND seats_taken <= capacity',
                       name=op.f('ck_offering_session_seats_within_capacity')),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'], name=op.f('fk_offering_session_offering_id_offering'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_session_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offering_session')),
    sa.UniqueConstraint('offering_id', 'starts_at', name=op.f('uq_offering_session_offering_id_starts_at')),
    )
    op.create_index('ix_offering_session_org_starts', 'offering_session', ['organization_id', 'starts_at'],
                    unique=False)
    op.create_table('offering_availability',
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('weekly', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_minutes', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('notice_minutes', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('horizon_days', sa.Integer(), server_default=sa.text('60'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('buffer_minutes BETWEEN 0 AND 1440', name=op.f('ck_offering_availability_buffer_minutes_range')),
    sa.CheckConstraint('horizon_days BETWEEN 1 AND 366', name=op.f('ck_offering_availability_horizon_days_range')),
    sa.CheckConstraint('notice_minutes BETWEEN 0 AND 525600',
                       name=op.f('ck_offering_availability_notice_minutes_range')),
    sa.CheckConstraint('slot_minutes BETWEEN 5 AND 1440', name=op.f('ck_offering_availability_slot_minutes_range')),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'],
                            name=op.f('fk_offering_availability_offering_id_offering'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_availability_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offering_id', name=op.f('pk_offering_availability')),
    )
    op.create_index(op.f('ix_offering_availability_organization_id'), 'offering_availability', ['organization_id'],
                    unique=False)
    op.create_table('booking',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Enum('CONFIRMED', 'WAITLISTED', 'HELD', 'CANCELLED', 'EXPIRED', name='booking_status',
                                native_enum=False, length=16), nullable=False),
    sa.Column('pay_with', sa.Enum('PURCHASE', 'CREDITS', 'SUBSCRIPTION', name='booking_payment', native_enum=False,
                                  length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('credits_spent', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('credit_transaction_id', sa.UUID(), nullable=True),
    sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.UUID(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'], name=op.f('fk_booking_offering_id_offering'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_booking_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['offering_session.id'], name=op.f('fk_booking_session_id_offering_session'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_booking_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking')),
    sa.UniqueConstraint('user_id', 'idempotency_key', name=op.f('uq_booking_user_id_idempotency_key')),
    )
    op.create_index('uq_booking_live', 'booking', ['session_id', 'user_id'], unique=True,
                    postgresql_where=sa.text("status IN ('CONFIRMED', 'WAITLISTED', 'HELD')"))
    op.create_index('ix_booking_waitlist', 'booking', ['session_id', 'created_at'], unique=False,
                    postgresql_where=sa.text("status = 'WAITLISTED'"))
    op.create_index('ix_booking_user_created', 'booking', ['user_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_booking_org_offering', 'booking', ['organization_id', 'offering_id', 'status'], unique=False)

    for table in TABLES:
        enable_tenant_rls(table, scoped=True, readable_by_owner_column='user_id' if table == 'booking' else None)
        grant_app(table)
    op.execute("CREATE POLICY public_read ON offering FOR SELECT USING (status <> 'DRAFT')")
    for table in ('offering_category', 'offering_session', 'offering_availability'):
        op.execute(f"CREATE POLICY public_read ON {table} FOR SELECT USING ({VISIBLE.format(table=table)})")
    # The hold-expiry job finds the HELD bookings due in every organization under the platform scope.
    op.execute(f"CREATE POLICY platform_read ON booking FOR SELECT USING ({SCOPED_PLATFORM})")
    op.execute(WAITLIST_AHEAD_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {WAITLIST_AHEAD} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {WAITLIST_AHEAD} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {WAITLIST_AHEAD}")
    for table in reversed(TABLES):
        revoke_app(table)
        op.drop_table(table)  # its policies and indexes go with it
