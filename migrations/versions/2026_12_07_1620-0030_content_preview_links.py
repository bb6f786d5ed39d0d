"""content preview links: unguessable, expiring, revocable links that show a draft

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 16:20:00+00:00

``content_preview_link`` holds one row per link: the item, the hex SHA-256 of the token (the token itself is
never stored), when it expires, who made it, when and by whom it was revoked. Row-level security (forced): the
organization's staff read and write its rows (``enable_tenant_rls``); the API role may insert and update
(revoke), never delete (an item's links go with it, by the foreign key).

The link's holder is nobody's tenant, and ``content``'s policy (drafts are the organization's) does not change.
The one read is ``codex_content_preview(token_hash)``, SECURITY DEFINER, fixed search_path, executable by the
API role only: for a hash of a live link (not revoked, not expired) of a live item (not deleted) it returns the
link's id and expiry, the item's row and, for an article, its ``article_body`` row; for anything else no row.
Running as its owner, it reads under the owner's policies, which read the plain settings (migration 0016:
roles other than the API's): it sets ``codex.preview_token_hash`` to the hash, which the ``preview_by_token``
policy below admits to that one link row (for roles other than the API's only: a transaction of the API setting
the same value sees nothing more), then ``codex.organization_id`` to the link's organization to read the item
and its body under their tenant policies; each setting is put back before the function returns. A superuser
owner bypasses the policies altogether; the function's own conditions are what decide either way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex_graphql.db import APP_ROLE
from codex_graphql.migration_helpers import disable_tenant_rls, enable_tenant_rls, grant_app, revoke_app

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLES = "ARRAY['codex_app', 'codex_api']::name[]"
BY_TOKEN = (f"current_user <> ALL ({API_ROLES}) AND "
            "token_hash = (select nullif(current_setting('codex.preview_token_hash', true), ''))")

PREVIEW = r"""
CREATE FUNCTION public.codex_content_preview(p_token_hash text)
RETURNS TABLE (link_id uuid, link_expires_at timestamptz, item public.content, body public.article_body)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  saved_org text := current_setting('codex.organization_id', true);
  saved_hash text := current_setting('codex.preview_token_hash', true);
  live boolean;
  link record;
BEGIN
  IF p_token_hash IS NULL OR p_token_hash !~ '^[0-9a-f]{64}$' THEN
    RETURN;
  END IF;
  PERFORM set_config('codex.preview_token_hash', p_token_hash, true);
  SELECT l.id, l.organization_id, l.content_id, l.expires_at INTO link
    FROM public.content_preview_link l
   WHERE l.token_hash = p_token_hash AND l.revoked_at IS NULL AND l.expires_at > now();
  live := FOUND;
  PERFORM set_config('codex.preview_token_hash', coalesce(saved_hash, ''), true);
  IF NOT live THEN
    RETURN;
  END IF;
  PERFORM set_config('codex.organization_id', link.organization_id::text, true);
  RETURN QUERY
    SELECT link.id, link.expires_at, c, b
      FROM public.content c
      LEFT JOIN public.article_body b ON b.content_id = c.id AND b.organization_id = c.organization_id
     WHERE c.id = link.content_id AND c.organization_id = link.organization_id AND c.deleted_at IS NULL;
  PERFORM set_config('codex.organization_id', coalesce(saved_org, ''), true);
END $$"""
SIGNATURE = "public.codex_content_preview(text)"


def upgrade() -> None:
    op.create_table('content_preview_link',
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.UUID(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_user_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_preview_link_content_id_content'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'],
                            name=op.f('fk_content_preview_link_created_by_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                            name=op.f('fk_content_preview_link_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['revoked_by_user_id'], ['user_account.id'],
                            name=op.f('fk_content_preview_link_revoked_by_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_preview_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_content_preview_link_token_hash')),
    )
    op.create_index('ix_content_preview_link_org_content', 'content_preview_link',
                    ['organization_id', 'content_id', 'created_at', 'id'], unique=False)
    enable_tenant_rls('content_preview_link', scoped=True)
    grant_app('content_preview_link', 'SELECT, INSERT, UPDATE')
    op.execute(f"CREATE POLICY preview_by_token ON content_preview_link FOR SELECT USING ({BY_TOKEN})")
    op.execute(PREVIEW)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    op.execute("DROP POLICY IF EXISTS preview_by_token ON content_preview_link")
    disable_tenant_rls('content_preview_link')
    revoke_app('content_preview_link')
    op.drop_index('ix_content_preview_link_org_content', table_name='content_preview_link')
    op.drop_table('content_preview_link')
