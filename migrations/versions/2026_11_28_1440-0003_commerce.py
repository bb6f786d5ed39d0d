"""commerce

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 14:40:44.669321+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

TENANT = ("checkout_session", "purchase")
PLATFORM = ("stripe_event", "idempotency_record")

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('stripe_event',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_event'))
    )
    op.create_index(op.f('ix_stripe_event_payment_intent_id'), 'stripe_event', ['payment_intent_id'], unique=False)
    op.create_table('idempotency_record',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('operation', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_idempotency_record_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'operation', 'key', name=op.f('pk_idempotency_record'))
    )
    op.create_index(op.f('ix_idempotency_record_expires_at'), 'idempotency_record', ['expires_at'], unique=False)
    op.create_table('checkout_session',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('provider_session_id', sa.String(length=255), nullable=False),
    sa.Column('checkout_url', sa.Text(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('OPEN', 'COMPLETED', 'FAILED', 'EXPIRED', name='checkout_status', native_enum=False, length=16), nullable=False),
    sa.Column('success_url', sa.Text(), nullable=False),
    sa.Column('cancel_url', sa.Text(), nullable=False),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_checkout_session_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_checkout_session_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_checkout_session_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkout_session')),
    sa.UniqueConstraint('provider_session_id', name=op.f('uq_checkout_session_provider_session_id'))
    )
    op.create_index(op.f('ix_checkout_session_organization_id'), 'checkout_session', ['organization_id'], unique=False)
    op.create_index('ix_checkout_session_user', 'checkout_session', ['user_id', 'content_id'], unique=False)
    op.create_table('purchase',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('creator_id', sa.UUID(), nullable=False),
    sa.Column('content_title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('PAID', 'FREE', 'GRANT', name='purchase_kind', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('COMPLETED', 'REFUNDED', name='purchase_status', native_enum=False, length=16), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('tax_cents', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('creator_share_cents', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=True),
    sa.Column('provider_session_id', sa.String(length=255), nullable=True),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('charge_id', sa.String(length=255), nullable=True),
    sa.Column('receipt_url', sa.Text(), nullable=True),
    sa.Column('customer_email', sa.String(length=320), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refund_reason', sa.Text(), nullable=True),
    sa.Column('refund_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disputed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('granted_by_id', sa.UUID(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_purchase_amount_not_negative')),
    sa.CheckConstraint('creator_share_cents >= 0 AND creator_share_cents <= amount_cents', name=op.f('ck_purchase_share_within_amount')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_purchase_content_id_content'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['creator_id'], ['user_account.id'], name=op.f('fk_purchase_creator_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user_account.id'], name=op.f('fk_purchase_granted_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_purchase_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_purchase_user_id_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase'))
    )
    op.create_index('ix_purchase_content', 'purchase', ['content_id', 'status'], unique=False)
    op.create_index('ix_purchase_creator', 'purchase', ['organization_id', 'creator_id'], unique=False)
    op.create_index('ix_purchase_org_created', 'purchase', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_purchase_payment_intent', 'purchase', ['payment_intent_id'], unique=False)
    op.create_index('ix_purchase_user_created', 'purchase', ['user_id', 'created_at', 'id'], unique=False)
    op.create_index('uq_purchase_provider_session', 'purchase', ['provider_session_id'], unique=True, postgresql_where=sa.text('provider_session_id IS NOT NULL'))
    op.add_column('organization', sa.Column('creator_share_percent', sa.Integer(), server_default=sa.text('100'), nullable=False))
    for table in TENANT + PLATFORM:
        grant_app(table)
    for table in TENANT:
        # Customers read their own checkouts and purchases across organizations; only the
        # organization's scope writes them.
        enable_tenant_rls(table, readable_by_owner_column="user_id")


def downgrade() -> None:
    for table in TENANT:
        disable_tenant_rls(table)
    for table in TENANT + PLATFORM:
        revoke_app(table)
    op.drop_column('organization', 'creator_share_percent')
    op.drop_index('uq_purchase_provider_session', table_name='purchase', postgresql_where=sa.text('provider_session_id IS NOT NULL'))
    op.drop_index('ix_purchase_user_created', table_name='purchase')
    op.drop_index('ix_purchase_payment_intent', table_name='purchase')
    op.drop_index('ix_purchase_org_created', table_name='purchase')
    op.drop_index('ix_purchase_creator', table_name='purchase')
    op.drop_index('ix_purchase_content', table_name='purchase')
    op.drop_table('purchase')
    op.drop_index('ix_checkout_session_user', table_name='checkout_session')
    op.drop_index(op.f('ix_checkout_session_organization_id'), table_name='checkout_session')
    op.drop_table('checkout_session')
    op.drop_index(op.f('ix_idempotency_record_expires_at'), table_name='idempotency_record')
    op.drop_table('idempotency_record')
    op.drop_index(op.f('ix_stripe_event_payment_intent_id'), table_name='stripe_event')
    op.drop_table('stripe_event')
