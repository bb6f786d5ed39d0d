"""series: ordered sequences of an organization's content items, with navigation

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 16:50:00+00:00

``series`` and ``series_item`` (``series/models.py``). Row-level security (forced): the organization's rows
(``enable_tenant_rls``), and for everyone a PUBLISHED series and the item rows of a PUBLISHED series (the items
themselves stay under ``content``'s policy and the listing rule). The positions of a series are unique, checked
at commit (a reorder rewrites them all in one transaction).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('series',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.Enum('DRAFT', 'PUBLISHED', name='series_status', native_enum=False, length=16), server_default='DRAFT', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_series_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_series')),
    sa.UniqueConstraint('id', 'organization_id', name=op.f('uq_series_id_organization_id')),
    )
    op.create_index('ix_series_org_created', 'series', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_table('series_item',
    sa.Column('series_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_series_item_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_series_item_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['series_id', 'organization_id'], ['series.id', 'series.organization_id'], name=op.f('fk_series_item_series_id_series'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('series_id', 'content_id', name=op.f('pk_series_item')),
    sa.UniqueConstraint('content_id', name=op.f('uq_series_item_content_id')),
    sa.UniqueConstraint('series_id', 'position', name=op.f('uq_series_item_series_id_position'), deferrable=True, initially='DEFERRED'),
    )
    op.create_index('ix_series_item_organization_id', 'series_item', ['organization_id'], unique=False)
    for table in ('series', 'series_item'):
        enable_tenant_rls(table, scoped=True)
        grant_app(table, 'SELECT, INSERT, UPDATE, DELETE')
    op.execute("CREATE POLICY public_read ON series FOR SELECT USING (status = 'PUBLISHED')")
    op.execute("CREATE POLICY public_read ON series_item FOR SELECT USING (EXISTS (SELECT 1 FROM series s "
               "WHERE s.id = series_item.series_id AND s.status = 'PUBLISHED'))")


def downgrade() -> None:
    for table in ('series_item', 'series'):
        op.execute(f"DROP POLICY IF EXISTS public_read ON {table}")
        disable_tenant_rls(table)
        revoke_app(table)
    op.drop_index('ix_series_item_organization_id', table_name='series_item')
    op.drop_table('series_item')
    op.drop_index('ix_series_org_created', table_name='series')
    op.drop_table('series')
