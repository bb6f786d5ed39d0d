"""team invitations: email invitations to join an organization, under forced row-level security

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Staff of the organization read and write its invitations (tenant policies). The invitee is no member
# yet: a transaction that set `codex.invitation_token_hash` to the hash of the token from the mail may
# read (never write) the one invitation with that hash, and nothing else.
BY_TOKEN = "token_hash = (select nullif(current_setting('codex.invitation_token_hash', true), ''))"


def upgrade() -> None:
    op.create_table('organization_invitation',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.Enum('OWNER', 'ADMIN', 'CREATOR', 'MEMBER', name='org_role', native_enum=False, length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('invited_by_user_id', sa.UUID(), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_user_id', sa.UUID(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by_user_id'], ['user_account.id'], name=op.f('fk_organization_invitation_accepted_by_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invited_by_user_id'], ['user_account.id'], name=op.f('fk_organization_invitation_invited_by_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_organization_invitation_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_invitation')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_organization_invitation_token_hash'))
    )
    op.create_index('ix_organization_invitation_org_created', 'organization_invitation', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_organization_invitation_pending', 'organization_invitation', ['organization_id', 'email'], unique=True, postgresql_where=sa.text('accepted_at IS NULL AND revoked_at IS NULL'))
    grant_app('organization_invitation')
    enable_tenant_rls('organization_invitation')
    op.execute(f"CREATE POLICY invitation_by_token ON organization_invitation FOR SELECT USING ({BY_TOKEN})")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS invitation_by_token ON organization_invitation")
    disable_tenant_rls('organization_invitation')
    revoke_app('organization_invitation')
    op.drop_index('ix_organization_invitation_pending', table_name='organization_invitation', postgresql_where=sa.text('accepted_at IS NULL AND revoked_at IS NULL'))
    op.drop_index('ix_organization_invitation_org_created', table_name='organization_invitation')
    op.drop_table('organization_invitation')
