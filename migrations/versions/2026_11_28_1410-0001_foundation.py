"""foundation

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 14:10:06.295659+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import (
    create_app_role,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

APP_TABLES = (
    "organization", "user_account", "user_session", "email_token",
    "organization_membership", "outbox_message", "processed_message",
)

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_app_role()
    op.create_table('organization',
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization')),
    sa.UniqueConstraint('slug', name=op.f('uq_organization_slug'))
    )
    op.create_table('processed_message',
    sa.Column('consumer', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.UUID(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'message_id', name=op.f('pk_processed_message'))
    )
    op.create_table('user_account',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('platform_role', sa.Enum('PLATFORM_OWNER', 'CUSTOMER', name='platform_role', native_enum=False, length=32), nullable=False),
    sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('email', name=op.f('uq_user_account_email'))
    )
    op.create_table('email_token',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_email_token_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_email_token_token_hash'))
    )
    op.create_index(op.f('ix_email_token_user_id'), 'email_token', ['user_id'], unique=False)
    op.create_table('organization_membership',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('role', sa.Enum('OWNER', 'ADMIN', 'CREATOR', 'MEMBER', name='org_role', native_enum=False, length=32), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_organization_membership_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_organization_membership_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_membership')),
    sa.UniqueConstraint('organization_id', 'user_id', name=op.f('uq_organization_membership_organization_id_user_id'))
    )
    op.create_index(op.f('ix_organization_membership_user_id'), 'organization_membership', ['user_id'], unique=False)
    op.create_table('outbox_message',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_outbox_message_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message'))
    )
    op.create_index(op.f('ix_outbox_message_organization_id'), 'outbox_message', ['organization_id'], unique=False)
    op.create_index('ix_outbox_message_unpublished', 'outbox_message', ['created_at'], unique=False, postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('user_session',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active_organization_id', sa.UUID(), nullable=True),
    sa.Column('user_agent', sa.String(length=400), server_default='', nullable=False),
    sa.Column('ip_address', sa.String(length=64), server_default='', nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['active_organization_id'], ['organization.id'], name=op.f('fk_user_session_active_organization_id_organization'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_session_token_hash'))
    )
    op.create_index(op.f('ix_user_session_user_id'), 'user_session', ['user_id'], unique=False)
    for table in APP_TABLES:
        grant_app(table)
    enable_tenant_rls("organization_membership", readable_by_owner_column="user_id")


def downgrade() -> None:
    disable_tenant_rls("organization_membership")
    for table in APP_TABLES:
        revoke_app(table)
    op.drop_index(op.f('ix_user_session_user_id'), table_name='user_session')
    op.drop_table('user_session')
    op.drop_index('ix_outbox_message_unpublished', table_name='outbox_message', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_index(op.f('ix_outbox_message_organization_id'), table_name='outbox_message')
    op.drop_table('outbox_message')
    op.drop_index(op.f('ix_organization_membership_user_id'), table_name='organization_membership')
    op.drop_table('organization_membership')
    op.drop_index(op.f('ix_email_token_user_id'), table_name='email_token')
    op.drop_table('email_token')
    op.drop_table('user_account')
    op.drop_table('processed_message')
    op.drop_table('organization')
