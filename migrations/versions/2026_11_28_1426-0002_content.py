"""content

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 14:26:22.563512+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import CURRENT_ORG, CURRENT_USER, grant_app, revoke_app

TABLES = ("content", "content_entitlement", "playback_position")


def _force_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _policies() -> None:
    # Content: the organization's staff see and write everything; anyone reads the published catalogue.
    _force_rls("content")
    op.execute(
        f"CREATE POLICY tenant_read ON content FOR SELECT USING (organization_id = {CURRENT_ORG} "
        "OR (status = 'PUBLISHED' AND deleted_at IS NULL))"
    )
    op.execute(
        f"CREATE POLICY tenant_write ON content FOR ALL USING (organization_id = {CURRENT_ORG}) "
        f"WITH CHECK (organization_id = {CURRENT_ORG})"
    )
    # Entitlements: staff of the organization, and the entitled user (read only).
    _force_rls("content_entitlement")
    op.execute(
        f"CREATE POLICY tenant_read ON content_entitlement FOR SELECT USING (organization_id = {CURRENT_ORG} "
        f"OR user_id = {CURRENT_USER})"
    )
    op.execute(
        f"CREATE POLICY tenant_write ON content_entitlement FOR ALL USING (organization_id = {CURRENT_ORG}) "
        f"WITH CHECK (organization_id = {CURRENT_ORG})"
    )
    # Playback positions: the viewer reads and writes their own; staff of the organization read them.
    _force_rls("playback_position")
    op.execute(
        f"CREATE POLICY tenant_read ON playback_position FOR SELECT USING (organization_id = {CURRENT_ORG} "
        f"OR user_id = {CURRENT_USER})"
    )
    op.execute(
        f"CREATE POLICY owner_write ON playback_position FOR ALL USING (user_id = {CURRENT_USER}) "
        f"WITH CHECK (user_id = {CURRENT_USER})"
    )

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('content',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('creator_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Enum('VIDEO', 'AUDIO', name='content_kind', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('UPLOADING', 'PROCESSING', 'READY', 'PUBLISHED', 'FAILED', name='content_status', native_enum=False, length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('price_cents', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=40)), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('duration_seconds', sa.Double(), nullable=True),
    sa.Column('media_info', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('thumbnails', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('storage_key', sa.String(length=400), nullable=False),
    sa.Column('mime_type', sa.String(length=100), nullable=False),
    sa.Column('original_filename', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('multipart_upload_id', sa.String(length=400), nullable=True),
    sa.Column('upload_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('price_cents >= 0', name=op.f('ck_content_price_not_negative')),
    sa.ForeignKeyConstraint(['creator_id'], ['user_account.id'], name=op.f('fk_content_creator_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content'))
    )
    op.create_index('ix_content_abandoned_uploads', 'content', ['upload_expires_at'], unique=False, postgresql_where=sa.text("status = 'UPLOADING'"))
    op.create_index('ix_content_catalogue', 'content', ['organization_id', 'created_at', 'id'], unique=False, postgresql_where=sa.text("status = 'PUBLISHED' AND deleted_at IS NULL"))
    op.create_index(op.f('ix_content_creator_id'), 'content', ['creator_id'], unique=False)
    op.create_index('ix_content_org_created', 'content', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_content_tags', 'content', ['tags'], unique=False, postgresql_using='gin')
    op.create_table('content_entitlement',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.Enum('PURCHASE', 'GRANT', 'FREE', name='entitlement_source', native_enum=False, length=16), nullable=False),
    sa.Column('source_id', sa.UUID(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_entitlement_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_entitlement_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_content_entitlement_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_entitlement'))
    )
    op.create_index(op.f('ix_content_entitlement_organization_id'), 'content_entitlement', ['organization_id'], unique=False)
    op.create_index('ix_content_entitlement_user', 'content_entitlement', ['user_id', 'content_id'], unique=False)
    op.create_index('uq_content_entitlement_active', 'content_entitlement', ['content_id', 'user_id'], unique=True, postgresql_where=sa.text('revoked_at IS NULL'))
    op.create_table('playback_position',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('position_seconds', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_playback_position_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_playback_position_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_playback_position_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'content_id', name=op.f('pk_playback_position'))
    )
    op.create_index(op.f('ix_playback_position_organization_id'), 'playback_position', ['organization_id'], unique=False)
    for table in TABLES:
        grant_app(table)
    _policies()


def downgrade() -> None:
    for table in TABLES:
        for policy in ("tenant_read", "tenant_write", "owner_write"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        revoke_app(table)
    op.drop_index(op.f('ix_playback_position_organization_id'), table_name='playback_position')
    op.drop_table('playback_position')
    op.drop_index('uq_content_entitlement_active', table_name='content_entitlement', postgresql_where=sa.text('revoked_at IS NULL'))
    op.drop_index('ix_content_entitlement_user', table_name='content_entitlement')
    op.drop_index(op.f('ix_content_entitlement_organization_id'), table_name='content_entitlement')
    op.drop_table('content_entitlement')
    op.drop_index('ix_content_tags', table_name='content', postgresql_using='gin')
    op.drop_index('ix_content_org_created', table_name='content')
    op.drop_index(op.f('ix_content_creator_id'), table_name='content')
    op.drop_index('ix_content_catalogue', table_name='content', postgresql_where=sa.text("status = 'PUBLISHED' AND deleted_at IS NULL"))
    op.drop_index('ix_content_abandoned_uploads', table_name='content', postgresql_where=sa.text("status = 'UPLOADING'"))
    op.drop_table('content')
