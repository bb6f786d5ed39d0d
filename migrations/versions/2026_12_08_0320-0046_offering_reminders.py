"""offering reminders and calendars: reminder sends recorded once per booking, session and lead time

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-08 03:20:00+00:00

``booking_reminder``: one row per (booking, session, lead time in minutes), its primary key. The reminder job
claims a reminder by inserting its row (``INSERT ... ON CONFLICT DO NOTHING RETURNING``) in the transaction that
also requests the mail job through the outbox, so two runners racing send it once: the second one's insert waits
for the first one's uncommitted key and then skips it. Row-level security, forced: the organization's scope
reads and writes its rows; the platform scope reads them (the job lists the organizations with reminders due).

``calendar_feed``: a person's calendar feed version (no row: version 1). The feed URL signs the user id and the
version; rotating the feed bumps the version, so every URL signed before stops working. Only the person's own
user scope reads and writes their row.

An index on ``offering_session (starts_at)`` for live sessions serves the reminder job's window query across
organizations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    SCOPED_PLATFORM,
    SCOPED_USER,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0046'
down_revision: str | None = '0045'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('booking_reminder',
    sa.Column('booking_id', sa.UUID(), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('lead_minutes', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('lead_minutes > 0', name=op.f('ck_booking_reminder_lead_positive')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_booking_reminder_booking_id_booking'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['offering_session.id'],
                            name=op.f('fk_booking_reminder_session_id_offering_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_booking_reminder_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('booking_id', 'session_id', 'lead_minutes', name=op.f('pk_booking_reminder')),
    )
    op.create_index(op.f('ix_booking_reminder_organization_id'), 'booking_reminder', ['organization_id'],
                    unique=False)
    op.create_index(op.f('ix_booking_reminder_session_id'), 'booking_reminder', ['session_id'], unique=False)
    enable_tenant_rls('booking_reminder', scoped=True)
    op.execute(f"CREATE POLICY platform_read ON booking_reminder FOR SELECT USING ({SCOPED_PLATFORM})")
    grant_app('booking_reminder', 'SELECT, INSERT')

    op.create_table('calendar_feed',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('version > 0', name=op.f('ck_calendar_feed_version_positive')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_calendar_feed_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_calendar_feed')),
    )
    op.execute("ALTER TABLE calendar_feed ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE calendar_feed FORCE ROW LEVEL SECURITY")
    own = f"user_id = {SCOPED_USER}"
    op.execute(f"CREATE POLICY owner_only ON calendar_feed FOR ALL USING ({own}) WITH CHECK ({own})")
    grant_app('calendar_feed', 'SELECT, INSERT, UPDATE')

    op.create_index('ix_offering_session_starts_live', 'offering_session', ['starts_at'], unique=False,
                    postgresql_where=sa.text('cancelled_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_offering_session_starts_live', table_name='offering_session')
    revoke_app('calendar_feed')
    op.drop_table('calendar_feed')  # its policies go with it
    revoke_app('booking_reminder')
    op.drop_table('booking_reminder')  # its policies and indexes go with it
