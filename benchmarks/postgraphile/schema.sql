-- What PostGraphile (v4 and v5) needs on top of the Codex schema (migrations 0001-0006) to answer the
-- benchmark operations with the same data as the Codex server. Idempotent: run it again at will
-- (`benchmarks/postgraphile_servers.py prepare_database` applies it as the superuser).
--
-- Layout
--   * schema postgraphile_bench (NOT exposed by PostGraphile): pgcrypto (when it is not installed yet) and
--     helper functions (URL signing, the analytics day range, who the transaction is).
--   * schema public: the functions PostGraphile turns into fields, and the composite types they return.
--     PostGraphile only treats a function as a computed column of table T when it lives in T's schema,
--     takes a T row first and is named T_<field>; and it drops a function whose return type lives in a
--     schema it does not introspect. So these sit next to the tables. All are STABLE (PostGraphile can only
--     make query fields of them, never mutations) and nothing in the Codex server uses them.
--     Which tables, columns and functions PostGraphile may expose is decided by expose.json (smart tags
--     applied by the servers), not by comments here, so the Codex tables' catalog entries stay untouched.
--
-- Removing it all:
--   DROP SCHEMA postgraphile_bench CASCADE;  -- also drops pgcrypto if this file installed it there
--   DROP FUNCTION public.content_viewer_has_access(public.content), public.content_thumbnail_url(public.content),
--     public.content_thumbnails(public.content), public.content_playback(public.content),
--     public.content_playback_position(public.content), public.purchase_receipt_url(public.purchase),
--     public.viewer(), public.organization_analytics(public.organization, date, date),
--     public.organization_revenue_by_day(public.organization, date, date);
--   DROP TYPE public.content_thumbnail, public.content_playback_url, public.analytics_summary, public.revenue_day;
--   (PostgreSQL records no dependency on functions called inside a function body, so drop both lists.)
--
-- Who is asking: every PostGraphile transaction starts with the settings pgSettings returns
-- (server.js / server.mjs): role = codex_bench_app (codex_app's grants, no BYPASSRLS, so the migrations' row-level security
-- policies apply exactly as for the Codex server), codex.user_id, codex.organization_id (the active
-- organization, only when the viewer is a member of it, like TenantScope) and codex.organization_role
-- (the viewer's role there; only organization_analytics reads it, to mirror ANALYTICS_READ).
--
-- Signing keys: pgSettings also carries codex.public_base_url, codex.storage_url_key and
-- codex.receipt_key, hex strings the server derives from SECRET_KEY exactly as the Codex server does
-- (storage: HMAC-SHA256(SECRET_KEY, "codex-storage-url-v1"); receipts: SHA-256("codex-receipt:" +
-- SECRET_KEY)). SECRET_KEY itself never reaches the database. Only PostGraphile's own SQL runs in
-- these transactions, so no client can read the settings. Without the keys the URL fields are null.

-- PostGraphile sets its role and tenant settings with plain set_config, PostGraphile's own way. Since
-- migration 0016 the API's roles (codex_app, codex_api) read only a scope authenticated by
-- codex_set_scope; this comparison runs as codex_bench_app instead, which inherits codex_app's grants
-- and is held to the same policies, reading the plain settings.
DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'codex_bench_app') THEN
    CREATE ROLE codex_bench_app NOLOGIN NOSUPERUSER NOBYPASSRLS INHERIT;
  END IF;
  GRANT codex_app TO codex_bench_app;
  EXECUTE format('GRANT codex_bench_app TO %I', current_user);
END $do$;

CREATE SCHEMA IF NOT EXISTS postgraphile_bench;
REVOKE ALL ON SCHEMA postgraphile_bench FROM PUBLIC;
GRANT USAGE ON SCHEMA postgraphile_bench TO codex_app;

-- pgcrypto's hmac(): use the installed extension wherever it lives, else install it in our schema.
-- The wrapper is an inlinable IMMUTABLE SQL function, so callers never depend on the extension's schema.
DO $do$
DECLARE
  ext_schema text;
BEGIN
  SELECT n.nspname INTO ext_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'pgcrypto';
  IF ext_schema IS NULL THEN
    CREATE EXTENSION pgcrypto SCHEMA postgraphile_bench;
    ext_schema := 'postgraphile_bench';
  END IF;
  EXECUTE format(
    'CREATE OR REPLACE FUNCTION postgraphile_bench.hmac_sha256(data bytea, key bytea) RETURNS bytea '
    'LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS %L',
    format('SELECT %I.hmac(data, key, %L)', ext_schema, 'sha256'));
END
$do$;

-- ---- who the transaction is ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION postgraphile_bench.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('codex.user_id', true), '')::uuid
$$;

CREATE OR REPLACE FUNCTION postgraphile_bench.current_organization_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('codex.organization_id', true), '')::uuid
$$;

-- ---- signed URLs (codex_graphql/storage/local.py and commerce/routes.py, byte for byte) -------------

-- Expiry of URLs signed in this transaction: int(time.time()) + URL_TTL_SECONDS (3600).
CREATE OR REPLACE FUNCTION postgraphile_bench.url_expiry() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT floor(extract(epoch FROM now()))::bigint + 3600
$$;

-- LocalStorage.presign_get(key, 3600): {base}/storage/{quote(key, safe='/')}?op=get&exp={exp}&sig={sig}
-- with sig = hex HMAC-SHA256(storage key, "op=get\nkey={key}\nexp={exp}"). Storage keys only hold
-- [A-Za-z0-9_~=+@.-] and '/', of which quote() escapes exactly '=', '+' and '@'.
-- A single expression without FROM, so PostgreSQL inlines it into its callers: a SQL function that calls a
-- non-inlinable SQL function per row pays for setting that function up again on every call (measured: about
-- 60 us instead of 7 us per thumbnail URL when PostGraphile evaluates it once per row in a subquery).
CREATE OR REPLACE FUNCTION postgraphile_bench.storage_get_url(object_key text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT rtrim(current_setting('codex.public_base_url', true), '/') || '/storage/'
         || replace(replace(replace(object_key, '=', '%3D'), '+', '%2B'), '@', '%40')
         || '?op=get&exp=' || postgraphile_bench.url_expiry() || '&sig='
         || encode(postgraphile_bench.hmac_sha256(
              convert_to('op=get' || chr(10) || 'key=' || object_key || chr(10) || 'exp='
                         || postgraphile_bench.url_expiry(), 'UTF8'),
              decode(nullif(current_setting('codex.storage_url_key', true), ''), 'hex')), 'hex')
$$;

-- LocalStorage.presign_get(key, 3600, content_type=ct), as playback is signed (content.service.playback_url):
-- ...?op=get&ct={urlencode(ct)}&exp={exp}&sig={sig} with sig over "op=get\nkey={key}\nexp={exp}\nct={ct}".
-- Media types hold letters, digits and '/', '-', '+', '.', of which urlencode escapes '/' and '+'.
CREATE OR REPLACE FUNCTION postgraphile_bench.storage_get_url_typed(object_key text, content_type text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT rtrim(current_setting('codex.public_base_url', true), '/') || '/storage/'
         || replace(replace(replace(object_key, '=', '%3D'), '+', '%2B'), '@', '%40')
         || '?op=get&ct=' || replace(replace(content_type, '+', '%2B'), '/', '%2F')
         || '&exp=' || postgraphile_bench.url_expiry() || '&sig='
         || encode(postgraphile_bench.hmac_sha256(
              convert_to('op=get' || chr(10) || 'key=' || object_key || chr(10) || 'exp='
                         || postgraphile_bench.url_expiry() || chr(10) || 'ct=' || content_type, 'UTF8'),
              decode(nullif(current_setting('codex.storage_url_key', true), ''), 'hex')), 'hex')
$$;

-- receipt_link_for(): {base}/receipts/{purchase id}?o={organization id}&sig={hex HMAC-SHA256(receipt key,
-- "{purchase id}:{organization id}")}
CREATE OR REPLACE FUNCTION postgraphile_bench.receipt_url(purchase_id uuid, organization_id uuid) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT rtrim(current_setting('codex.public_base_url', true), '/') || '/receipts/' || purchase_id
         || '?o=' || organization_id || '&sig='
         || encode(postgraphile_bench.hmac_sha256(
              convert_to(purchase_id::text || ':' || organization_id::text, 'UTF8'),
              decode(nullif(current_setting('codex.receipt_key', true), ''), 'hex')), 'hex')
$$;

-- analytics.service.resolve_range(): inclusive local days, default the last 30 days ending today in
-- the organization's timezone; at most 1000 days.
CREATE OR REPLACE FUNCTION postgraphile_bench.analytics_range(tz text, range_from date, range_to date,
  OUT start_day date, OUT end_day date, OUT today date)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  today := (now() AT TIME ZONE coalesce(tz, 'UTC'))::date;
  end_day := coalesce(range_to, CASE WHEN range_from IS NULL THEN today ELSE greatest(range_from, today) END);
  start_day := coalesce(range_from, end_day - 29);
  IF end_day < start_day THEN
    RAISE EXCEPTION '`range.to` must not be before `range.from`.' USING ERRCODE = '22023';
  END IF;
  IF end_day - start_day + 1 > 1000 THEN
    RAISE EXCEPTION 'A range covers at most 1000 days.' USING ERRCODE = '22023';
  END IF;
END
$$;

-- ---- composite types returned to PostGraphile ---------------------------------------------------------

DO $do$
BEGIN
  IF to_regtype('public.content_thumbnail') IS NULL THEN
    CREATE TYPE public.content_thumbnail AS (url text, width integer, height integer);
  END IF;
  IF to_regtype('public.content_playback_url') IS NULL THEN
    CREATE TYPE public.content_playback_url AS (url text, expires_at timestamptz);
  END IF;
  IF to_regtype('public.analytics_summary') IS NULL THEN
    CREATE TYPE public.analytics_summary AS (
      from_day date, to_day date, total_revenue_cents bigint, revenue_this_month_cents bigint,
      customer_count integer, purchase_count integer, refund_count integer);
  END IF;
  IF to_regtype('public.revenue_day') IS NULL THEN
    CREATE TYPE public.revenue_day AS (day date, revenue_cents bigint, purchases integer, refunds integer);
  END IF;
END
$do$;
COMMENT ON TYPE public.content_thumbnail IS 'A thumbnail image of a video.';
COMMENT ON TYPE public.content_playback_url IS 'A signed, expiring URL to play the media.';
COMMENT ON TYPE public.analytics_summary IS 'Headline sales figures of an organization for a range of local days.';
COMMENT ON TYPE public.revenue_day IS 'One local day (organization timezone) of sales.';

-- ---- computed columns -------------------------------------------------------------------------------

-- content.access.may_play(): READY or PUBLISHED, and either an unrevoked entitlement of the viewer or
-- staff of the item's organization while it is not deleted (codex.organization_id is only set to an
-- organization the viewer is a member of, and every role has CONTENT_READ).
CREATE OR REPLACE FUNCTION public.content_viewer_has_access(c public.content) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT c.status IN ('READY', 'PUBLISHED') AND (
    EXISTS (
      SELECT 1 FROM public.content_entitlement e
      WHERE e.user_id = postgraphile_bench.current_user_id() AND e.content_id = c.id AND e.revoked_at IS NULL)
    OR (c.deleted_at IS NULL
        AND c.organization_id IS NOT DISTINCT FROM postgraphile_bench.current_organization_id()))
$$;
COMMENT ON FUNCTION public.content_viewer_has_access(public.content) IS
  'Whether the viewer may play this item: a purchase, grant or free claim, or staff of the organization.';

-- Content.thumbnailUrl: the smallest thumbnail (first of equal widths), signed.
CREATE OR REPLACE FUNCTION public.content_thumbnail_url(c public.content) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT postgraphile_bench.storage_get_url(s.object_key)
  FROM (SELECT t.value ->> 'key' AS object_key
        FROM jsonb_array_elements(c.thumbnails) WITH ORDINALITY AS t(value, n)
        ORDER BY (t.value ->> 'width')::int, t.n
        LIMIT 1) s
$$;
COMMENT ON FUNCTION public.content_thumbnail_url(public.content) IS 'URL of the main thumbnail (videos, once processed).';

-- Content.thumbnails: every size, narrowest first, signed.
CREATE OR REPLACE FUNCTION public.content_thumbnails(c public.content) RETURNS SETOF public.content_thumbnail
LANGUAGE sql STABLE PARALLEL SAFE ROWS 4 AS $$
  SELECT postgraphile_bench.storage_get_url(t.value ->> 'key'), (t.value ->> 'width')::int, (t.value ->> 'height')::int
  FROM jsonb_array_elements(c.thumbnails) WITH ORDINALITY AS t(value, n)
  ORDER BY (t.value ->> 'width')::int, t.n
$$;
COMMENT ON FUNCTION public.content_thumbnails(public.content) IS 'Every thumbnail size (videos, once processed).';

-- Content.playback without its side effect: the signed media URL for viewers with access, else null.
-- (The Codex server also records a view, an INSERT; a PostGraphile query field must be STABLE and cannot.)
CREATE OR REPLACE FUNCTION public.content_playback(c public.content) RETURNS public.content_playback_url
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT postgraphile_bench.storage_get_url_typed(c.storage_key, c.mime_type), to_timestamp(postgraphile_bench.url_expiry())
  WHERE public.content_viewer_has_access(c)
$$;
COMMENT ON FUNCTION public.content_playback(public.content) IS
  'A signed URL valid for one hour; null for viewers without access. (Does not count a view.)';

-- Content.playbackPosition: null when anonymous, never played, or without access.
CREATE OR REPLACE FUNCTION public.content_playback_position(c public.content) RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT p.position_seconds FROM public.playback_position p
  WHERE p.user_id = postgraphile_bench.current_user_id() AND p.content_id = c.id
    AND public.content_viewer_has_access(c)
$$;
COMMENT ON FUNCTION public.content_playback_position(public.content) IS
  'Where the viewer stopped, in seconds; null when never played or without access.';

-- Purchase.receiptUrl: the payment provider's receipt, else a signed receipt page.
CREATE OR REPLACE FUNCTION public.purchase_receipt_url(p public.purchase) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(p.receipt_url, postgraphile_bench.receipt_url(p.id, p.organization_id))
$$;
COMMENT ON FUNCTION public.purchase_receipt_url(public.purchase) IS
  'Receipt: the payment provider''s when it has one, else a signed receipt page.';

-- Query.viewer: the signed-in user's account (null when anonymous).
CREATE OR REPLACE FUNCTION public.viewer() RETURNS public.user_account
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT u.* FROM public.user_account u WHERE u.id = postgraphile_bench.current_user_id()
$$;
COMMENT ON FUNCTION public.viewer() IS 'The signed-in user; null when anonymous.';

-- Organization.analytics headline figures, from the trigger-maintained summaries (RLS: the active
-- organization's rows only). Null unless this is the viewer's active organization and their role
-- there has ANALYTICS_READ (OWNER or ADMIN), like the Codex server's guard.
CREATE OR REPLACE FUNCTION public.organization_analytics(o public.organization, range_from date DEFAULT NULL,
  range_to date DEFAULT NULL) RETURNS public.analytics_summary
LANGUAGE sql STABLE AS $$
  SELECT r.start_day, r.end_day,
    (SELECT coalesce(sum(d.gross_cents - d.refunded_cents), 0)::bigint FROM public.purchase_daily_stats d
     WHERE d.organization_id = o.id AND d.day BETWEEN r.start_day AND r.end_day),
    (SELECT coalesce(sum(d.gross_cents - d.refunded_cents), 0)::bigint FROM public.purchase_daily_stats d
     WHERE d.organization_id = o.id AND d.day BETWEEN date_trunc('month', r.today)::date AND r.today),
    (SELECT count(*)::int FROM public.customer_summary s WHERE s.organization_id = o.id),
    (SELECT coalesce(sum(d.purchases), 0)::int FROM public.purchase_daily_stats d
     WHERE d.organization_id = o.id AND d.day BETWEEN r.start_day AND r.end_day),
    (SELECT coalesce(sum(d.refunds), 0)::int FROM public.purchase_daily_stats d
     WHERE d.organization_id = o.id AND d.day BETWEEN r.start_day AND r.end_day)
  FROM postgraphile_bench.analytics_range(o.timezone, range_from, range_to) r
  WHERE o.id = postgraphile_bench.current_organization_id()
    AND current_setting('codex.organization_role', true) IN ('OWNER', 'ADMIN')
$$;
COMMENT ON FUNCTION public.organization_analytics(public.organization, date, date) IS
  'Sales figures for a range of local days (organization timezone; default: the last 30 days). Money is minor '
  'units net of tax; refunds subtract; FREE and GRANT purchases count with 0 revenue.';

-- Organization.analytics.revenueByDay: every day of the range, oldest first, days without sales included.
CREATE OR REPLACE FUNCTION public.organization_revenue_by_day(o public.organization, range_from date DEFAULT NULL,
  range_to date DEFAULT NULL) RETURNS SETOF public.revenue_day
LANGUAGE sql STABLE ROWS 30 AS $$
  SELECT g.day::date, coalesce(d.gross_cents - d.refunded_cents, 0)::bigint, coalesce(d.purchases, 0),
         coalesce(d.refunds, 0)
  FROM postgraphile_bench.analytics_range(o.timezone, range_from, range_to) r
  CROSS JOIN LATERAL generate_series(r.start_day, r.end_day, interval '1 day') AS g(day)
  LEFT JOIN public.purchase_daily_stats d ON d.organization_id = o.id AND d.day = g.day::date
  WHERE o.id = postgraphile_bench.current_organization_id()
    AND current_setting('codex.organization_role', true) IN ('OWNER', 'ADMIN')
  ORDER BY g.day
$$;
COMMENT ON FUNCTION public.organization_revenue_by_day(public.organization, date, date) IS
  'Every day of the range, oldest first, days without sales included (empty without ANALYTICS_READ).';

-- ---- privileges ---------------------------------------------------------------------------------------

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA postgraphile_bench TO codex_app;
GRANT EXECUTE ON FUNCTION
  public.content_viewer_has_access(public.content), public.content_thumbnail_url(public.content),
  public.content_thumbnails(public.content), public.content_playback(public.content),
  public.content_playback_position(public.content), public.purchase_receipt_url(public.purchase),
  public.viewer(), public.organization_analytics(public.organization, date, date),
  public.organization_revenue_by_day(public.organization, date, date)
TO codex_app;
