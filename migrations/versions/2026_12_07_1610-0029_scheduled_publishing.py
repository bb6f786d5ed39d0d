"""scheduled publishing: content published by a periodic job at a chosen time

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 16:10:00+00:00

``content_publish_schedule``: one row per READY item scheduled for publication (``content_id`` is the primary
key), ``publish_at`` an instant (timestamptz), who scheduled it. A row lives until the item is published (by
the ``scheduled-publishing`` job or by hand), the schedule is cancelled, the item is deleted or it leaves READY.

* Row-level security, forced (``enable_tenant_rls``: the active organization reads and writes its own rows),
  plus ``platform_read``: the job's work list (which organizations have schedules due) is read across
  organizations under the authenticated platform scope, as ``credit_lot`` (0022) and ``subscription`` (0027);
  it sees ids and times only. Each organization's due rows are then claimed in its own scope.
* Indexes: ``(publish_at, organization_id)`` for the work list, ``(organization_id, publish_at)`` for one
  organization's due rows (and its foreign key). Every row is pending, so neither needs a predicate.
* ``content_publish_schedule_clear``: an AFTER UPDATE trigger on ``content`` deletes the item's schedule
  when its status leaves READY or it is deleted, whatever code path does it (``publishContent``, a bulk edit,
  ``deleteContent``, a failed reprocessing), so a schedule can never outlive the state it was made for, nor
  come back after an unpublish. SECURITY INVOKER: the delete runs under the same policies as the update.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.migration_helpers import SCOPED_PLATFORM, enable_tenant_rls, grant_app, revoke_app

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLEAR = r"""
CREATE FUNCTION content_publish_schedule_clear() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  DELETE FROM content_publish_schedule WHERE content_id = NEW.id;
  RETURN NULL;
END $$
"""

TRIGGER = """
CREATE TRIGGER content_publish_schedule_clear AFTER UPDATE OF status, deleted_at ON content
FOR EACH ROW WHEN ((NEW.status <> 'READY' OR NEW.deleted_at IS NOT NULL)
                   AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at))
EXECUTE FUNCTION content_publish_schedule_clear()
"""


def upgrade() -> None:
    op.create_table('content_publish_schedule',
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('publish_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('scheduled_by_id', sa.UUID(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'],
                            name=op.f('fk_content_publish_schedule_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_content_publish_schedule_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scheduled_by_id'], ['user_account.id'],
                            name=op.f('fk_content_publish_schedule_scheduled_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_content_publish_schedule')),
    )
    op.create_index('ix_content_publish_schedule_due', 'content_publish_schedule', ['publish_at', 'organization_id'],
                    unique=False)
    op.create_index('ix_content_publish_schedule_org_due', 'content_publish_schedule',
                    ['organization_id', 'publish_at'], unique=False)
    enable_tenant_rls('content_publish_schedule', scoped=True)
    grant_app('content_publish_schedule')
    op.execute(f"CREATE POLICY platform_read ON content_publish_schedule FOR SELECT USING ({SCOPED_PLATFORM})")

    op.execute(CLEAR)
    op.execute("REVOKE ALL ON FUNCTION content_publish_schedule_clear() FROM PUBLIC")
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS content_publish_schedule_clear ON content")
    op.execute("DROP FUNCTION IF EXISTS content_publish_schedule_clear()")
    op.execute("DROP POLICY IF EXISTS platform_read ON content_publish_schedule")
    revoke_app('content_publish_schedule')
    op.drop_index('ix_content_publish_schedule_org_due', table_name='content_publish_schedule')
    op.drop_index('ix_content_publish_schedule_due', table_name='content_publish_schedule')
    op.drop_table('content_publish_schedule')  # its policies go with it
