"""playback devices: the devices a customer plays an organization's items on (device limits)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-08 00:00:00+00:00

``playback_device`` holds one row per registration of a device (a stable id chosen by the client, stored only
as its SHA-256) by a customer in an organization. ``removed_at`` ends a registration; the row stays as
history (removals are rate-limited by counting them), and the partial unique index keeps one active row per
customer, organization and device. Row-level security, forced: the organization's staff (its scope) and
the customer (their user scope) read and write their rows; nobody else sees them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import SCOPED_ORG, SCOPED_USER, grant_app, revoke_app

revision: str = '0041'
down_revision: str | None = '0040'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('playback_device',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('device_hash', sa.LargeBinary(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('user_agent', sa.String(length=400), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.UUID(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_playback_device_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_playback_device_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playback_device')),
    )
    op.create_index('uq_playback_device_active', 'playback_device', ['organization_id', 'user_id', 'device_hash'],
                    unique=True, postgresql_where=sa.text('removed_at IS NULL'))
    op.create_index(op.f('ix_playback_device_user_id'), 'playback_device', ['user_id', 'organization_id'])
    op.create_index('ix_playback_device_organization_removed', 'playback_device', ['organization_id', 'removed_at'])
    op.execute("ALTER TABLE playback_device ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE playback_device FORCE ROW LEVEL SECURITY")
    rule = f"organization_id = {SCOPED_ORG} OR user_id = {SCOPED_USER}"
    op.execute(f"CREATE POLICY tenant_or_owner ON playback_device FOR ALL USING ({rule}) WITH CHECK ({rule})")
    grant_app('playback_device', "SELECT, INSERT, UPDATE")


def downgrade() -> None:
    revoke_app('playback_device')
    op.drop_table('playback_device')  # its policies and indexes go with it
