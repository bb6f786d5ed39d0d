"""credits ledger: append-only credit transactions and the maintained balance per customer and organization

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 07:10:00+00:00

``credit_transaction`` is append-only: the app role gets SELECT and INSERT only, and a trigger refuses
UPDATE and DELETE issued as statements (pg_trigger_depth() = 1) by anyone, owner included; only the
referential actions of a deleted organization or user (depth > 1) remove or detach rows.
``credit_balance`` and ``credit_lot`` are maintained by the service in the same transaction as each row.
The customer reads their own rows of the three tables in every organization (``readable_by_owner_column``);
writes happen in the organization's scope. The periodic expiry job finds due lots under the platform scope.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex_graphql.migration_helpers import (
    SCOPED_PLATFORM,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = r"""
CREATE FUNCTION credit_transaction_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF pg_trigger_depth() <= 1 THEN
    RAISE EXCEPTION 'credit_transaction is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $$"""


def upgrade() -> None:
    op.create_table('credit_transaction',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Enum('GRANT', 'SPEND', 'EXPIRE', 'REFUND', 'ADJUST', name='credit_transaction_kind', native_enum=False, length=16), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), server_default='', nullable=False),
    sa.Column('source_type', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actor_user_id', sa.UUID(), nullable=True),
    sa.Column('lots', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind IN ('GRANT', 'REFUND') AND amount > 0) OR (kind IN ('SPEND', 'EXPIRE') AND amount < 0) OR kind = 'ADJUST'", name=op.f('ck_credit_transaction_amount_sign')),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_credit_transaction_amount_not_zero')),
    sa.CheckConstraint('balance_after >= 0', name=op.f('ck_credit_transaction_balance_after_not_negative')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['user_account.id'], name=op.f('fk_credit_transaction_actor_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_credit_transaction_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_credit_transaction_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_transaction')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_credit_transaction_organization_id_idempotency_key'))
    )
    op.create_index('ix_credit_transaction_owner_created', 'credit_transaction', ['organization_id', 'user_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_credit_transaction_user_created', 'credit_transaction', ['user_id', 'created_at', 'id'], unique=False)
    op.create_table('credit_balance',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('balance', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_credit_balance_balance_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_credit_balance_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_credit_balance_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'user_id', name=op.f('pk_credit_balance'))
    )
    op.create_index(op.f('ix_credit_balance_user_id'), 'credit_balance', ['user_id'], unique=False)
    op.create_table('credit_lot',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.CheckConstraint('remaining >= 0', name=op.f('ck_credit_lot_remaining_not_negative')),
    sa.ForeignKeyConstraint(['id'], ['credit_transaction.id'], name=op.f('fk_credit_lot_id_credit_transaction'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_credit_lot_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_credit_lot_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_lot'))
    )
    op.create_index('ix_credit_lot_due', 'credit_lot', ['expires_at'], unique=False, postgresql_where=sa.text('remaining > 0'))
    op.create_index('ix_credit_lot_owner_expires', 'credit_lot', ['organization_id', 'user_id', 'expires_at'], unique=False)

    op.execute(APPEND_ONLY)
    op.execute("CREATE TRIGGER credit_transaction_append_only BEFORE UPDATE OR DELETE ON credit_transaction "
               "FOR EACH ROW EXECUTE FUNCTION credit_transaction_append_only()")
    for table in ("credit_transaction", "credit_balance", "credit_lot"):
        enable_tenant_rls(table, readable_by_owner_column="user_id", scoped=True)
    # The expiry job lists due lots (ids only, then expires each in its organization's scope).
    op.execute(f"CREATE POLICY platform_read ON credit_lot FOR SELECT USING ({SCOPED_PLATFORM})")
    grant_app("credit_transaction", "SELECT, INSERT")
    grant_app("credit_balance", "SELECT, INSERT, UPDATE")
    grant_app("credit_lot", "SELECT, INSERT, UPDATE")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS platform_read ON credit_lot")
    for table in ("credit_lot", "credit_balance", "credit_transaction"):
        disable_tenant_rls(table)
        revoke_app(table)
    op.execute("DROP TRIGGER IF EXISTS credit_transaction_append_only ON credit_transaction")
    op.execute("DROP FUNCTION IF EXISTS credit_transaction_append_only()")
    op.drop_index('ix_credit_lot_owner_expires', table_name='credit_lot')
    op.drop_index('ix_credit_lot_due', table_name='credit_lot', postgresql_where=sa.text('remaining > 0'))
    op.drop_table('credit_lot')
    op.drop_index(op.f('ix_credit_balance_user_id'), table_name='credit_balance')
    op.drop_table('credit_balance')
    op.drop_index('ix_credit_transaction_user_created', table_name='credit_transaction')
    op.drop_index('ix_credit_transaction_owner_created', table_name='credit_transaction')
    op.drop_table('credit_transaction')
