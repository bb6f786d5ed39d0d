"""audit log: append-only entries of sensitive actions, under forced row-level security

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import CURRENT_ORG, CURRENT_USER, grant_app, revoke_app

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Organization entries belong to the organization's scope; platform entries (no organization, e.g. a
# sign-in from a new device) to the user who acted. Both are readable and insertable only there.
# No UPDATE or DELETE policy and no such grant: the log is append-only for the application.
VISIBLE = (f"organization_id = {CURRENT_ORG} "
           f"OR (organization_id IS NULL AND actor_user_id = {CURRENT_USER})")


def upgrade() -> None:
    op.create_table('audit_log_entry',
    sa.Column('organization_id', sa.UUID(), nullable=True),
    sa.Column('actor_user_id', sa.UUID(), nullable=True),
    sa.Column('action', sa.Enum('PURCHASE_REFUNDED', 'ACCESS_GRANTED', 'ACCESS_REVOKED', 'MEMBER_ADDED', 'SETTINGS_CHANGED', 'CONTENT_PUBLISHED', 'CONTENT_UNPUBLISHED', 'LOGIN_NEW_DEVICE', name='audit_action', native_enum=False, length=40), nullable=False),
    sa.Column('target_type', sa.String(length=60), nullable=False),
    sa.Column('target_id', sa.UUID(), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('request_id', sa.String(length=100), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=400), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['user_account.id'], name=op.f('fk_audit_log_entry_actor_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_audit_log_entry_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log_entry'))
    )
    op.create_index('ix_audit_log_entry_actor_created', 'audit_log_entry', ['actor_user_id', 'created_at'], unique=False)
    op.create_index('ix_audit_log_entry_org_created', 'audit_log_entry', ['organization_id', 'created_at', 'id'], unique=False)
    op.execute("ALTER TABLE audit_log_entry ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_log_entry FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY audit_read ON audit_log_entry FOR SELECT USING ({VISIBLE})")
    op.execute(f"CREATE POLICY audit_insert ON audit_log_entry FOR INSERT WITH CHECK ({VISIBLE})")
    grant_app("audit_log_entry", "SELECT, INSERT")


def downgrade() -> None:
    revoke_app("audit_log_entry")
    op.execute("DROP POLICY IF EXISTS audit_insert ON audit_log_entry")
    op.execute("DROP POLICY IF EXISTS audit_read ON audit_log_entry")
    op.drop_index('ix_audit_log_entry_org_created', table_name='audit_log_entry')
    op.drop_index('ix_audit_log_entry_actor_created', table_name='audit_log_entry')
    op.drop_table('audit_log_entry')
