"""download counters for every source of access: an entitlement row or the subscription that covers the item

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 13:30:00+00:00

A download counter (0012) belonged to an entitlement row, so a viewer admitted by a subscription (0024) had no
counter and was refused every download. From this revision a counter belongs to the row that admits the viewer
(``content.access.admitting_source``): ``entitlement_id`` as before, or ``subscription_id`` with the item
(one counter per subscription and item); exactly one of the two is set. A new subscription starts new counters.

``codex_covering_subscription`` names the subscription whose existence ``codex_subscribed`` (0024) tests, the
oldest when several cover the item: the same condition, returning the row. ``codex_subscribed`` stays as it is
(it runs per row of a subscriber's lists; the name is needed only when a download is counted);
``tests/content/test_access_rules.py`` requires the two to agree on every item of its fixture. Row-level security
on ``download_counter`` does not change (the customer writes their own counters; the organization reads its own).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERING_SUBSCRIPTION = """
CREATE FUNCTION public.codex_covering_subscription(p_user uuid, p_organization uuid, p_content uuid) RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (
    SELECT s.id FROM public.subscription s JOIN public.subscription_tier t ON t.id = s.tier_id
    WHERE s.user_id = p_user AND s.organization_id = p_organization AND s.access_until > now()
      AND (t.all_content OR EXISTS (
        SELECT 1 FROM public.subscription_tier_category tc
        JOIN public.content_category cc ON cc.category_id = tc.category_id
        WHERE tc.tier_id = s.tier_id AND cc.content_id = p_content))
    ORDER BY s.created_at, s.id LIMIT 1);
END $$"""


def upgrade() -> None:
    op.execute(COVERING_SUBSCRIPTION)
    op.alter_column('download_counter', 'entitlement_id', existing_type=sa.UUID(), nullable=True)
    op.add_column('download_counter', sa.Column('subscription_id', sa.UUID(), nullable=True))
    op.create_foreign_key(op.f('fk_download_counter_subscription_id_subscription'), 'download_counter',
                          'subscription', ['subscription_id'], ['id'], ondelete='CASCADE')
    op.create_unique_constraint(op.f('uq_download_counter_subscription_id_content_id'), 'download_counter',
                                ['subscription_id', 'content_id'])
    op.create_check_constraint(op.f('ck_download_counter_one_source'), 'download_counter',
                               'num_nonnulls(entitlement_id, subscription_id) = 1')


def downgrade() -> None:
    # Counters of subscriptions have no place in the old table. Row-level security is forced on it, so the
    # owner lifts that for this one statement (a superuser bypasses it anyway).
    op.execute("ALTER TABLE download_counter NO FORCE ROW LEVEL SECURITY")
    op.execute("DELETE FROM download_counter WHERE entitlement_id IS NULL")
    op.execute("ALTER TABLE download_counter FORCE ROW LEVEL SECURITY")
    op.drop_constraint(op.f('ck_download_counter_one_source'), 'download_counter', type_='check')
    op.drop_constraint(op.f('uq_download_counter_subscription_id_content_id'), 'download_counter', type_='unique')
    op.drop_constraint(op.f('fk_download_counter_subscription_id_subscription'), 'download_counter',
                       type_='foreignkey')
    op.drop_column('download_counter', 'subscription_id')
    op.alter_column('download_counter', 'entitlement_id', existing_type=sa.UUID(), nullable=False)
    op.execute("DROP FUNCTION IF EXISTS public.codex_covering_subscription(uuid, uuid, uuid)")
