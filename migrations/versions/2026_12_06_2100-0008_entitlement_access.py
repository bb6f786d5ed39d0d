"""entitlement access: buyers keep the items they bought or were granted after unpublishing or deletion

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:00:00+00:00

The read policy on ``content`` admitted the organization's rows and the published, live catalogue, so
an item that was unpublished or deleted vanished for the customers who had paid for it. It now also
admits the rows the transaction's user holds an active entitlement to: the policy form of
``codex_graphql.content.access.may_read`` (which the resolvers and the compiled path apply on top).
The partial unique index ``uq_content_entitlement_active (content_id, user_id) WHERE revoked_at IS
NULL`` answers the subquery.
"""

from collections.abc import Sequence

from alembic import op

from codex_graphql.migration_helpers import CURRENT_ORG, CURRENT_USER

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORGANIZATION_OR_CATALOGUE = f"organization_id = {CURRENT_ORG} OR (status = 'PUBLISHED' AND deleted_at IS NULL)"
ENTITLED = (f"EXISTS (SELECT 1 FROM content_entitlement e WHERE e.content_id = content.id "  # noqa: S608
            f"AND e.user_id = {CURRENT_USER} AND e.revoked_at IS NULL)")


def upgrade() -> None:
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({ORGANIZATION_OR_CATALOGUE} OR {ENTITLED})")


def downgrade() -> None:
    op.execute("DROP POLICY tenant_read ON content")
    op.execute(f"CREATE POLICY tenant_read ON content FOR SELECT USING ({ORGANIZATION_OR_CATALOGUE})")
