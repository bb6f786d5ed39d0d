"""scope check once: the policies' scope functions compare a cached digest instead of recomputing the HMAC

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 00:10:00+00:00

Since 0016 every call of ``codex_current_org()`` / ``codex_current_user()`` / ``codex_platform()`` (the
policies call them once per table reference of every statement) ran ``codex_scope()``: a SECURITY
DEFINER plpgsql function with a ``SET search_path`` clause (a GUC save and restore per call), a lookup
of the connection's key row and two SHA-256 rounds (OpenSSL's per-call setup is most of their cost).
Measured inside statements (EXPLAIN ANALYZE of the policies' InitPlans, autocommit, this machine under
load): about 35-40 microseconds a call with 0017, about 20-25 with this revision.

From this revision a scope is verified once and remembered where only the functions' owner can write:
five session-local sequence values (``currval``) in ``codex_private`` (``scope_user_hi``/``_lo``,
``scope_org_hi``/``_lo``: the two uuids; ``scope_meta``: the transaction's start for a transaction-local
scope or 0 for the connection-wide one, and which of user, organization and platform are set). The API
roles may read them (SELECT: ``currval``) but not change them (``nextval``/``setval`` need USAGE or
UPDATE, which only the owner holds). ``codex_set_scope`` (which verifies the app's proof, as before) and
``codex_private.scope_verify`` (0016's full check of the HMAC tag, for a scope string not remembered)
store them through ``codex_private.scope_remember``. ``codex_scope()`` is now a SECURITY INVOKER plpgsql
function without a SET clause (every name in it is schema-qualified, so the caller's search_path changes
nothing; pg_temp is searched for types only, and they are qualified too): it compares the current
``codex.scope`` with the remembered values (no key lookup, no hashing); on a mismatch it calls
``scope_verify``, which raises as 0016 did, or accepts and remembers a scope string whose tag is valid
(such as the one a rolled-back savepoint restores, or the connection-wide scope once a transaction-local
one has ended).

What the API role cannot do, as before: make a scope without the connection's key, replay a
transaction-local scope in another transaction (its start is part of what is remembered and compared),
or use another backend's scope (sequence values are per backend). What the fast comparison accepts is
exactly the content verified last in this backend (a string with that content and any tag carries the
same scope). ``DISCARD SEQUENCES`` forgets the values: the next check then fails with "currval ... is
not yet defined" until the app sets a scope again (closed, never wider). In a read-only transaction (a
standby) nothing is remembered and every check takes the full path, as in 0017.
"""

from collections.abc import Sequence

from alembic import op

from codex_graphql.db import APP_ROLE

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The remembered scope: the user's and the organization's uuid as two bigints each, and ``meta`` (the
# transaction stamp * 8 for a local scope, 0 for the session's; + 4 with a user, + 2 with an organization,
# + 1 with the platform scope; -1 when nothing is remembered).
REGISTERS = ("codex_private.scope_user_hi", "codex_private.scope_user_lo", "codex_private.scope_org_hi",
             "codex_private.scope_org_lo", "codex_private.scope_meta")

# 0016's HMAC (padded keys) and transaction stamp.
_MAC = "encode(sha256(k.okey || sha256(k.ikey || convert_to({message}, 'UTF8'))), 'hex')"
_STAMP = "(CASE WHEN {local} THEN (extract(epoch from transaction_timestamp()) * 1000000)::bigint::text ELSE 'session' END)"
# Remembers a verified scope (called by the definer functions only; nobody else may setval the registers).
# A platform other than '' / 'on' is not remembered (meta -1): such a scope always takes the full check.
_REMEMBER = """
  IF NOT current_setting('transaction_read_only')::boolean THEN
    PERFORM codex_private.scope_remember({user}, {org}, {platform}, {local});
  END IF;"""

REMEMBER_FN = """
CREATE FUNCTION codex_private.scope_remember(p_user text, p_org text, p_platform text, p_local boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  u bytea := CASE WHEN coalesce(p_user, '') = '' THEN '\\x00000000000000000000000000000000'::bytea
                  ELSE uuid_send(p_user::uuid) END;
  o bytea := CASE WHEN coalesce(p_org, '') = '' THEN '\\x00000000000000000000000000000000'::bytea
                  ELSE uuid_send(p_org::uuid) END;
BEGIN
  PERFORM setval('codex_private.scope_user_hi', ('x' || encode(substr(u, 1, 8), 'hex'))::bit(64)::bigint, true),
          setval('codex_private.scope_user_lo', ('x' || encode(substr(u, 9, 8), 'hex'))::bit(64)::bigint, true),
          setval('codex_private.scope_org_hi', ('x' || encode(substr(o, 1, 8), 'hex'))::bit(64)::bigint, true),
          setval('codex_private.scope_org_lo', ('x' || encode(substr(o, 9, 8), 'hex'))::bit(64)::bigint, true),
          setval('codex_private.scope_meta', CASE WHEN coalesce(p_platform, '') NOT IN ('', 'on') THEN -1 ELSE
            (CASE WHEN p_local THEN (extract(epoch from transaction_timestamp()) * 1000000)::bigint * 8 ELSE 0 END)
            + (CASE WHEN coalesce(p_user, '') <> '' THEN 4 ELSE 0 END)
            + (CASE WHEN coalesce(p_org, '') <> '' THEN 2 ELSE 0 END)
            + (CASE WHEN p_platform = 'on' THEN 1 ELSE 0 END) END, true);
END $$"""

SET_SCOPE = f"""
CREATE OR REPLACE FUNCTION public.codex_set_scope(p_user text, p_org text, p_platform text, p_proof text,
                                                  p_local boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k record;
  scope text;
  message text := coalesce(p_user, '') || '|' || coalesce(p_org, '') || '|' || coalesce(p_platform, '');
BEGIN
  SELECT s.ikey, s.okey INTO k FROM codex_private.session_key s WHERE s.pid = pg_backend_pid();
  IF NOT FOUND OR {_MAC.format(message="message")} IS DISTINCT FROM p_proof THEN
    RAISE EXCEPTION 'the tenant scope is not authenticated' USING ERRCODE = '42501';
  END IF;
  scope := message || '|' || p_local::text || '|' ||
    {_MAC.format(message=f"message || '|' || pg_backend_pid() || '|' || {_STAMP.format(local='p_local')}")};
  PERFORM set_config('codex.scope', scope, p_local);
  PERFORM set_config('codex.user_id', coalesce(p_user, ''), p_local);
  PERFORM set_config('codex.organization_id', coalesce(p_org, ''), p_local);
  PERFORM set_config('codex.platform', coalesce(p_platform, ''), p_local);
  {_REMEMBER.format(user="p_user", org="p_org", platform="p_platform", local="p_local")}
END $$"""  # noqa: S608

# The full check of 0016 for a scope string this backend has not remembered; remembers it when valid.
SCOPE_VERIFY = f"""
CREATE FUNCTION codex_private.scope_verify(p_scope text) RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k record;
  parts text[] := string_to_array(p_scope, '|');
  p_local boolean;
BEGIN
  IF array_length(parts, 1) <> 5 OR parts[4] NOT IN ('true', 'false') THEN
    RAISE EXCEPTION 'the tenant scope was not set by codex_set_scope' USING ERRCODE = '42501';
  END IF;
  p_local := parts[4]::boolean;
  SELECT s.ikey, s.okey INTO k FROM codex_private.session_key s WHERE s.pid = pg_backend_pid();
  IF NOT FOUND OR {_MAC.format(message=f"parts[1] || '|' || parts[2] || '|' || parts[3] || '|' || pg_backend_pid() || '|' || {_STAMP.format(local='p_local')}")}
      IS DISTINCT FROM parts[5] THEN
    RAISE EXCEPTION 'the tenant scope was not set by codex_set_scope' USING ERRCODE = '42501';
  END IF;
  {_REMEMBER.format(user="parts[1]", org="parts[2]", platform="parts[3]", local="p_local")}
  RETURN parts[1:3];
END $$"""  # noqa: S608

# Security invoker, no SET clause (the per-call GUC save/restore was most of the cost): every function,
# operator and type is schema-qualified, so nothing resolves through the caller's search_path (pg_temp
# is searched for types only, and they are qualified).
SCOPE_FAST = """
CREATE OR REPLACE FUNCTION public.codex_scope() RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
DECLARE
  s pg_catalog.text := pg_catalog.current_setting('codex.scope', true);
  p pg_catalog.text[];
BEGIN
  IF s IS NULL OR s OPERATOR(pg_catalog.=) '' THEN
    RETURN NULL;
  END IF;
  p := pg_catalog.string_to_array(s, '|');
  IF pg_catalog.array_length(p, 1) OPERATOR(pg_catalog.=) 5 AND p[3] OPERATOR(pg_catalog.=) ANY ('{"",on}'::pg_catalog.text[])
     AND p[4] OPERATOR(pg_catalog.=) ANY ('{true,false}'::pg_catalog.text[])
     AND pg_catalog.currval('codex_private.scope_meta'::pg_catalog.regclass) OPERATOR(pg_catalog.=)
       ((CASE WHEN p[4] OPERATOR(pg_catalog.=) 'true'
              THEN ((pg_catalog.extract('epoch', pg_catalog.transaction_timestamp()) OPERATOR(pg_catalog.*) 1000000)
                    ::pg_catalog.int8) OPERATOR(pg_catalog.*) 8
              ELSE 0 END)
        OPERATOR(pg_catalog.+) (CASE WHEN p[1] OPERATOR(pg_catalog.<>) '' THEN 4 ELSE 0 END)
        OPERATOR(pg_catalog.+) (CASE WHEN p[2] OPERATOR(pg_catalog.<>) '' THEN 2 ELSE 0 END)
        OPERATOR(pg_catalog.+) (CASE WHEN p[3] OPERATOR(pg_catalog.=) 'on' THEN 1 ELSE 0 END))
     AND (CASE WHEN p[1] OPERATOR(pg_catalog.=) '' THEN true ELSE
            pg_catalog.uuid_send(p[1]::pg_catalog.uuid) OPERATOR(pg_catalog.=)
            (pg_catalog.int8send(pg_catalog.currval('codex_private.scope_user_hi'::pg_catalog.regclass))
             OPERATOR(pg_catalog.||) pg_catalog.int8send(pg_catalog.currval('codex_private.scope_user_lo'::pg_catalog.regclass))) END)
     AND (CASE WHEN p[2] OPERATOR(pg_catalog.=) '' THEN true ELSE
            pg_catalog.uuid_send(p[2]::pg_catalog.uuid) OPERATOR(pg_catalog.=)
            (pg_catalog.int8send(pg_catalog.currval('codex_private.scope_org_hi'::pg_catalog.regclass))
             OPERATOR(pg_catalog.||) pg_catalog.int8send(pg_catalog.currval('codex_private.scope_org_lo'::pg_catalog.regclass))) END)
  THEN
    RETURN p[1:3];
  END IF;
  RETURN codex_private.scope_verify(s);
END $$"""

# 0016/0017 as they were, for the downgrade.
OLD_SET_SCOPE = f"""
CREATE OR REPLACE FUNCTION public.codex_set_scope(p_user text, p_org text, p_platform text, p_proof text,
                                                  p_local boolean)
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
    {_MAC.format(message=f"message || '|' || pg_backend_pid() || '|' || {_STAMP.format(local='p_local')}")}, p_local);
  PERFORM set_config('codex.user_id', coalesce(p_user, ''), p_local);
  PERFORM set_config('codex.organization_id', coalesce(p_org, ''), p_local);
  PERFORM set_config('codex.platform', coalesce(p_platform, ''), p_local);
END $$"""  # noqa: S608

OLD_SCOPE = f"""
CREATE OR REPLACE FUNCTION public.codex_scope() RETURNS text[]
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
  IF NOT FOUND OR {_MAC.format(message=f"parts[1] || '|' || parts[2] || '|' || parts[3] || '|' || pg_backend_pid() || '|' || {_STAMP.format(local='p_local')}")}
      IS DISTINCT FROM parts[5] THEN
    RAISE EXCEPTION 'the tenant scope was not set by codex_set_scope' USING ERRCODE = '42501';
  END IF;
  RETURN parts[1:3];
END $$"""  # noqa: S608

# 0016's codex_open_session, which now also defines this connection's digest (currval is undefined until
# a setval in the session), so a check before the first codex_set_scope fails with 0016's message.
_OPEN_SESSION = """
CREATE OR REPLACE FUNCTION public.codex_open_session(p_ikey bytea, p_okey bytea) RETURNS void
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
  DELETE FROM codex_private.session_key k WHERE NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = k.pid);{init}
END $$"""
OPEN_SESSION = _OPEN_SESSION.format(init="""
  PERFORM setval('codex_private.scope_user_hi', 0, true), setval('codex_private.scope_user_lo', 0, true),
          setval('codex_private.scope_org_hi', 0, true), setval('codex_private.scope_org_lo', 0, true),
          setval('codex_private.scope_meta', -1, true);""")
OLD_OPEN_SESSION = _OPEN_SESSION.format(init="")


def upgrade() -> None:
    for name in REGISTERS:
        op.execute(f"CREATE UNLOGGED SEQUENCE {name} AS bigint MINVALUE -9223372036854775808 "
                   "MAXVALUE 9223372036854775807 NO CYCLE")
        op.execute(f"REVOKE ALL ON SEQUENCE {name} FROM PUBLIC")
        op.execute(f"GRANT SELECT ON SEQUENCE {name} TO {APP_ROLE}")  # currval only
    # The invoker's check names the sequences and calls scope_verify: usage of the schema, nothing more
    # (session_key stays unreadable: no privilege on it).
    op.execute(f"GRANT USAGE ON SCHEMA codex_private TO {APP_ROLE}")
    op.execute(REMEMBER_FN)
    op.execute("REVOKE ALL ON FUNCTION codex_private.scope_remember(text, text, text, boolean) FROM PUBLIC")
    op.execute(SCOPE_VERIFY)
    op.execute(OPEN_SESSION)
    op.execute(SET_SCOPE)
    op.execute(SCOPE_FAST)


def downgrade() -> None:
    op.execute(OLD_SCOPE)
    op.execute(OLD_SET_SCOPE)
    op.execute(OLD_OPEN_SESSION)
    op.execute("DROP FUNCTION codex_private.scope_verify(text)")
    op.execute("DROP FUNCTION codex_private.scope_remember(text, text, text, boolean)")
    op.execute(f"REVOKE USAGE ON SCHEMA codex_private FROM {APP_ROLE}")
    for name in REGISTERS:
        op.execute(f"DROP SEQUENCE {name}")
