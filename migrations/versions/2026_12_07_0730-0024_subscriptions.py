"""subscriptions: a customer's subscription to a tier, kept in step with Stripe Billing by webhooks

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 07:30:00+00:00

``subscription`` is one row per subscription of a customer (``user_id``) to a tier of an organization. It is
written first by ``startSubscriptionCheckout`` (status INCOMPLETE, no provider subscription yet: the row id
travels in the provider subscription's metadata), then by webhooks and by the answers of cancel / resume /
change calls. ``state_*`` are the ordering facts of the state last applied (``subscriptions.billing``): an
older state never replaces a newer one, whatever order events arrive in. ``access_until`` is when the
subscription stops granting content (null: it grants nothing); ``content.access.entitled_sql`` reads it.

Row-level security (forced): the organization's rows (``enable_tenant_rls``) and the customer's own rows in
every organization (``readable_by_owner_column``). Two more read policies let a subscriber's transaction see
the tier and the tier's category links of their own subscriptions, also when the tier is ARCHIVED (existing
subscribers keep it) and whatever the active organization: the access rule reads them.

The read policy on ``content`` does not change: a subscription grants only PUBLISHED, live items, which that
policy already admits to everyone (and a policy on ``content`` reading ``content_category``, whose own
policy reads ``content``, would recurse).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    SCOPED_USER,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIBED = ("EXISTS (SELECT 1 FROM subscription s WHERE s.tier_id = {column} "  # noqa: S608
              f"AND s.user_id = {SCOPED_USER})")


# The subscription source of the access rule (content/access.py ``subscribed_sql``), as functions: written
# inline, the statement carried the policies of four tables (subscription, subscription_tier and its
# categories, content_category and, through its policy, content and content_entitlement): a plan of some
# hundred nodes set up on every execution, tripling the cost of a one-item read for every viewer. As
# plpgsql functions (never inlined; SECURITY INVOKER, so the same policies apply inside, planned once per
# connection) the statement gains two calls: the InitPlan ``codex_has_subscription`` once per statement,
# and ``codex_subscribed`` per row only when that said the viewer holds a subscription with access ahead.
HAS_SUBSCRIPTION = """
CREATE FUNCTION public.codex_has_subscription(p_user uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN p_user IS NOT NULL AND EXISTS (
    SELECT 1 FROM public.subscription s WHERE s.user_id = p_user AND s.access_until > now());
END $$"""
SUBSCRIBED_TO = """
CREATE FUNCTION public.codex_subscribed(p_user uuid, p_organization uuid, p_content uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (
    SELECT 1 FROM public.subscription s JOIN public.subscription_tier t ON t.id = s.tier_id
    WHERE s.user_id = p_user AND s.organization_id = p_organization AND s.access_until > now()
      AND (t.all_content OR EXISTS (
        SELECT 1 FROM public.subscription_tier_category tc
        JOIN public.content_category cc ON cc.category_id = tc.category_id
        WHERE tc.tier_id = s.tier_id AND cc.content_id = p_content)));
END $$"""


def upgrade() -> None:
    op.create_table('subscription',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('tier_id', sa.UUID(), nullable=False),
    sa.Column('interval', sa.Enum('MONTH', 'YEAR', name='billing_interval', native_enum=False, length=8), nullable=False),
    sa.Column('status', sa.Enum('TRIALING', 'ACTIVE', 'PAST_DUE', 'CANCELED', 'INCOMPLETE', name='subscription_status', native_enum=False, length=16), server_default='INCOMPLETE', nullable=False),
    sa.Column('checkout_key', sa.String(length=200), nullable=False),
    sa.Column('checkout_session_id', sa.String(length=255), nullable=True),
    sa.Column('checkout_url', sa.Text(), nullable=True),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_price_id', sa.String(length=255), nullable=True),
    sa.Column('current_period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_at_period_end', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('trial_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('canceled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('access_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state_ended', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('state_period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_subscription_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tier_id', 'organization_id'], ['subscription_tier.id', 'subscription_tier.organization_id'], name=op.f('fk_subscription_tier_id_subscription_tier'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_subscription_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription')),
    sa.UniqueConstraint('organization_id', 'user_id', 'checkout_key', name=op.f('uq_subscription_organization_id_user_id_checkout_key')),
    sa.UniqueConstraint('stripe_subscription_id', name=op.f('uq_subscription_stripe_subscription_id')),
    )
    op.create_index('ix_subscription_user_access', 'subscription', ['user_id', 'organization_id', 'access_until'], unique=False)
    op.create_index('ix_subscription_org_tier', 'subscription', ['organization_id', 'tier_id'], unique=False)
    op.create_index('ix_subscription_tier_id', 'subscription', ['tier_id'], unique=False)

    enable_tenant_rls('subscription', readable_by_owner_column='user_id', scoped=True)
    op.execute("CREATE POLICY subscriber_read ON subscription_tier FOR SELECT USING "
               f"({SUBSCRIBED.format(column='subscription_tier.id')})")
    op.execute("CREATE POLICY subscriber_read ON subscription_tier_category FOR SELECT USING "
               f"({SUBSCRIBED.format(column='subscription_tier_category.tier_id')})")
    grant_app('subscription', 'SELECT, INSERT, UPDATE')
    op.execute(HAS_SUBSCRIPTION)
    op.execute(SUBSCRIBED_TO)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS public.codex_subscribed(uuid, uuid, uuid)")
    op.execute("DROP FUNCTION IF EXISTS public.codex_has_subscription(uuid)")
    op.execute("DROP POLICY IF EXISTS subscriber_read ON subscription_tier_category")
    op.execute("DROP POLICY IF EXISTS subscriber_read ON subscription_tier")
    disable_tenant_rls('subscription')
    revoke_app('subscription')
    op.drop_index('ix_subscription_tier_id', table_name='subscription')
    op.drop_index('ix_subscription_org_tier', table_name='subscription')
    op.drop_index('ix_subscription_user_access', table_name='subscription')
    op.drop_table('subscription')
