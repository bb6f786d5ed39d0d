"""api role: the API logs in as ``codex_api`` and the tenant scope is authenticated

Until now every transaction began with ``set_config('role', 'codex_app', true)`` plus plain
``codex.user_id`` / ``codex.organization_id`` / ``codex.platform`` settings that the policies read. Any
statement inside the transaction could change them: an injected ``set_config('codex.organization_id',
<another tenant>, true)`` widened the scope, and ``RESET ROLE`` went back to the login role (often the
tables' owner or a superuser).

This revision:

* creates ``codex_api`` (LOGIN, NOSUPERUSER, NOBYPASSRLS, NOINHERIT, NOCREATEDB, NOCREATEROLE, owning
  nothing, member of ``codex_app`` only): the role the API logs in as. NOINHERIT: without ``SET ROLE
  codex_app`` it holds no privilege at all, so ``RESET ROLE`` gains nothing; it cannot ``SET ROLE`` to
  anyone else. The operator gives it a password (README, Deployment).
* authenticates the scope. Every connection, when opened, registers a random per-connection key with
  ``codex_open_session(ikey, okey)`` (the HMAC-SHA256 inner and outer padded keys), once: a second call
  in the same backend is refused, so SQL running later on that connection cannot replace the key. The
  keys live in ``codex_private.session_key``, which only the owner of the functions can read.
  ``codex_set_scope(user, org, platform, proof, local)`` checks ``proof = HMAC(key, "user|org|platform")``
  and stores the scope in the ``codex.scope`` setting with a tag ``HMAC(key, "user|org|platform|pid|t")``,
  ``t`` being the transaction's start (``local``) or ``session`` for the connection-wide scope of the
  compiled read path. The policies read the scope through ``codex_current_org()``,
  ``codex_current_user()`` and ``codex_platform()`` (via ``codex_scope()``, which checks the tag and
  raises ``insufficient_privilege`` when it does not match): an injected ``set_config`` of the plain
  settings is ignored, a forged ``codex.scope`` is refused, a transaction-local tag copied into another
  transaction is refused. This holds for the roles the API can be (``codex_app``, ``codex_api``); any
  other role (the owner, a superuser, SECURITY DEFINER functions they own, such as the analytics
  trigger that takes its purchase's organization as its scope) reads the plain settings as before, which
  ``codex_set_scope`` still sets. ``analytics_check_scope`` uses the authenticated scope for sessions of
  the API role.
* rewrites every policy mechanically: each ``(select nullif(current_setting('codex.organization_id',
  true), '')::uuid)`` becomes ``(select codex_current_org())``, the same for the user, and
  ``((select current_setting('codex.platform', true)) = 'on')`` becomes ``(select codex_platform())``.
  The downgrade rewrites them back (and restores ``analytics_check_scope``).

Left as it was: the ``invitation_by_token`` policy reads ``codex.invitation_token_hash``, a capability
(the hash of a secret token), not a scope; setting it needs the token.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 21:08:00+00:00
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLE = "codex_api"
APP_ROLE = "codex_app"
API_ROLES = f"'{APP_ROLE}', '{API_ROLE}'"

# What the policies of earlier revisions say, as PostgreSQL prints them back (pg_policies), and what they
# say from this revision on, as PostgreSQL prints that.
_SETTING = r"\(\s*SELECT\s+\(NULLIF\(current_setting\('codex\.{name}'::text,\s*true\),\s*''::text\)\)::uuid(?:\s+AS\s+\"?nullif\"?)?\)"
_OLD_ORG = re.compile(_SETTING.format(name="organization_id"), re.IGNORECASE)
_OLD_USER = re.compile(_SETTING.format(name="user_id"), re.IGNORECASE)
_OLD_PLATFORM = re.compile(
    r"\(\(\s*SELECT\s+current_setting\('codex\.platform'::text,\s*true\)(?:\s+AS\s+current_setting)?\)\s*=\s*'on'::text\)",
    re.IGNORECASE)
_NEW = r"\(\s*SELECT\s+{name}\(\)(?:\s+AS\s+\"?{name}\"?)?\)"
_NEW_ORG = re.compile(_NEW.format(name="codex_current_org"), re.IGNORECASE)
_NEW_USER = re.compile(_NEW.format(name="codex_current_user"), re.IGNORECASE)
_NEW_PLATFORM = re.compile(_NEW.format(name="codex_platform"), re.IGNORECASE)

ORG = "(select codex_current_org())"
USER = "(select codex_current_user())"
PLATFORM = "(select codex_platform())"
OLD_ORG = "(select nullif(current_setting('codex.organization_id', true), '')::uuid)"
OLD_USER = "(select nullif(current_setting('codex.user_id', true), '')::uuid)"
OLD_PLATFORM = "((select current_setting('codex.platform', true)) = 'on')"

UPGRADE_REWRITES = ((_OLD_ORG, ORG), (_OLD_USER, USER), (_OLD_PLATFORM, PLATFORM))
DOWNGRADE_REWRITES = ((_NEW_ORG, OLD_ORG), (_NEW_USER, OLD_USER), (_NEW_PLATFORM, OLD_PLATFORM))

# HMAC-SHA256 with the precomputed padded keys: sha256(okey || sha256(ikey || message)).
_MAC = "encode(sha256(k.okey || sha256(k.ikey || convert_to({message}, 'UTF8'))), 'hex')"
_STAMP = "(CASE WHEN p_local THEN (extract(epoch from transaction_timestamp()) * 1000000)::bigint::text ELSE 'session' END)"

FUNCTIONS = [
    """
CREATE FUNCTION codex_open_session(p_ikey bytea, p_okey bytea) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  started timestamptz;
BEGIN
  IF length(p_ikey) <> 64 OR length(p_okey) <> 64 THEN
    RAISE EXCEPTION 'scope keys are 64 bytes' USING ERRCODE = '22023';
  END IF;
  SELECT a.backend_start INTO started FROM pg_stat_activity a WHERE a.pid = pg_backend_pid();
  INSERT INTO codex_private.session_key AS k (pid, backend_start, ikey, okey)
  VALUES (pg_backend_pid(), started, p_ikey, p_okey)
  ON CONFLICT (pid) DO UPDATE SET backend_start = EXCLUDED.backend_start, ikey = EXCLUDED.ikey, okey = EXCLUDED.okey
  WHERE k.backend_start IS DISTINCT FROM EXCLUDED.backend_start;  -- a row left by an earlier backend only
  IF NOT FOUND THEN
    RAISE EXCEPTION 'this connection registered its scope key already' USING ERRCODE = '42501';
  END IF;
  -- Forget the keys of connections that have ended (connections open rarely: pools keep them).
  DELETE FROM codex_private.session_key k WHERE NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = k.pid);
END $$""",
    f"""
CREATE FUNCTION codex_set_scope(p_user text, p_org text, p_platform text, p_proof text, p_local boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k record;
  message text := coalesce(p_user, '') || '|' || coalesce(p_org, '') || '|' || coalesce(p_platform, '');
BEGIN
  SELECT s.ikey, s.okey INTO k FROM codex_private.session_key s WHERE s.pid = pg_backend_pid();
  IF NOT FOUND OR {_MAC.format(message="message")} IS DISTINCT FROM p_proof THEN
    RAISE EXCEPTION 'the tenant scope is not authenticated' USING ERRCODE = '42501';
  END IF;
  PERFORM set_config('codex.scope', message || '|' || p_local::text || '|' ||
    {_MAC.format(message=f"message || '|' || pg_backend_pid() || '|' || {_STAMP}")}, p_local);
  PERFORM set_config('codex.user_id', coalesce(p_user, ''), p_local);
  PERFORM set_config('codex.organization_id', coalesce(p_org, ''), p_local);
  PERFORM set_config('codex.platform', coalesce(p_platform, ''), p_local);
END $$""",  # noqa: S608
    f"""
CREATE FUNCTION codex_scope() RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k record;
  parts text[] := string_to_array(nullif(current_setting('codex.scope', true), ''), '|');
  p_local boolean;
BEGIN
  IF parts IS NULL THEN
    RETURN NULL;
  END IF;
  IF array_length(parts, 1) <> 5 OR parts[4] NOT IN ('true', 'false') THEN
    RAISE EXCEPTION 'the tenant scope was not set by codex_set_scope' USING ERRCODE = '42501';
  END IF;
  p_local := parts[4]::boolean;
  SELECT s.ikey, s.okey INTO k FROM codex_private.session_key s WHERE s.pid = pg_backend_pid();
  IF NOT FOUND OR {_MAC.format(message=f"parts[1] || '|' || parts[2] || '|' || parts[3] || '|' || pg_backend_pid() || '|' || {_STAMP}")}
      IS DISTINCT FROM parts[5] THEN
    RAISE EXCEPTION 'the tenant scope was not set by codex_set_scope' USING ERRCODE = '42501';
  END IF;
  RETURN parts[1:3];
END $$""",  # noqa: S608
    # Security invoker: current_user is the role the policy is checked for. The roles the API can be are
    # held to the authenticated scope; any other role is trusted code (a SECURITY DEFINER function owned by
    # someone else, such as the analytics trigger that takes the purchase's organization as its scope) or
    # an operator, and reads the plain settings as before.
    f"""
CREATE FUNCTION codex_current_user() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_user IN ({API_ROLES}) THEN nullif((codex_scope())[1], '')::uuid
              ELSE nullif(current_setting('codex.user_id', true), '')::uuid END $$""",
    f"""
CREATE FUNCTION codex_current_org() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_user IN ({API_ROLES}) THEN nullif((codex_scope())[2], '')::uuid
              ELSE nullif(current_setting('codex.organization_id', true), '')::uuid END $$""",
    f"""
CREATE FUNCTION codex_platform() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_user IN ({API_ROLES}) THEN coalesce((codex_scope())[3] = 'on', false)
              ELSE coalesce(current_setting('codex.platform', true) = 'on', false) END $$""",
]
FUNCTION_SIGNATURES = ("codex_platform()", "codex_current_org()", "codex_current_user()", "codex_scope()",
                       "codex_set_scope(text, text, text, text, boolean)", "codex_open_session(bytea, bytea)")

CHECK_SCOPE = """
CREATE OR REPLACE FUNCTION analytics_check_scope(org uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF org IS DISTINCT FROM {current} THEN
    RAISE EXCEPTION 'organization % is not the organization of this transaction', org USING ERRCODE = '42501';
  END IF;
END $$"""


def _rewrite_policies(rewrites: tuple[tuple[re.Pattern[str], str], ...]) -> None:
    bind = op.get_bind()
    rows = bind.execute(text(
        "select tablename, policyname, qual, with_check from pg_policies where schemaname = 'public'"
    )).all()
    for table, policy, qual, with_check in rows:
        new_qual, new_check = qual, with_check
        for pattern, replacement in rewrites:
            new_qual = pattern.sub(replacement, new_qual) if new_qual else new_qual
            new_check = pattern.sub(replacement, new_check) if new_check else new_check
        if (new_qual, new_check) == (qual, with_check):
            continue
        clauses = (f" USING ({new_qual})" if new_qual else "") + (f" WITH CHECK ({new_check})" if new_check else "")
        op.execute(f'ALTER POLICY "{policy}" ON "{table}"{clauses}')


def upgrade() -> None:
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
            CREATE ROLE {API_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- created by a concurrent migration
        END $$;
    """)  # noqa: S608
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}'
                     AND (rolsuper OR rolbypassrls OR rolinherit OR rolcreatedb OR rolcreaterole OR rolreplication)) THEN
            ALTER ROLE {API_ROLE} NOSUPERUSER NOBYPASSRLS NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION;
          END IF;
          IF NOT pg_has_role('{API_ROLE}', '{APP_ROLE}', 'MEMBER') THEN
            GRANT {APP_ROLE} TO {API_ROLE};
          END IF;
        EXCEPTION WHEN unique_violation THEN NULL;
        END $$;
    """)  # noqa: S608
    op.execute("CREATE SCHEMA codex_private")
    op.execute("REVOKE ALL ON SCHEMA codex_private FROM PUBLIC")
    # Unlogged: the keys live as long as their connections, which a crash ends anyway.
    op.execute("""CREATE UNLOGGED TABLE codex_private.session_key (
        pid integer PRIMARY KEY, backend_start timestamptz, ikey bytea NOT NULL, okey bytea NOT NULL)""")
    for statement in FUNCTIONS:
        op.execute(statement)
    # EXECUTE stays granted to PUBLIC (the default): the functions guard themselves, and the privilege of
    # codex_set_scope is checked before the same statement's set_config('role', ...) switches to codex_app.
    _rewrite_policies(UPGRADE_REWRITES)
    # Called inside SECURITY DEFINER functions (current_user is their owner, so codex_current_org() would read
    # the plain setting): a session of the API role gets the authenticated scope itself; an operator's
    # session (scripts, benchmarks' seeding) sets the plain setting as before.
    op.execute(CHECK_SCOPE.format(current=f"(CASE WHEN session_user IN ({API_ROLES}) "
                                          "THEN nullif((codex_scope())[2], '')::uuid "
                                          "ELSE nullif(current_setting('codex.organization_id', true), '')::uuid END)"))


def downgrade() -> None:
    op.execute(CHECK_SCOPE.format(current="nullif(current_setting('codex.organization_id', true), '')::uuid"))
    _rewrite_policies(DOWNGRADE_REWRITES)
    for signature in FUNCTION_SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP TABLE codex_private.session_key")
    op.execute("DROP SCHEMA codex_private")
    # The role belongs to the cluster, not to this database (other databases of the cluster may use it): it
    # stays. Without these functions an API of this revision cannot start transactions here; the previous
    # revision's API sets the plain settings again.
