"""creator earnings: per-item creator share, co-creators, the append-only earnings ledger and its summary

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 18:30:00+00:00

``platform_settings``: one row of platform-wide settings, the platform fee taken first from every sale (read by
everyone, changed under the platform scope only). ``content.creator_share_percent`` overrides the organization's default creators' share for one item (null:
the default). ``content_contributor``: an item's co-creators with their percent of the creators' share; the
percentages of an item add up to at most 100, checked at commit (a replacement rewrites them in one
transaction). ``earning_entry``: the ledger (earnings/models.py), insert-only for the app. A constraint
trigger keeps ``creator_earning_summary`` (creators' totals per organization and currency, select-only for
the app). Row-level security: the organization's rows, and a creator's own rows everywhere. Sales made before
this migration are not back-filled: their creator shares stay on ``purchase`` as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    SCOPED_PLATFORM,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0036'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARES_CHECK = """
CREATE FUNCTION content_contributor_shares() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  item uuid := coalesce(NEW.content_id, OLD.content_id);
  total int;
BEGIN
  SELECT coalesce(sum(share_percent), 0) INTO total FROM content_contributor WHERE content_id = item;
  IF total > 100 THEN
    RAISE EXCEPTION 'co-creators of content % share % percent (at most 100)', item, total USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$"""

SUMMARY = """
CREATE FUNCTION creator_earning_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.party <> 'CREATOR' THEN
    RETURN NULL;
  END IF;
  INSERT INTO creator_earning_summary AS s (organization_id, user_id, currency, sales, earned_cents, refunded_cents)
  VALUES (NEW.organization_id, NEW.user_id, NEW.currency, CASE WHEN NEW.kind = 'SALE' THEN 1 ELSE 0 END,
          CASE WHEN NEW.kind = 'SALE' THEN NEW.amount_cents ELSE 0 END,
          CASE WHEN NEW.kind = 'SALE' THEN 0 ELSE -NEW.amount_cents END)
  ON CONFLICT (organization_id, user_id, currency) DO UPDATE
    SET sales = s.sales + EXCLUDED.sales, earned_cents = s.earned_cents + EXCLUDED.earned_cents,
        refunded_cents = s.refunded_cents + EXCLUDED.refunded_cents;
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table('platform_settings',
    sa.Column('id', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('platform_fee_percent', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id', name=op.f('ck_platform_settings_single_row')),
    sa.CheckConstraint('platform_fee_percent BETWEEN 0 AND 100', name=op.f('ck_platform_settings_fee_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_settings')),
    )
    op.execute("INSERT INTO platform_settings (id) VALUES (true)")
    op.execute("ALTER TABLE platform_settings ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE platform_settings FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY everyone_reads ON platform_settings FOR SELECT USING (true)")
    op.execute(f"CREATE POLICY platform_writes ON platform_settings FOR UPDATE USING ({SCOPED_PLATFORM}) "
               f"WITH CHECK ({SCOPED_PLATFORM})")
    grant_app('platform_settings', 'SELECT, UPDATE')
    op.add_column('content', sa.Column('creator_share_percent', sa.Integer(), nullable=True))
    op.create_check_constraint(op.f('ck_content_creator_share_percent_range'), 'content',
                               'creator_share_percent BETWEEN 0 AND 100')
    op.create_check_constraint(op.f('ck_organization_creator_share_percent_range'), 'organization',
                               'creator_share_percent BETWEEN 0 AND 100')
    op.create_table('content_contributor',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('share_percent', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('share_percent BETWEEN 1 AND 100', name=op.f('ck_content_contributor_share_percent_range')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_contributor_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_content_contributor_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_content_contributor_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'user_id', name=op.f('pk_content_contributor')),
    )
    op.create_index('ix_content_contributor_organization_id', 'content_contributor', ['organization_id'], unique=False)
    op.create_index('ix_content_contributor_user', 'content_contributor', ['user_id'], unique=False)
    op.create_table('earning_entry',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('purchase_id', sa.UUID(), nullable=True),
    sa.Column('refund_id', sa.UUID(), nullable=True),
    sa.Column('content_id', sa.UUID(), nullable=True),
    sa.Column('kind', sa.Enum('SALE', 'REFUND', 'DISPUTE', name='earning_kind', native_enum=False, length=16), nullable=False),
    sa.Column('party', sa.Enum('PLATFORM', 'ORGANIZATION', 'CREATOR', name='earning_party', native_enum=False, length=16), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.CheckConstraint("(party = 'CREATOR') = (user_id IS NOT NULL)", name=op.f('ck_earning_entry_creator_has_user')),
    sa.CheckConstraint("(kind = 'SALE') = (amount_cents >= 0 AND weight IS NOT NULL)", name=op.f('ck_earning_entry_sale_shape')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_earning_entry_content_id_content'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_earning_entry_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchase.id'], name=op.f('fk_earning_entry_purchase_id_purchase')),
    sa.ForeignKeyConstraint(['refund_id'], ['purchase_refund.id'], name=op.f('fk_earning_entry_refund_id_purchase_refund')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_earning_entry_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_earning_entry')),
    )
    op.create_index('ix_earning_entry_org_created', 'earning_entry', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_earning_entry_user_created', 'earning_entry', ['user_id', 'created_at', 'id'], unique=False,
                    postgresql_where=sa.text('user_id IS NOT NULL'))
    op.create_index('uq_earning_entry_sale', 'earning_entry', ['purchase_id', 'party', 'user_id'], unique=True,
                    postgresql_nulls_not_distinct=True, postgresql_where=sa.text("kind = 'SALE'"))
    op.create_index('uq_earning_entry_refund', 'earning_entry', ['refund_id', 'party', 'user_id'], unique=True,
                    postgresql_nulls_not_distinct=True, postgresql_where=sa.text('refund_id IS NOT NULL'))
    op.create_table('creator_earning_summary',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('sales', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('earned_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunded_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_creator_earning_summary_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_creator_earning_summary_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'user_id', 'currency', name=op.f('pk_creator_earning_summary')),
    )
    op.create_index('ix_creator_earning_summary_user', 'creator_earning_summary', ['user_id'], unique=False)

    for table, privileges in (('content_contributor', 'SELECT, INSERT, UPDATE, DELETE'),
                              ('earning_entry', 'SELECT, INSERT'), ('creator_earning_summary', 'SELECT')):
        enable_tenant_rls(table, readable_by_owner_column='user_id', scoped=True)
        grant_app(table, privileges)
    op.execute(SHARES_CHECK)
    op.execute("CREATE CONSTRAINT TRIGGER content_contributor_shares AFTER INSERT OR UPDATE ON content_contributor "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION content_contributor_shares()")
    op.execute(SUMMARY)
    op.execute("REVOKE ALL ON FUNCTION creator_earning_recorded() FROM PUBLIC")
    op.execute("CREATE TRIGGER creator_earning_recorded AFTER INSERT ON earning_entry "
               "FOR EACH ROW EXECUTE FUNCTION creator_earning_recorded()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS creator_earning_recorded ON earning_entry")
    op.execute("DROP FUNCTION IF EXISTS creator_earning_recorded()")
    op.execute("DROP TRIGGER IF EXISTS content_contributor_shares ON content_contributor")
    op.execute("DROP FUNCTION IF EXISTS content_contributor_shares()")
    for table in ('creator_earning_summary', 'earning_entry', 'content_contributor'):
        disable_tenant_rls(table)
        revoke_app(table)
    op.drop_index('ix_creator_earning_summary_user', table_name='creator_earning_summary')
    op.drop_table('creator_earning_summary')
    for index in ('uq_earning_entry_refund', 'uq_earning_entry_sale', 'ix_earning_entry_user_created',
                  'ix_earning_entry_org_created'):
        op.drop_index(index, table_name='earning_entry')
    op.drop_table('earning_entry')
    op.drop_index('ix_content_contributor_user', table_name='content_contributor')
    op.drop_index('ix_content_contributor_organization_id', table_name='content_contributor')
    op.drop_table('content_contributor')
    op.drop_constraint(op.f('ck_organization_creator_share_percent_range'), 'organization', type_='check')
    op.drop_constraint(op.f('ck_content_creator_share_percent_range'), 'content', type_='check')
    op.drop_column('content', 'creator_share_percent')
    op.execute("DROP POLICY IF EXISTS platform_writes ON platform_settings")
    op.execute("DROP POLICY IF EXISTS everyone_reads ON platform_settings")
    revoke_app('platform_settings')
    op.drop_table('platform_settings')
