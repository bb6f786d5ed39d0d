"""content search: weighted full-text vectors kept by the database, trigram fallback

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 16:40:00+00:00

``Organization.search`` (codex_graphql/search/) matches a query against one weighted ``tsvector`` per live
content item: title (weight A), tags and the creator's name (B), description (C) and, for an article, its
text (D, the first 200,000 characters of ``article_body.plain_text``), built with the organization's text
search configuration (``codex_search_config(organization.settings)``: the ``search_language`` setting,
``english`` when unset).

Why two tables. A full-text match (``@@``, ``ts_match_vq``) and every pg_trgm operator are not LEAKPROOF. On a
table whose row-level security policy has a real condition, PostgreSQL evaluates such a qual only after the
policy's quals and never turns it into an index condition (measured on PostgreSQL 15 as the API role: a GIN
index on the vector of a table with the tenant policy is never used, even with ``enable_seqscan = off``; the
plan scans the organization's rows and filters each vector). So the vectors are split by who may see them:

- ``content_search_public``: the items anyone's search may list (published, listed, not deleted). Its read
  policy is ``true`` (what it holds is the public catalogue, readable by anyone through ``content``'s own
  policy already), so the planner has no security qual to keep first and answers ``@@`` from the GIN index and
  the typo fallback's ``<%`` from the trigram index.
- ``content_search_staff``: every other live item (drafts, uploads, unlisted ones), read by the organization
  only (tenant policy), so only its staff's searches reach it; the planner reads the organization's rows of it
  by ``organization_id`` and filters their vectors (usually few rows: no GIN index there, it could not be used).

Deleted items have no row. Both are written only by the SECURITY DEFINER functions below (the API role may only
read them), called by triggers, so the vectors change in the transaction that changes their inputs:

- ``content``: insert, and updates of title, description, tags, status, listed, deleted_at or creator_id;
- ``article_body``: insert, delete, and updates of plain_text;
- ``user_account``: a changed name (the creator's items in every organization; found through
  ``platform_read``, the platform scope the function takes while it looks);
- ``organization``: settings whose search language changed (every item of the organization, in the
  transaction of ``updateOrganizationSettings``: seconds for 100,000 items).

``codex_search_refresh(org, ids, creator)`` (not executable by the API role: only the trigger functions, running as
their owner, call it) takes the organization as the transaction's plain
``codex.organization_id`` while it reads and writes (the policies' organization for a definer that is not a
superuser; a superuser owner bypasses them) and puts the previous value back.

The typo fallback, ``codex_search_fuzzy(org, words, staff)``: the rows whose ``words`` (title, tags, creator's
name) hold something similar to every one of the words (pg_trgm ``word_similarity`` at least 0.4, set on the
function so that the trigram index answers ``<%`` for the longest word), public rows plus, for staff, the
organization's others. A server without pg_trgm
(the embedded development database) gets a function returning no row and no trigram index: searches then have
no typo tolerance.

Existing items are indexed by the upgrade, organization by organization, inside its transaction.
"""

import logging
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

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("content_search_public", "content_search_staff")
# SearchLanguage (org_settings/models.py) -> the text search configuration; tests/search compare the lists.
LANGUAGES = ("SIMPLE", "ENGLISH", "FRENCH", "GERMAN", "SPANISH", "ITALIAN", "PORTUGUESE", "DUTCH")
WORD_SIMILARITY = 0.4
BODY_CHARACTERS = 200_000

CONFIG = ("CREATE FUNCTION public.codex_search_config(settings jsonb) RETURNS regconfig "
          "LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT CASE settings->>'search_language' "
          + " ".join(f"WHEN '{name}' THEN 'pg_catalog.{name.lower()}'::regconfig" for name in LANGUAGES)
          + " ELSE 'pg_catalog.english'::regconfig END $$")

# One row per live item of ``org`` (``ids``: only these; ``creator``: only this creator's), into the table its
# visibility picks; every earlier row of those items goes first. The items are named by id before anything is
# written (each case its own statement: a generic plan of ``ids IS NULL OR id = ANY (ids)`` would read every row
# of the organization on every trigger call), so one item's refresh reads and writes that item's rows only.
REFRESH = rf"""
CREATE FUNCTION public.codex_search_refresh(org uuid, ids uuid[], creator uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  saved_org text := current_setting('codex.organization_id', true);
  cfg regconfig;
  chosen uuid[];
BEGIN
  PERFORM set_config('codex.organization_id', org::text, true);
  SELECT public.codex_search_config(o.settings) INTO cfg FROM public.organization o WHERE o.id = org;
  IF ids IS NOT NULL THEN
    chosen := ids;
  ELSIF creator IS NOT NULL THEN
    SELECT coalesce(array_agg(c.id), '{{}}') INTO chosen FROM public.content c
     WHERE c.organization_id = org AND c.creator_id = creator;
  ELSE
    SELECT coalesce(array_agg(c.id), '{{}}') INTO chosen FROM public.content c WHERE c.organization_id = org;
  END IF;
  DELETE FROM public.content_search_public s WHERE s.content_id = ANY (chosen) AND s.organization_id = org;
  DELETE FROM public.content_search_staff s WHERE s.content_id = ANY (chosen) AND s.organization_id = org;
  IF cfg IS NOT NULL THEN
    WITH items AS (
      SELECT c.id, c.organization_id, c.creator_id,
             c.status = 'PUBLISHED' AND c.listed AS for_everyone,
             setweight(to_tsvector(cfg, c.title), 'A')
             || setweight(to_tsvector(cfg, array_to_string(c.tags, ' ') || ' ' || coalesce(u.name, '')), 'B')
             || setweight(to_tsvector(cfg, c.description), 'C')
             || setweight(to_tsvector(cfg, left(coalesce(b.plain_text, ''), {BODY_CHARACTERS})), 'D') AS document,
             concat_ws(' ', c.title, array_to_string(c.tags, ' '), u.name) AS words
        FROM public.content c
        LEFT JOIN public.user_account u ON u.id = c.creator_id
        LEFT JOIN public.article_body b ON b.content_id = c.id
       WHERE c.id = ANY (chosen) AND c.organization_id = org AND c.deleted_at IS NULL
    ), everyone AS (
      INSERT INTO public.content_search_public (content_id, organization_id, creator_id, document, words)
      SELECT id, organization_id, creator_id, document, words FROM items WHERE for_everyone
    )
    INSERT INTO public.content_search_staff (content_id, organization_id, creator_id, document, words)
    SELECT id, organization_id, creator_id, document, words FROM items WHERE NOT for_everyone;
  END IF;
  PERFORM set_config('codex.organization_id', coalesce(saved_org, ''), true);
END $$"""  # noqa: S608  (the text holds constants only)

CONTENT_CHANGED = r"""
CREATE FUNCTION public.codex_search_content_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM public.codex_search_refresh(NEW.organization_id, ARRAY[NEW.id], NULL);
  RETURN NULL;
END $$"""

BODY_CHANGED = r"""
CREATE FUNCTION public.codex_search_body_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM public.codex_search_refresh(r.organization_id, ARRAY[r.content_id], NULL);
  RETURN NULL;
END $$"""

# The creator's items are found under the platform scope (``platform_read`` on the staff rows; the public rows
# are everyone's), then refreshed organization by organization.
CREATOR_RENAMED = r"""
CREATE FUNCTION public.codex_search_creator_renamed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  saved_platform text := current_setting('codex.platform', true);
  orgs uuid[];
  org uuid;
BEGIN
  PERFORM set_config('codex.platform', 'on', true);
  SELECT array_agg(DISTINCT s.organization_id) INTO orgs FROM (
    SELECT organization_id FROM public.content_search_public WHERE creator_id = NEW.id
    UNION ALL SELECT organization_id FROM public.content_search_staff WHERE creator_id = NEW.id) s;
  PERFORM set_config('codex.platform', coalesce(saved_platform, ''), true);
  FOREACH org IN ARRAY coalesce(orgs, '{}') LOOP
    PERFORM public.codex_search_refresh(org, NULL, NEW.id);
  END LOOP;
  RETURN NULL;
END $$"""

LANGUAGE_CHANGED = r"""
CREATE FUNCTION public.codex_search_language_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM public.codex_search_refresh(NEW.id, NULL, NULL);
  RETURN NULL;
END $$"""

CONTENT_COLUMNS = ("title", "description", "tags", "status", "listed", "deleted_at", "creator_id")
TRIGGERS = (
    "CREATE TRIGGER codex_search_content_inserted AFTER INSERT ON content "
    "FOR EACH ROW EXECUTE FUNCTION codex_search_content_changed()",
    f"CREATE TRIGGER codex_search_content_updated AFTER UPDATE OF {', '.join(CONTENT_COLUMNS)} ON content "
    f"FOR EACH ROW WHEN (({', '.join(f'OLD.{c}' for c in CONTENT_COLUMNS)}) "
    f"IS DISTINCT FROM ({', '.join(f'NEW.{c}' for c in CONTENT_COLUMNS)})) "
    "EXECUTE FUNCTION codex_search_content_changed()",
    "CREATE TRIGGER codex_search_body_written AFTER INSERT OR DELETE ON article_body "
    "FOR EACH ROW EXECUTE FUNCTION codex_search_body_changed()",
    "CREATE TRIGGER codex_search_body_updated AFTER UPDATE OF plain_text ON article_body "
    "FOR EACH ROW WHEN (OLD.plain_text IS DISTINCT FROM NEW.plain_text) EXECUTE FUNCTION codex_search_body_changed()",
    "CREATE TRIGGER codex_search_creator_renamed AFTER UPDATE OF name ON user_account "
    "FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION codex_search_creator_renamed()",
    "CREATE TRIGGER codex_search_language_changed AFTER UPDATE OF settings ON organization FOR EACH ROW "
    "WHEN (codex_search_config(OLD.settings) IS DISTINCT FROM codex_search_config(NEW.settings)) "
    "EXECUTE FUNCTION codex_search_language_changed()",
)
TRIGGER_TABLES = (("codex_search_content_inserted", "content"), ("codex_search_content_updated", "content"),
                  ("codex_search_body_written", "article_body"), ("codex_search_body_updated", "article_body"),
                  ("codex_search_creator_renamed", "user_account"),
                  ("codex_search_language_changed", "organization"))
FUNCTIONS = ("codex_search_language_changed()", "codex_search_creator_renamed()", "codex_search_body_changed()",
             "codex_search_content_changed()", "codex_search_refresh(uuid, uuid[], uuid)",
             "codex_search_fuzzy(uuid, text[], boolean)", "codex_search_config(jsonb)")

# Invoker's rights: the rows each table's policy shows the caller. Every word must be similar to a word of the
# row's ``words``; the longest one leads (the trigram index's condition).
FUZZY = rf"""
CREATE FUNCTION public.codex_search_fuzzy(p_org uuid, p_words text[], p_staff boolean)
RETURNS TABLE (content_id uuid, score real)
LANGUAGE sql STABLE SET search_path = pg_catalog, public SET pg_trgm.word_similarity_threshold = {WORD_SIMILARITY} AS $$
  WITH lead AS (SELECT w FROM unnest(p_words) w ORDER BY length(w) DESC, w LIMIT 1),
  candidates AS (
    SELECT s.content_id, s.words FROM content_search_public s
     WHERE s.organization_id = p_org AND (SELECT w FROM lead) <% s.words
    UNION ALL
    SELECT s.content_id, s.words FROM content_search_staff s
     WHERE p_staff AND s.organization_id = p_org AND (SELECT w FROM lead) <% s.words)
  SELECT c.content_id, (SELECT avg(word_similarity(w, c.words)) FROM unnest(p_words) w)::real
    FROM candidates c
   WHERE NOT EXISTS (SELECT 1 FROM unnest(p_words) w WHERE NOT w <% c.words)
$$"""  # noqa: S608  (the text holds constants only)
NO_FUZZY = """
CREATE FUNCTION public.codex_search_fuzzy(p_org uuid, p_words text[], p_staff boolean)
RETURNS TABLE (content_id uuid, score real) LANGUAGE sql STABLE AS $$ SELECT NULL::uuid, NULL::real WHERE false $$"""


def _table(name: str) -> None:
    op.create_table(name,
    sa.Column('content_id', sa.UUID(), nullable=False),
    sa.Column('organization_id', sa.UUID(), nullable=False),
    sa.Column('creator_id', sa.UUID(), nullable=False),
    sa.Column('document', postgresql.TSVECTOR(), nullable=False),
    sa.Column('words', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f(f'fk_{name}_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f(f'fk_{name}_organization_id_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f(f'pk_{name}')),
    )
    op.create_index(op.f(f'ix_{name}_organization_id'), name, ['organization_id'], unique=False)
    op.create_index(op.f(f'ix_{name}_creator_id'), name, ['creator_id'], unique=False)
    op.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    grant_app(name, 'SELECT')


def upgrade() -> None:
    trigram = bool(op.get_bind().scalar(sa.text("select count(*) from pg_available_extensions where name = 'pg_trgm'")))
    if trigram:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    else:
        logging.getLogger("alembic.runtime.migration").warning(
            "pg_trgm is not available on this server: content search has no typo tolerance")
    for name in TABLES:
        _table(name)
    # The public rows: everyone reads them (no security qual, so the indexes serve @@ and <%); the organization
    # writes its own (through the definer functions only: the API role holds SELECT alone).
    enable_tenant_rls('content_search_public', scoped=True)
    op.execute("CREATE POLICY public_read ON content_search_public FOR SELECT USING (true)")
    op.create_index('ix_content_search_public_document', 'content_search_public', ['document'], unique=False,
                    postgresql_using='gin')
    if trigram:
        op.create_index('ix_content_search_public_words_trgm', 'content_search_public', ['words'], unique=False,
                        postgresql_using='gin', postgresql_ops={'words': 'gin_trgm_ops'})
    # The others: the organization's alone, and the platform scope's to read (the creator-renamed trigger).
    enable_tenant_rls('content_search_staff', scoped=True)
    op.execute(f"CREATE POLICY platform_read ON content_search_staff FOR SELECT USING ({SCOPED_PLATFORM})")
    for statement in (CONFIG, REFRESH, CONTENT_CHANGED, BODY_CHANGED, CREATOR_RENAMED, LANGUAGE_CHANGED,
                      FUZZY if trigram else NO_FUZZY, *TRIGGERS):
        op.execute(statement)
    # Only the triggers (their definer functions) rebuild vectors: the API role may not call it for any organization.
    op.execute("REVOKE EXECUTE ON FUNCTION codex_search_refresh(uuid, uuid[], uuid) FROM PUBLIC")
    op.execute("DO $$ DECLARE org uuid; BEGIN FOR org IN SELECT id FROM organization LOOP "
               "PERFORM codex_search_refresh(org, NULL, NULL); END LOOP; END $$")


def downgrade() -> None:
    for trigger, table in TRIGGER_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP POLICY IF EXISTS platform_read ON content_search_staff")
    op.execute("DROP POLICY IF EXISTS public_read ON content_search_public")
    for name in reversed(TABLES):
        disable_tenant_rls(name)
        revoke_app(name)
        op.drop_table(name)
