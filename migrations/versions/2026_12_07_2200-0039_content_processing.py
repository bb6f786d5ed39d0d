"""content processing: HLS ladder progress and the item's published renditions

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 22:00:00+00:00

``content_processing`` holds one row per item that went through the HLS ladder (media/transcode.py): its stage
and percent for staff, and what a retried job resumes from (the versioned storage prefix and the renditions
stored completely so far). Row-level security, forced (``enable_tenant_rls``, scoped): the active organization
reads and writes its own rows. ``content.hls_prefix`` and ``content.hls_renditions`` are set together with
READY, so a published item never points at a half-made ladder.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import enable_tenant_rls, grant_app, revoke_app

revision: str = '0039'
down_revision: str | None = '0038'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('content', sa.Column('hls_prefix', sa.String(length=400), nullable=True))
    op.add_column('content', sa.Column('hls_renditions', postgresql.JSONB(astext_type=sa.Text()),
                                       server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.create_table('content_processing',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('stage', sa.Enum('PROBING', 'TRANSCODING', 'PACKAGING', 'DONE', 'FAILED', name='processing_stage',
                               native_enum=False, length=16), nullable=False),
    sa.Column('percent', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('hls_prefix', sa.String(length=400), nullable=False),
    sa.Column('done', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
              nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_processing_content_id_content'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_content_processing_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_content_processing')),
    )
    op.create_index(op.f('ix_content_processing_organization_id'), 'content_processing', ['organization_id'],
                    unique=False)
    enable_tenant_rls('content_processing', scoped=True)
    grant_app('content_processing')


def downgrade() -> None:
    revoke_app('content_processing')
    op.drop_index(op.f('ix_content_processing_organization_id'), table_name='content_processing')
    op.drop_table('content_processing')  # its policies go with it
    op.drop_column('content', 'hls_renditions')
    op.drop_column('content', 'hls_prefix')
