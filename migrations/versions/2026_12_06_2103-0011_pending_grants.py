"""pending grants by email: access granted to an address without a verified account yet

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00+00:00

``grantContentAccess`` with an email that has no verified account stores a pending grant; when the
account with that address verifies it, each open pending grant becomes a GRANT purchase and an
entitlement (``codex_graphql.commerce.grants.claim_for``). A tenant table under forced RLS; besides the
organization's scope, the addressee (the transaction's user, by their account's email) may read (never
write) the rows addressed to them, which is how the claim finds them across organizations before it
writes in each organization's scope.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    CURRENT_USER,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "claimed_at IS NULL AND revoked_at IS NULL"
ADDRESSEE = f"email = (SELECT u.email FROM user_account u WHERE u.id = {CURRENT_USER})"  # noqa: S608


def upgrade() -> None:
    op.create_table('pending_grant',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('granted_by_id', sa.UUID(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by_id', sa.UUID(), nullable=True),
    sa.Column('purchase_id', sa.UUID(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_pending_grant_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_pending_grant_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user_account.id'], name=op.f('fk_pending_grant_granted_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['user_account.id'], name=op.f('fk_pending_grant_claimed_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchase.id'], name=op.f('fk_pending_grant_purchase_id_purchase'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'], name=op.f('fk_pending_grant_revoked_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_grant'))
    )
    op.create_index(op.f('ix_pending_grant_organization_id'), 'pending_grant', ['organization_id'], unique=False)
    op.create_index('ix_pending_grant_org_created', 'pending_grant', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('uq_pending_grant_open', 'pending_grant', ['content_id', 'email'], unique=True,
                    postgresql_where=sa.text(OPEN))
    op.create_index('ix_pending_grant_open_email', 'pending_grant', ['email'], unique=False,
                    postgresql_where=sa.text(OPEN))
    enable_tenant_rls("pending_grant")
    op.execute(f"CREATE POLICY addressee_read ON pending_grant FOR SELECT USING ({ADDRESSEE})")
    grant_app("pending_grant")


def downgrade() -> None:
    revoke_app("pending_grant")
    op.execute("DROP POLICY IF EXISTS addressee_read ON pending_grant")
    disable_tenant_rls("pending_grant")
    op.drop_index('ix_pending_grant_open_email', table_name='pending_grant', postgresql_where=sa.text(OPEN))
    op.drop_index('uq_pending_grant_open', table_name='pending_grant', postgresql_where=sa.text(OPEN))
    op.drop_index('ix_pending_grant_org_created', table_name='pending_grant')
    op.drop_index(op.f('ix_pending_grant_organization_id'), table_name='pending_grant')
    op.drop_table('pending_grant')
