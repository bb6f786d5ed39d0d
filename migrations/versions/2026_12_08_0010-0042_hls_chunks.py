"""chunked HLS transcoding: a long video's chunks, each transcoded by its own job

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-08 00:10:00+00:00

``content_processing_chunk`` holds one row per chunk of a ladder made in chunks (media/chunks.py): where it sits
in the source, the number of its first segment, PENDING or DONE, and once DONE its stored segments per rendition.
``content_processing.chunk_plan`` holds what every chunk job and the assembly need (renditions, settings, the
probe's facts and thumbnails the item gets with READY). Row-level security, forced (``enable_tenant_rls``,
scoped), as ``content_processing`` (0039): the active organization reads and writes its own rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import enable_tenant_rls, grant_app, revoke_app

revision: str = '0042'
down_revision: str | None = '0041'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('content_processing', sa.Column('chunk_plan', postgresql.JSONB(astext_type=sa.Text()),
                                                  nullable=True))
    op.create_table('content_processing_chunk',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('hls_prefix', sa.String(length=400), nullable=False),
    sa.Column('start_seconds', sa.Integer(), nullable=False),
    sa.Column('length_seconds', sa.Integer(), nullable=True),
    sa.Column('first_segment', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'DONE', name='chunk_status', native_enum=False, length=16),
              nullable=False),
    sa.Column('segments', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
              nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'],
                            name=op.f('fk_content_processing_chunk_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_content_processing_chunk_organization_id_organization'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'chunk_index', name=op.f('pk_content_processing_chunk')),
    )
    op.create_index(op.f('ix_content_processing_chunk_organization_id'), 'content_processing_chunk',
                    ['organization_id'], unique=False)
    enable_tenant_rls('content_processing_chunk', scoped=True)
    grant_app('content_processing_chunk')


def downgrade() -> None:
    revoke_app('content_processing_chunk')
    op.drop_index(op.f('ix_content_processing_chunk_organization_id'), table_name='content_processing_chunk')
    op.drop_table('content_processing_chunk')  # its policies go with it
    op.drop_column('content_processing', 'chunk_plan')
