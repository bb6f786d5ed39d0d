"""scope key cleanup race: a connection opening never forgets the key another one registered a moment ago

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 12:30:00+00:00

``codex_open_session`` (0016, 0018) ends by forgetting the keys of connections that have ended: the rows of
``codex_private.session_key`` whose backend is not in ``pg_stat_activity``. PostgreSQL reads
``pg_stat_activity`` once per transaction (a snapshot taken on first use: here the function's own lookup of
``backend_start``), while the DELETE sees every row committed before it starts. A connection that
registered its key between the two (several connections opening at once: a pool growing under concurrent
requests) was missing from the snapshot, so its key was deleted and its every transaction failed with "the
tenant scope is not authenticated" until the pool replaced it.

From this revision the function drops its activity snapshot just before the DELETE
(``pg_stat_clear_snapshot()``), so the activity the DELETE compares with is read after the rows it sees
were committed: a row whose backend registered it is always matched by that backend's activity entry, unless
the backend has ended. Rows of backends that started after this one are never candidates either.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
  -- Forget the keys of connections that have ended (connections open rarely: pools keep them).{cleanup}
  PERFORM setval('codex_private.scope_user_hi', 0, true), setval('codex_private.scope_user_lo', 0, true),
          setval('codex_private.scope_org_hi', 0, true), setval('codex_private.scope_org_lo', 0, true),
          setval('codex_private.scope_meta', -1, true);
END $$"""

OPEN_SESSION = _OPEN_SESSION.format(cleanup="""
  PERFORM pg_stat_clear_snapshot();  -- the activity below is read after the rows the DELETE sees
  DELETE FROM codex_private.session_key k
  WHERE k.backend_start <= started AND k.pid <> pg_backend_pid()
    AND NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = k.pid);""")
OLD_OPEN_SESSION = _OPEN_SESSION.format(cleanup="""
  DELETE FROM codex_private.session_key k WHERE NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = k.pid);""")


def upgrade() -> None:
    op.execute(OPEN_SESSION)


def downgrade() -> None:
    op.execute(OLD_OPEN_SESSION)
