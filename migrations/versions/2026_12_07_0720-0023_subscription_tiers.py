"""subscription tiers: what an organization sells by the month or year (categories or all content, offering access, monthly credits) and their Stripe products and prices

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 07:20:00+00:00

``subscription_tier`` (status DRAFT | PUBLISHED | ARCHIVED), ``subscription_tier_category`` (primary key
``(tier_id, category_id)``; composite foreign keys ``(tier_id, organization_id)`` and ``(category_id,
organization_id)``, so a link across organizations is impossible whatever the code does) and
``subscription_tier_price`` (every price a tier ever had; a partial unique index allows one active price
per tier and interval; old rows stay for the subscribers who pay them).

Row-level security, forced on all three (``enable_tenant_rls``: the active organization reads and writes its
own rows), plus one more permissive read policy each, the storefront's:

* ``storefront_read`` on ``subscription_tier``: PUBLISHED tiers are readable by anyone (drafts and archived
  tiers stay the organization's).
* ``storefront_read`` on the links and prices: readable exactly when their tier is PUBLISHED (the tier
  table's own policies apply inside the ``EXISTS``).

* ``platform_read`` on ``subscription_tier`` and ``subscription_tier_price``: the periodic reconciliation
  (``subscriptions/jobs.py``) lists, under the platform scope, the tiers whose provider work a crash or a
  provider failure left undone (ids only; each is completed in its organization's scope).

The app role may not delete tiers or prices (archiving keeps them); it deletes links (a tier's categories
are replaced).
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

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLISHED_TIER = ("EXISTS (SELECT 1 FROM subscription_tier t WHERE t.id = {table}.tier_id "
                  "AND t.status = 'PUBLISHED')")


def upgrade() -> None:
    op.create_table('subscription_tier',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.Enum('DRAFT', 'PUBLISHED', 'ARCHIVED', name='subscription_tier_status', native_enum=False, length=16), server_default='DRAFT', nullable=False),
    sa.Column('trial_days', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('all_content', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('offering_access', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('monthly_credits', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('credit_policy', sa.Enum('EXPIRE_MONTHLY', 'ROLLOVER', 'ACCUMULATE', name='credit_policy', native_enum=False, length=16), server_default='EXPIRE_MONTHLY', nullable=False),
    sa.Column('credit_rollover_cap', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('position', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('stripe_product_id', sa.String(length=255), nullable=True),
    sa.Column('creation_key', sa.String(length=200), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'ARCHIVED') = (archived_at IS NOT NULL)", name=op.f('ck_subscription_tier_archived_at_with_status')),
    sa.CheckConstraint('credit_rollover_cap IS NULL OR credit_rollover_cap BETWEEN 0 AND 1000000', name=op.f('ck_subscription_tier_credit_rollover_cap_range')),
    sa.CheckConstraint('monthly_credits BETWEEN 0 AND 1000000', name=op.f('ck_subscription_tier_monthly_credits_range')),
    sa.CheckConstraint('trial_days BETWEEN 0 AND 730', name=op.f('ck_subscription_tier_trial_days_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscription_tier_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_tier')),
    sa.UniqueConstraint('id', 'organization_id', name=op.f('uq_subscription_tier_id_organization_id')),
    sa.UniqueConstraint('organization_id', 'creation_key', name=op.f('uq_subscription_tier_organization_id_creation_key')),
    )
    op.create_index('ix_subscription_tier_org_position', 'subscription_tier', ['organization_id', 'position', 'name', 'id'], unique=False)
    op.create_table('subscription_tier_category',
    sa.Column('tier_id', sa.UUID(), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['category_id', 'organization_id'], ['category.id', 'category.organization_id'], name=op.f('fk_subscription_tier_category_category_id_category'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscription_tier_category_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tier_id', 'organization_id'], ['subscription_tier.id', 'subscription_tier.organization_id'], name=op.f('fk_subscription_tier_category_tier_id_subscription_tier'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tier_id', 'category_id', name=op.f('pk_subscription_tier_category')),
    )
    op.create_index('ix_subscription_tier_category_category', 'subscription_tier_category', ['category_id', 'tier_id'], unique=False)
    op.create_index('ix_subscription_tier_category_organization_id', 'subscription_tier_category', ['organization_id'], unique=False)
    op.create_table('subscription_tier_price',
    sa.Column('tier_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('interval', sa.Enum('MONTH', 'YEAR', name='billing_interval', native_enum=False, length=8), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('stripe_price_id', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('active = (deactivated_at IS NULL)', name=op.f('ck_subscription_tier_price_deactivated_at_when_inactive')),
    sa.CheckConstraint('amount_cents BETWEEN 1 AND 10000000', name=op.f('ck_subscription_tier_price_amount_cents_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscription_tier_price_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tier_id', 'organization_id'], ['subscription_tier.id', 'subscription_tier.organization_id'], name=op.f('fk_subscription_tier_price_tier_id_subscription_tier'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_tier_price')),
    sa.UniqueConstraint('stripe_price_id', name=op.f('uq_subscription_tier_price_stripe_price_id')),
    )
    op.create_index('ix_subscription_tier_price_organization_id', 'subscription_tier_price', ['organization_id'], unique=False)
    op.create_index('ix_subscription_tier_price_tier', 'subscription_tier_price', ['tier_id', 'created_at'], unique=False)
    op.create_index('uq_subscription_tier_price_active_interval', 'subscription_tier_price', ['tier_id', 'interval'], unique=True, postgresql_where=sa.text('active'))

    for table in ('subscription_tier', 'subscription_tier_category', 'subscription_tier_price'):
        enable_tenant_rls(table, scoped=True)
    # The storefront's reads (see the module docstring).
    op.execute("CREATE POLICY storefront_read ON subscription_tier FOR SELECT USING (status = 'PUBLISHED')")
    for table in ('subscription_tier_category', 'subscription_tier_price'):
        op.execute(f"CREATE POLICY storefront_read ON {table} FOR SELECT USING ({PUBLISHED_TIER.format(table=table)})")
    for table in ('subscription_tier', 'subscription_tier_price'):
        op.execute(f"CREATE POLICY platform_read ON {table} FOR SELECT USING ({SCOPED_PLATFORM})")
    grant_app('subscription_tier', 'SELECT, INSERT, UPDATE')
    grant_app('subscription_tier_category', 'SELECT, INSERT, DELETE')
    grant_app('subscription_tier_price', 'SELECT, INSERT, UPDATE')


def downgrade() -> None:
    for table in ('subscription_tier_price', 'subscription_tier_category', 'subscription_tier'):
        op.execute(f"DROP POLICY IF EXISTS storefront_read ON {table}")
        op.execute(f"DROP POLICY IF EXISTS platform_read ON {table}")
        disable_tenant_rls(table)
        revoke_app(table)
    op.drop_index('uq_subscription_tier_price_active_interval', table_name='subscription_tier_price', postgresql_where=sa.text('active'))
    op.drop_index('ix_subscription_tier_price_tier', table_name='subscription_tier_price')
    op.drop_index('ix_subscription_tier_price_organization_id', table_name='subscription_tier_price')
    op.drop_table('subscription_tier_price')
    op.drop_index('ix_subscription_tier_category_organization_id', table_name='subscription_tier_category')
    op.drop_index('ix_subscription_tier_category_category', table_name='subscription_tier_category')
    op.drop_table('subscription_tier_category')
    op.drop_index('ix_subscription_tier_org_position', table_name='subscription_tier')
    op.drop_table('subscription_tier')
