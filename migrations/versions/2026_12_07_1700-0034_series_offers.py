"""series offers: a priced series is sold as one item (kind BUNDLE) whose entitlement covers every item in it

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 17:00:00+00:00

``series.offer_content_id`` names the series' offer (``for_sale``: on sale while the series is published): a content row of kind BUNDLE (no media, never listed) bought
through the normal purchase path. An active entitlement to it entitles its owner to every item of the series,
the ones added later too (``content.access.bought_series_sql``): a source of access, not rows copied per item,
so a refund (which revokes the one entitlement) ends it for every item at once.

Row-level security follows the rule: ``content``'s read policy admits the items of a bought series (a buyer
keeps them after they are unpublished, as with bought items); a buyer reads the series they bought even when it
is a DRAFT again (``buyer_read``), and a series' item rows are readable exactly where the series is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import SCOPED_ORG, SCOPED_USER

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATALOGUE = f"organization_id = {SCOPED_ORG} OR (status = 'PUBLISHED' AND deleted_at IS NULL)"
ENTITLED = (f"EXISTS (SELECT 1 FROM content_entitlement e WHERE e.content_id = content.id "  # noqa: S608
            f"AND e.user_id = {SCOPED_USER} AND e.revoked_at IS NULL)")
BOUGHT_SERIES = (f"EXISTS (SELECT 1 FROM series_item si JOIN series s ON s.id = si.series_id "  # noqa: S608
                 f"JOIN content_entitlement se ON se.content_id = s.offer_content_id WHERE si.content_id = content.id "
                 f"AND se.user_id = {SCOPED_USER} AND se.revoked_at IS NULL)")
BUYER = (f"offer_content_id IS NOT NULL AND EXISTS (SELECT 1 FROM content_entitlement e "  # noqa: S608
         f"WHERE e.content_id = series.offer_content_id AND e.user_id = {SCOPED_USER} AND e.revoked_at IS NULL)")


def upgrade() -> None:
    op.add_column('series', sa.Column('offer_content_id', sa.UUID(), nullable=True))
    op.add_column('series', sa.Column('for_sale', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_foreign_key(op.f('fk_series_offer_content_id_content'), 'series', 'content', ['offer_content_id'],
                          ['id'], ondelete='SET NULL')
    op.create_unique_constraint(op.f('uq_series_offer_content_id'), 'series', ['offer_content_id'])
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({CATALOGUE} OR {ENTITLED} OR {BOUGHT_SERIES})")
    op.execute(f"CREATE POLICY buyer_read ON series FOR SELECT USING ({BUYER})")
    op.execute("DROP POLICY public_read ON series_item")
    op.execute("CREATE POLICY series_readers ON series_item FOR SELECT USING "
               "(EXISTS (SELECT 1 FROM series s WHERE s.id = series_item.series_id))")


def downgrade() -> None:
    op.execute("DROP POLICY series_readers ON series_item")
    op.execute("CREATE POLICY public_read ON series_item FOR SELECT USING (EXISTS (SELECT 1 FROM series s "
               "WHERE s.id = series_item.series_id AND s.status = 'PUBLISHED'))")
    op.execute("DROP POLICY buyer_read ON series")
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({CATALOGUE} OR {ENTITLED})")
    op.drop_constraint(op.f('uq_series_offer_content_id'), 'series', type_='unique')
    op.drop_constraint(op.f('fk_series_offer_content_id_content'), 'series', type_='foreignkey')
    op.drop_column('series', 'for_sale')
    op.drop_column('series', 'offer_content_id')
