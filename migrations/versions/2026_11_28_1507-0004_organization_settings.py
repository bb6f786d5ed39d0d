"""organization settings and content defaults

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 15:07:54.949790+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import CURRENT_ORG

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('content', sa.Column('listed', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('content', sa.Column('allow_downloads', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('content', sa.Column('reviews_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('organization', sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False))
    op.add_column('organization', sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False))
    # The organization row is the tenant itself: anyone reads its public face, anyone signed in may
    # create one (the service decides who), and only the organization's own scope changes it.
    op.execute("ALTER TABLE organization ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE organization FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY org_read ON organization FOR SELECT USING (true)")
    op.execute("CREATE POLICY org_create ON organization FOR INSERT WITH CHECK (true)")
    op.execute(f"CREATE POLICY org_update ON organization FOR UPDATE USING (id = {CURRENT_ORG}) "
               f"WITH CHECK (id = {CURRENT_ORG})")
    op.execute(f"CREATE POLICY org_delete ON organization FOR DELETE USING (id = {CURRENT_ORG})")


def downgrade() -> None:
    for policy in ("org_read", "org_create", "org_update", "org_delete"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON organization")
    op.execute("ALTER TABLE organization NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE organization DISABLE ROW LEVEL SECURITY")
    op.drop_column('organization', 'settings')
    op.drop_column('organization', 'timezone')
    op.drop_column('content', 'reviews_enabled')
    op.drop_column('content', 'allow_downloads')
    op.drop_column('content', 'listed')
