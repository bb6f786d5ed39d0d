"""conferencing: per-organization provider credentials (encrypted) and one meeting per offering session

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-08 03:10:00+00:00

Row-level security, forced, on every table (``enable_tenant_rls``, scoped). Besides the organization's own rows:
the platform scope reads meetings (the Zoom webhook finds the meeting, and so its organization, by Zoom's meeting
id), and a person reads the meeting of a session they hold a CONFIRMED seat in (``participant_read``: a booking of
that session, or any confirmed booking of a COHORT offering, whose bookings seat their person in every session).
That policy is the SQL form of ``conferencing/access.py``: ``OfferingSession.joinUrl`` reads through it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import (
    SCOPED_PLATFORM,
    SCOPED_USER,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0045'
down_revision: str | None = '0044'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('conferencing_connection', 'offering_meeting', 'conferencing_event')
PROVIDER = sa.Enum('ZOOM', 'GOOGLE_MEET', 'LOCAL', name='conferencing_provider', native_enum=False, length=16)
PARTICIPANT = (
    f"EXISTS (SELECT 1 FROM booking b WHERE b.user_id = {SCOPED_USER} AND b.status = 'CONFIRMED' "  # noqa: S608
    "AND b.offering_id = offering_meeting.offering_id AND (b.session_id = offering_meeting.session_id "
    "OR EXISTS (SELECT 1 FROM offering o WHERE o.id = offering_meeting.offering_id AND o.type = 'COHORT')))"
)


def upgrade() -> None:
    op.create_table('conferencing_connection',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('provider', PROVIDER, nullable=False),
    sa.Column('access_token', sa.LargeBinary(), nullable=False),
    sa.Column('refresh_token', sa.LargeBinary(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scope', sa.Text(), server_default='', nullable=False),
    sa.Column('connected_by', sa.UUID(), nullable=True),
    sa.Column('connected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['connected_by'], ['user_account.id'],
                            name=op.f('fk_conferencing_connection_connected_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_conferencing_connection_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_conferencing_connection')),
    )
    op.create_table('offering_meeting',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('provider', PROVIDER, nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'CREATING', 'CREATED', 'DELETING', 'DELETED', name='meeting_status',
                                native_enum=False, length=16), nullable=False),
    sa.Column('provider_meeting_id', sa.String(length=200), nullable=True),
    sa.Column('join_url', sa.String(length=2000), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('recording_content_id', sa.UUID(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'], name=op.f('fk_offering_meeting_offering_id_offering'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_meeting_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['offering_session.id'],
                            name=op.f('fk_offering_meeting_session_id_offering_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offering_meeting')),
    sa.UniqueConstraint('session_id', name=op.f('uq_offering_meeting_session_id')),
    sa.UniqueConstraint('provider', 'provider_meeting_id', name=op.f('uq_offering_meeting_provider_provider_meeting_id')),
    )
    op.create_index(op.f('ix_offering_meeting_offering_id'), 'offering_meeting', ['offering_id'], unique=False)
    op.create_table('conferencing_event',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('provider', PROVIDER, nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('meeting_id', sa.UUID(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['offering_meeting.id'],
                            name=op.f('fk_conferencing_event_meeting_id_offering_meeting'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_conferencing_event_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conferencing_event')),
    sa.UniqueConstraint('provider', 'event_id', name=op.f('uq_conferencing_event_provider_event_id')),
    )
    op.create_index(op.f('ix_conferencing_event_organization_id'), 'conferencing_event', ['organization_id'],
                    unique=False)

    for table in TABLES:
        enable_tenant_rls(table, scoped=True)
        grant_app(table)
    op.execute(f"CREATE POLICY platform_read ON offering_meeting FOR SELECT USING ({SCOPED_PLATFORM})")
    op.execute(f"CREATE POLICY participant_read ON offering_meeting FOR SELECT USING ({PARTICIPANT})")


def downgrade() -> None:
    for table in reversed(TABLES):
        revoke_app(table)
        op.drop_table(table)  # its policies and indexes go with it
