"""content categories: an organization's categories and the many-to-many link to content

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 07:00:00+00:00

``category`` (slug unique per organization) and ``content_category`` (primary key ``(content_id,
category_id)``, an index for the other direction, ``(category_id, content_id)``). The link's composite
foreign key ``(category_id, organization_id)`` -> ``category (id, organization_id)`` makes a link to a
category of another organization impossible, whatever the code does.

Row-level security, forced on both (``enable_tenant_rls``: the active organization reads and writes its
own rows), plus one more permissive read policy each, the storefront's, as the ``content`` policy lets
anyone read published items:

* ``catalogue_read`` on ``content_category``: a link is readable exactly when its item is, because the
  ``content`` table's own policy applies inside the ``EXISTS`` (published live items, the viewer's
  entitled ones). Which categories a draft is in stays the organization's.
* ``catalogue_read`` on ``category``: a category is readable when it holds at least one link the reader
  may read (so, one item they may see). A category holding only drafts, or nothing yet, stays the
  organization's: a query that forgets the organization filter sees no other tenant's private categories.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import enable_tenant_rls, grant_app, revoke_app

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('category',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('position', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_category_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category')),
    sa.UniqueConstraint('id', 'organization_id', name=op.f('uq_category_id_organization_id')),
    sa.UniqueConstraint('organization_id', 'slug', name=op.f('uq_category_organization_id_slug')),
    )
    op.create_index('ix_category_org_position', 'category', ['organization_id', 'position', 'name', 'id'],
                    unique=False)
    op.create_table('content_category',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['category_id', 'organization_id'], ['category.id', 'category.organization_id'],
                            name=op.f('fk_content_category_category_id_category'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_category_content_id_content'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_content_category_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'category_id', name=op.f('pk_content_category')),
    )
    op.create_index('ix_content_category_category', 'content_category', ['category_id', 'content_id'], unique=False)
    op.create_index('ix_content_category_organization_id', 'content_category', ['organization_id'], unique=False)

    for table in ('category', 'content_category'):
        enable_tenant_rls(table, scoped=True)
        grant_app(table)
    # The storefront's reads (see the module docstring). Each subquery runs under the policies of the table
    # it reads: content's for the link, the link's (so content's) for the category.
    op.execute("CREATE POLICY catalogue_read ON content_category FOR SELECT USING "
               "(EXISTS (SELECT 1 FROM content c WHERE c.id = content_category.content_id))")
    op.execute("CREATE POLICY catalogue_read ON category FOR SELECT USING "
               "(EXISTS (SELECT 1 FROM content_category cc WHERE cc.category_id = category.id))")


def downgrade() -> None:
    op.execute("DROP POLICY catalogue_read ON category")  # it reads content_category
    for table in ('content_category', 'category'):
        revoke_app(table)
    op.drop_index('ix_content_category_organization_id', table_name='content_category')
    op.drop_index('ix_content_category_category', table_name='content_category')
    op.drop_table('content_category')  # its policies go with it
    op.drop_index('ix_category_org_position', table_name='category')
    op.drop_table('category')
