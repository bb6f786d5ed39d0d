"""articles: written content (kind ARTICLE), its structured body, rendered HTML, excerpt and reading time

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 16:00:00+00:00

``content.kind`` is a plain string column, so the new kind ARTICLE needs no change there. An article has no
media file: its ``storage_key`` is empty (nothing is signed or counted as playback for it).

``article_body`` holds one row per article (``articles/models.py``). Row-level security (forced): the
organization writes and reads its rows (``enable_tenant_rls``); a second read policy admits a row exactly when
its ``content`` row is visible to the reader (the EXISTS runs under ``content``'s own policy: the organization,
a published live item, or an item the reader is entitled to), so a body is never visible where its item is
not. Serving ``html`` to a reader is the access rule's decision (``Content.body``), as signing a media URL is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('article_body',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('document', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('excerpt_html', sa.Text(), nullable=False),
    sa.Column('plain_text', sa.Text(), nullable=False),
    sa.Column('word_count', sa.Integer(), nullable=False),
    sa.Column('reading_minutes', sa.Integer(), nullable=False),
    sa.Column('image_keys', sa.ARRAY(sa.String(length=400)), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_article_body_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_article_body_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_article_body')),
    )
    op.create_index(op.f('ix_article_body_organization_id'), 'article_body', ['organization_id'], unique=False)
    enable_tenant_rls('article_body', scoped=True)
    op.execute("CREATE POLICY content_readers ON article_body FOR SELECT USING "
               "(EXISTS (SELECT 1 FROM content c WHERE c.id = article_body.content_id))")
    grant_app('article_body', 'SELECT, INSERT, UPDATE')


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS content_readers ON article_body")
    disable_tenant_rls('article_body')
    revoke_app('article_body')
    op.drop_index(op.f('ix_article_body_organization_id'), table_name='article_body')
    op.drop_table('article_body')
