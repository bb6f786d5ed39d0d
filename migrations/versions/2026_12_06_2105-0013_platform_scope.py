"""platform scope: row-level security on outbox, webhook inbox and idempotency records

Every table with an organization_id is under forced row-level security. The platform-wide readers
(the outbox relay, the webhook inbox, the clean-up jobs) get an explicit platform scope
(``codex.platform = 'on'``, set with the tenant settings in the one set_config statement that starts a
transaction, only by code that asks for ``TenantScope.platform_wide()``) that these tables' policies
admit. Also: the storage clean-up queue, and ``content.purged_at`` for items whose files were purged.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 21:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import (
    CURRENT_ORG,
    CURRENT_USER,
    disable_tenant_rls,
    enable_tenant_rls,
    grant_app,
    revoke_app,
)

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM = "((select current_setting('codex.platform', true)) = 'on')"
TABLES = ("outbox_message", "stripe_event", "idempotency_record", "storage_cleanup")


def _platform_policy(table: str) -> None:
    op.execute(f"CREATE POLICY platform_all ON {table} FOR ALL USING ({PLATFORM}) WITH CHECK ({PLATFORM})")


def upgrade() -> None:
    op.add_column('stripe_event', sa.Column('organization_id', sa.UUID(), nullable=True))
    op.create_index(op.f('ix_stripe_event_organization_id'), 'stripe_event', ['organization_id'], unique=False)
    op.create_foreign_key(op.f('fk_stripe_event_organization_id_organization'), 'stripe_event', 'organization',
                          ['organization_id'], ['id'], ondelete='CASCADE')
    op.add_column('idempotency_record', sa.Column('organization_id', sa.UUID(), nullable=True))
    op.create_index(op.f('ix_idempotency_record_organization_id'), 'idempotency_record', ['organization_id'], unique=False)
    op.create_foreign_key(op.f('fk_idempotency_record_organization_id_organization'), 'idempotency_record',
                          'organization', ['organization_id'], ['id'], ondelete='CASCADE')
    op.add_column('content', sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('storage_cleanup',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('key', sa.String(length=1024), nullable=False),
    sa.Column('prefix', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('upload_id', sa.String(length=400), nullable=True),
    sa.Column('reason', sa.Enum('LOGO_UPLOAD', 'LOGO_REPLACED', 'UPLOAD_ABANDONED', 'CONTENT_PURGED',
                                name='cleanup_reason', native_enum=False, length=32), nullable=False),
    sa.Column('delete_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_storage_cleanup_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storage_cleanup'))
    )
    op.create_index('ix_storage_cleanup_due', 'storage_cleanup', ['delete_after'], unique=False)
    op.create_index('ix_storage_cleanup_key', 'storage_cleanup', ['organization_id', 'key'], unique=False)
    grant_app('storage_cleanup')

    # Outbox: an organization's rows from its own scope; rows of no organization (account emails) may be
    # written from any scope and are read by the relay only.
    enable_tenant_rls('outbox_message')
    op.execute("CREATE POLICY unscoped_insert ON outbox_message FOR INSERT WITH CHECK (organization_id IS NULL)")
    # Webhook inbox: stamped with its organization by the handler; null rows are the platform's only.
    enable_tenant_rls('stripe_event')
    # Idempotency records: the request's organization, or the user's own (also writable by that user, in the
    # request's organization or with none).
    enable_tenant_rls('idempotency_record', readable_by_owner_column='user_id')
    op.execute(
        f"CREATE POLICY owner_write ON idempotency_record FOR ALL USING (user_id = {CURRENT_USER}) "
        f"WITH CHECK (user_id = {CURRENT_USER} AND (organization_id IS NULL OR organization_id = {CURRENT_ORG}))"
    )
    enable_tenant_rls('storage_cleanup')
    for table in TABLES:
        _platform_policy(table)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS platform_all ON {table}")
    op.execute("DROP POLICY IF EXISTS owner_write ON idempotency_record")
    op.execute("DROP POLICY IF EXISTS unscoped_insert ON outbox_message")
    for table in TABLES:
        disable_tenant_rls(table)
    revoke_app('storage_cleanup')
    op.drop_index('ix_storage_cleanup_key', table_name='storage_cleanup')
    op.drop_index('ix_storage_cleanup_due', table_name='storage_cleanup')
    op.drop_table('storage_cleanup')
    op.drop_column('content', 'purged_at')
    op.drop_constraint(op.f('fk_idempotency_record_organization_id_organization'), 'idempotency_record', type_='foreignkey')
    op.drop_index(op.f('ix_idempotency_record_organization_id'), table_name='idempotency_record')
    op.drop_column('idempotency_record', 'organization_id')
    op.drop_constraint(op.f('fk_stripe_event_organization_id_organization'), 'stripe_event', type_='foreignkey')
    op.drop_index(op.f('ix_stripe_event_organization_id'), table_name='stripe_event')
    op.drop_column('stripe_event', 'organization_id')
