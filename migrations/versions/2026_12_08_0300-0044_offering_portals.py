"""offering portals: items attached to an offering, visible only to its participants, and announcements

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-08 03:00:00+00:00

Participants are derived, never stored: the people holding a CONFIRMED booking of the offering. Row-level
security, forced, on every table (``enable_tenant_rls``, scoped): the organization reads and writes its rows;
a participant also reads the portal items and announcements of the offerings they hold a confirmed booking of
(``participant_read``, over their own bookings, which ``booking``'s policy shows them). Deliveries (one row per
announcement and participant mailed) are the organization's only: the mail job runs in its scope.

A content item attached to a portal is an entitlement source (``content.access.portal_sql``). ``content``'s read
policy admits it to the participants like a bought series' items (migration 0037): ``id IN (SELECT
codex_portal_items())``, a SECURITY DEFINER set function (fixed search_path) listing the content items of the
portals of the offerings the *verified* scope's user holds a confirmed booking of, read once per statement and
only when the cheaper conditions before it fail; it takes no argument, so no caller can ask for another user's.

Downloads of a portal item count per source like every other access (``content.access.admitting_source``): a
participant's counter names their confirmed booking (``download_counter.booking_id``, one counter per booking and
item); the one-source check now counts three columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import SCOPED_ORG, SCOPED_USER, enable_tenant_rls, grant_app, revoke_app

revision: str = '0044'
down_revision: str | None = '0043'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('offering_portal_item', 'offering_announcement', 'offering_announcement_delivery')
SIGNATURE = "codex_portal_items()"
FUNCTION = """
CREATE FUNCTION codex_portal_items() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT pi.content_id
  FROM booking b
  JOIN offering_portal_item pi ON pi.offering_id = b.offering_id
  WHERE b.user_id = nullif((public.codex_scope())[1], '')::uuid AND b.status = 'CONFIRMED'
    AND pi.content_id IS NOT NULL
$$"""
PARTICIPANT = ("EXISTS (SELECT 1 FROM booking b WHERE b.offering_id = {table}.offering_id "  # noqa: S608
               f"AND b.user_id = {SCOPED_USER} AND b.status = 'CONFIRMED')")

# content's read policy as migration 0037 left it, and with the portal source.
CATALOGUE = f"organization_id = {SCOPED_ORG} OR (status = 'PUBLISHED' AND deleted_at IS NULL)"
ENTITLED = (f"EXISTS (SELECT 1 FROM content_entitlement e WHERE e.content_id = content.id "  # noqa: S608
            f"AND e.user_id = {SCOPED_USER} AND e.revoked_at IS NULL)")
BOUGHT_SERIES_SET = "id IN (SELECT codex_series_bought_items())"
PORTAL_SET = f"id IN (SELECT {SIGNATURE})"


def upgrade() -> None:
    op.create_table('offering_portal_item',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Enum('CONTENT', 'FILE', name='portal_item_kind', native_enum=False, length=16),
              nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('content_type', sa.String(length=255), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('storage_key', sa.String(length=512), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('added_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'CONTENT') = (content_id IS NOT NULL)",
                       name=op.f('ck_offering_portal_item_content_iff_content_kind')),
    sa.CheckConstraint("kind = 'CONTENT' OR (filename IS NOT NULL AND storage_key IS NOT NULL)",
                       name=op.f('ck_offering_portal_item_file_has_object')),
    sa.CheckConstraint('size_bytes IS NULL OR size_bytes > 0', name=op.f('ck_offering_portal_item_size_positive')),
    sa.ForeignKeyConstraint(['added_by'], ['user_account.id'], name=op.f('fk_offering_portal_item_added_by_user_account'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_offering_portal_item_content_id_content'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'], name=op.f('fk_offering_portal_item_offering_id_offering'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_portal_item_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offering_portal_item')),
    sa.UniqueConstraint('offering_id', 'content_id', name=op.f('uq_offering_portal_item_offering_id_content_id')),
    )
    op.create_index('ix_offering_portal_item_offering', 'offering_portal_item', ['offering_id', 'position', 'created_at'])
    op.create_index('ix_offering_portal_item_content', 'offering_portal_item', ['content_id'])
    op.create_index(op.f('ix_offering_portal_item_organization_id'), 'offering_portal_item', ['organization_id'])
    op.create_table('offering_announcement',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('offering_id', sa.UUID(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('posted_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(title) BETWEEN 1 AND 200', name=op.f('ck_offering_announcement_title_length')),
    sa.CheckConstraint('char_length(body) <= 20000', name=op.f('ck_offering_announcement_body_length')),
    sa.ForeignKeyConstraint(['offering_id'], ['offering.id'], name=op.f('fk_offering_announcement_offering_id_offering'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_announcement_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['posted_by'], ['user_account.id'],
                            name=op.f('fk_offering_announcement_posted_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offering_announcement')),
    )
    op.create_index('ix_offering_announcement_offering', 'offering_announcement', ['offering_id', 'created_at'])
    op.create_index(op.f('ix_offering_announcement_organization_id'), 'offering_announcement', ['organization_id'])
    op.create_table('offering_announcement_delivery',
    sa.Column('announcement_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['announcement_id'], ['offering_announcement.id'],
                            name=op.f('fk_offering_announcement_delivery_announcement_id_offering_announcement'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_offering_announcement_delivery_organization_id_organization'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                            name=op.f('fk_offering_announcement_delivery_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('announcement_id', 'user_id', name=op.f('pk_offering_announcement_delivery')),
    )
    op.create_index(op.f('ix_offering_announcement_delivery_organization_id'), 'offering_announcement_delivery',
                    ['organization_id'])
    for table in TABLES:
        enable_tenant_rls(table, scoped=True)
        grant_app(table)
    for table in ('offering_portal_item', 'offering_announcement'):
        op.execute(f"CREATE POLICY participant_read ON {table} FOR SELECT USING ({PARTICIPANT.format(table=table)})")
    # Content attached to a portal: an entitlement source the content policy admits (like a bought series).
    op.execute(FUNCTION)
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({CATALOGUE} OR {ENTITLED} "
               f"OR {BOUGHT_SERIES_SET} OR {PORTAL_SET})")
    # A participant's download counter names their booking (the third source of admitting_source).
    op.add_column('download_counter', sa.Column('booking_id', sa.UUID(), nullable=True))
    op.create_foreign_key(op.f('fk_download_counter_booking_id_booking'), 'download_counter', 'booking',
                          ['booking_id'], ['id'], ondelete='CASCADE')
    op.create_unique_constraint(op.f('uq_download_counter_booking_id_content_id'), 'download_counter',
                                ['booking_id', 'content_id'])
    op.drop_constraint(op.f('ck_download_counter_one_source'), 'download_counter', type_='check')
    op.create_check_constraint(op.f('ck_download_counter_one_source'), 'download_counter',
                               'num_nonnulls(entitlement_id, subscription_id, booking_id) = 1')


def downgrade() -> None:
    # Counters of bookings have no place in the old table. Row-level security is forced on it, so the owner lifts
    # that for this one statement (a superuser bypasses it anyway).
    op.execute("ALTER TABLE download_counter NO FORCE ROW LEVEL SECURITY")
    op.execute("DELETE FROM download_counter WHERE booking_id IS NOT NULL")
    op.execute("ALTER TABLE download_counter FORCE ROW LEVEL SECURITY")
    op.drop_constraint(op.f('ck_download_counter_one_source'), 'download_counter', type_='check')
    op.create_check_constraint(op.f('ck_download_counter_one_source'), 'download_counter',
                               'num_nonnulls(entitlement_id, subscription_id) = 1')
    op.drop_constraint(op.f('uq_download_counter_booking_id_content_id'), 'download_counter', type_='unique')
    op.drop_constraint(op.f('fk_download_counter_booking_id_booking'), 'download_counter', type_='foreignkey')
    op.drop_column('download_counter', 'booking_id')
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({CATALOGUE} OR {ENTITLED} OR {BOUGHT_SERIES_SET})")
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    for table in reversed(TABLES):
        revoke_app(table)
        op.drop_table(table)  # its policies and indexes go with it
