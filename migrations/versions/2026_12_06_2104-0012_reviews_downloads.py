"""reviews and downloads

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import CURRENT_ORG, CURRENT_USER, grant_app, revoke_app

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("review", "content_rating", "download_counter")


def _force_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _tenant_write(table: str) -> None:
    op.execute(
        f"CREATE POLICY tenant_write ON {table} FOR ALL USING (organization_id = {CURRENT_ORG}) "
        f"WITH CHECK (organization_id = {CURRENT_ORG})"
    )


def _policies() -> None:
    # Reviews: published ones are public (like the published catalogue); authors read their own in any
    # status; the organization's scope reads and writes all. A customer's submission is written in the
    # item's organization scope (db.acting_in) after the service checked the entitlement.
    _force_rls("review")
    op.execute(
        f"CREATE POLICY tenant_read ON review FOR SELECT USING (organization_id = {CURRENT_ORG} "
        f"OR user_id = {CURRENT_USER} OR status = 'PUBLISHED')"
    )
    _tenant_write("review")
    # Rating summaries are public aggregates of published reviews.
    _force_rls("content_rating")
    op.execute("CREATE POLICY tenant_read ON content_rating FOR SELECT USING (true)")
    _tenant_write("content_rating")
    # Download counters: the buyer reads and counts their own (a field resolver must not switch the
    # transaction's scope); the organization reads all of its own.
    _force_rls("download_counter")
    op.execute(
        f"CREATE POLICY tenant_read ON download_counter FOR SELECT USING (organization_id = {CURRENT_ORG} "
        f"OR user_id = {CURRENT_USER})"
    )
    _tenant_write("download_counter")
    op.execute(
        f"CREATE POLICY owner_write ON download_counter FOR ALL USING (user_id = {CURRENT_USER}) "
        f"WITH CHECK (user_id = {CURRENT_USER})"
    )


def upgrade() -> None:
    op.create_table('review',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.Enum('PUBLISHED', 'PENDING', 'HIDDEN', 'REJECTED', name='review_status', native_enum=False, length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('moderated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('moderated_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_review_rating_range')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_review_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['moderated_by'], ['user_account.id'], name=op.f('fk_review_moderated_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_review_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_review_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review')),
    sa.UniqueConstraint('content_id', 'user_id', name=op.f('uq_review_content_id_user_id'))
    )
    op.create_index('ix_review_content_status_created', 'review', ['content_id', 'status', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_review_organization_id'), 'review', ['organization_id'], unique=False)
    op.create_index(op.f('ix_review_user_id'), 'review', ['user_id'], unique=False)
    op.create_table('content_rating',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('rating_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('rating_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint('rating_count >= 0 AND rating_sum >= 0', name=op.f('ck_content_rating_not_negative')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_rating_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_rating_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_content_rating'))
    )
    op.create_index(op.f('ix_content_rating_organization_id'), 'content_rating', ['organization_id'], unique=False)
    op.create_table('download_counter',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('entitlement_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('used', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('window_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('used >= 0', name=op.f('ck_download_counter_used_not_negative')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_download_counter_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entitlement_id'], ['content_entitlement.id'], name=op.f('fk_download_counter_entitlement_id_content_entitlement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_download_counter_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_download_counter_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_counter')),
    sa.UniqueConstraint('entitlement_id', name=op.f('uq_download_counter_entitlement_id'))
    )
    op.create_index(op.f('ix_download_counter_content_id'), 'download_counter', ['content_id'], unique=False)
    op.create_index(op.f('ix_download_counter_organization_id'), 'download_counter', ['organization_id'], unique=False)
    for table in TABLES:
        grant_app(table)
    _policies()


def downgrade() -> None:
    for table in TABLES:
        for policy in ("tenant_read", "tenant_write", "owner_write"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        revoke_app(table)
    op.drop_index(op.f('ix_download_counter_organization_id'), table_name='download_counter')
    op.drop_index(op.f('ix_download_counter_content_id'), table_name='download_counter')
    op.drop_table('download_counter')
    op.drop_index(op.f('ix_content_rating_organization_id'), table_name='content_rating')
    op.drop_table('content_rating')
    op.drop_index(op.f('ix_review_user_id'), table_name='review')
    op.drop_index(op.f('ix_review_organization_id'), table_name='review')
    op.drop_index('ix_review_content_status_created', table_name='review')
    op.drop_table('review')
