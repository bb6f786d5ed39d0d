"""content revisions: who changed what and when, and restoring an earlier state

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 16:30:00+00:00

``content_revision`` (``revisions/models.py``): one row per change of an item's title, description, price,
tags, categories or (articles) body, with the state after it. Row-level security (forced): the organization's
rows only. The API role may insert and read, never update or delete: the history is append-only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('content_revision',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('actor_user_id', sa.UUID(), nullable=True),
    sa.Column('changed', sa.ARRAY(sa.String(length=20)), nullable=False),
    sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('body_document', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('restored_from', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['user_account.id'], name=op.f('fk_content_revision_actor_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_revision_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_revision_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_revision')),
    )
    op.create_index('ix_content_revision_content', 'content_revision', ['content_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_content_revision_organization_id', 'content_revision', ['organization_id'], unique=False)
    enable_tenant_rls('content_revision', scoped=True)
    grant_app('content_revision', 'SELECT, INSERT')


def downgrade() -> None:
    disable_tenant_rls('content_revision')
    revoke_app('content_revision')
    op.drop_index('ix_content_revision_organization_id', table_name='content_revision')
    op.drop_index('ix_content_revision_content', table_name='content_revision')
    op.drop_table('content_revision')
