"""The raw-SQL limit: the benchmark operations answered by hand-written SQL, with no GraphQL layer.

``POST /raw/<key>`` for each key of ``workload.OPERATIONS`` takes the body a GraphQL client sends
(``query`` is ignored except to place error locations), the ``variables`` and the bearer token, and
answers with the JSON our GraphQL server returns for that document: same keys in the same order, same
scalar formats, URLs signed by the same storage backend. Each request is one SQL statement on an
asyncpg pool that connects as the database owner (no RLS: every visibility rule is an explicit WHERE
clause), the session lookup included as a CTE.

    python benchmarks/raw_server.py --database-url postgresql://postgres@127.0.0.1/codex --port 8100

Settings (SECRET_KEY, PUBLIC_BASE_URL, STORAGE_BACKEND, DATA_DIR, ...) come from the environment like
the real server's, so signed URLs and receipt links match it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `codex_graphql` and `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import orjson
from graphql import GraphQLError, parse
from graphql.language import FieldNode, OperationDefinitionNode
from graphql.language.location import get_location
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from codex_graphql.accounts.security import token_hash
from codex_graphql.analytics.service import resolve_range
from codex_graphql.authz import ROLE_PERMISSIONS, Permission
from codex_graphql.commerce.routes import receipt_link_for
from codex_graphql.content.service import URL_TTL_SECONDS
from codex_graphql.pagination import decode_cursor, encode_cursor
from codex_graphql.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_id, to_global_id
from codex_graphql.settings import Settings
from codex_graphql.storage import Storage
from codex_graphql.storage.factory import build_storage

# Defaults of the `$first` variables in operations/storefront.graphql and purchase_history.graphql.
STOREFRONT_FIRST = 50
PURCHASES_FIRST = 20


def roles_with(permission: Permission) -> list[str]:
    return sorted(role.value for role, granted in ROLE_PERMISSIONS.items() if permission in granted)


CONTENT_READ_ROLES = roles_with(Permission.CONTENT_READ)
ANALYTICS_READ_ROLES = roles_with(Permission.ANALYTICS_READ)

# The viewer of the bearer token ($1 = its hash, NULL when anonymous) and their active organization:
# the X-Codex-Organization hint ($2, an id or slug) when they are a member there, else the session's
# active organization when still a member, else their first membership (sessions._viewer_from).
VIEWER_CTE = """
WITH vw AS (
  SELECT s.user_id, m.organization_id AS org_id, m.role
  FROM user_session s
  LEFT JOIN LATERAL (
    SELECT m.organization_id, m.role
    FROM organization_membership m JOIN organization mo ON mo.id = m.organization_id
    WHERE m.user_id = s.user_id
    ORDER BY coalesce(m.organization_id::text = $2 OR mo.slug = $2, false) DESC,
             m.organization_id IS NOT DISTINCT FROM s.active_organization_id DESC, m.created_at, m.id
    LIMIT 1
  ) m ON true
  WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
)"""

# The smallest thumbnail's key (Python's min() keeps the first of equal widths, hence the ordinality).
SMALLEST_THUMBNAIL = """(SELECT t->>'key' FROM jsonb_array_elements(c.thumbnails) WITH ORDINALITY x(t, n)
     ORDER BY (t->'width')::numeric, n LIMIT 1)"""

# $3 slug, $4 roles with CONTENT_READ, ($5, $6) the `after` keyset (NULL: from the start),
# $7 page size + 1. Staff of the organization (CONTENT_READ in it, as the active organization) list
# every status; everyone else the listed published items. One row per item, or one row of NULL items for an empty page.
STOREFRONT_SQL = VIEWER_CTE + """,
org AS (
  SELECT o.id, o.name, vw.user_id, coalesce(vw.org_id = o.id AND vw.role = ANY($4::text[]), false) AS staff
  FROM organization o LEFT JOIN vw ON true
  WHERE o.slug = $3
)
SELECT org.id AS org_id, org.name AS org_name, org.staff, c.*
FROM org LEFT JOIN LATERAL (
  SELECT c.id, c.created_at, c.title, c.kind, c.status, c.price_cents, c.currency, c.tags, c.duration_seconds,
    """ + SMALLEST_THUMBNAIL + """ AS thumb,
    u.id AS creator_id, u.name AS creator_name,
    EXISTS (SELECT 1 FROM content_entitlement e
            WHERE e.user_id = org.user_id AND e.content_id = c.id AND e.revoked_at IS NULL) AS entitled
  FROM content c LEFT JOIN user_account u ON u.id = c.creator_id
  WHERE c.organization_id = org.id AND c.deleted_at IS NULL
    AND (org.staff OR (c.status = 'PUBLISHED' AND c.listed))
    AND (c.created_at, c.id) < (coalesce($5::timestamptz, 'infinity'), coalesce($6::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
  ORDER BY c.created_at DESC, c.id DESC
  LIMIT $7
) c ON true
ORDER BY c.created_at DESC, c.id DESC"""  # noqa: S608 (module constants only)

# $3 content id, $4 roles with CONTENT_READ. Visible (content.access.may_read): an unrevoked entitlement
# of the viewer, else not deleted and published or the viewer is staff of its organization. Playback is
# issued when may_play holds (READY or PUBLISHED, and entitled or staff of a live item), and issuing it
# to a signed-in viewer records a view, once per viewer, item and UTC hour (analytics.stats).
CONTENT_DETAIL_SQL = VIEWER_CTE + """,
c AS (
  SELECT c.*, vw.user_id, coalesce(vw.org_id = c.organization_id AND vw.role = ANY($4::text[]), false) AS staff,
         EXISTS (SELECT 1 FROM content_entitlement e
                 WHERE e.user_id = vw.user_id AND e.content_id = c.id AND e.revoked_at IS NULL) AS entitled
  FROM content c LEFT JOIN vw ON true
  WHERE c.id = $3
),
v AS (
  SELECT c.*, c.status IN ('READY', 'PUBLISHED') AND (c.entitled OR (c.staff AND c.deleted_at IS NULL)) AS can_play
  FROM c WHERE c.entitled OR (c.deleted_at IS NULL AND (c.status = 'PUBLISHED' OR c.staff))
),
viewed AS (
  INSERT INTO content_view (content_id, user_id, hour, organization_id, created_at)
  SELECT v.id, v.user_id, date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', v.organization_id, now()
  FROM v WHERE v.can_play AND v.user_id IS NOT NULL
  ON CONFLICT DO NOTHING
)
SELECT v.id, v.title, v.description, v.kind, v.price_cents, v.currency, v.tags, v.duration_seconds,
       v.published_at, v.thumbnails::text AS thumbnails, v.storage_key, v.mime_type, v.can_play, v.user_id,
       u.id AS creator_id, u.name AS creator_name, p.position_seconds
FROM v LEFT JOIN user_account u ON u.id = v.creator_id
LEFT JOIN playback_position p ON v.can_play AND p.user_id = v.user_id AND p.content_id = v.id"""  # noqa: S608 (module constants only)

# ($3, $4) the `after` keyset, $5 page size + 1. The item is what RLS shows our server: any item of the
# viewer's active organization, published and not deleted ones, and the viewer's entitled ones. One row per purchase, or one row of
# NULL purchases for an empty page; no row at all when the token is not a live session.
PURCHASE_HISTORY_SQL = VIEWER_CTE + """
SELECT vw.user_id, p.*
FROM vw LEFT JOIN LATERAL (
  SELECT p.id, p.created_at, p.kind, p.status, p.amount_cents, p.currency, p.content_title, p.refunded_at,
    p.receipt_url, p.organization_id, c.id AS content_id, c.title AS content_title_now,
    """ + SMALLEST_THUMBNAIL + """ AS thumb,
    o.slug AS org_slug, o.name AS org_name
  FROM purchase p
  LEFT JOIN content c ON c.id = p.content_id
    AND (c.organization_id = vw.org_id OR (c.status = 'PUBLISHED' AND c.deleted_at IS NULL)
         OR EXISTS (SELECT 1 FROM content_entitlement e
                    WHERE e.content_id = c.id AND e.user_id = vw.user_id AND e.revoked_at IS NULL))
  LEFT JOIN organization o ON o.id = p.organization_id
  WHERE p.user_id = vw.user_id AND (p.created_at, p.id) < (coalesce($3::timestamptz, 'infinity'), coalesce($4::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
  ORDER BY p.created_at DESC, p.id DESC
  LIMIT $5
) p ON true
ORDER BY p.created_at DESC, p.id DESC"""  # noqa: S608 (module constants only)

# $3 slug, $4 roles with ANALYTICS_READ, $5/$6 the range (NULL: the last 30 local days). Figures come
# from the trigger-maintained summaries (analytics.types.Analytics; the customer count from analytics_totals,
# as our server reads it since migration 0019); they are computed only when the
# viewer holds ANALYTICS_READ in the organization, its active one. revenueByDay is built as JSON here;
# the limits 5 and 10 are the literal `topContent(limit: 5)` and `recentPurchases(limit: 10)` of the document.
ADMIN_DASHBOARD_SQL = VIEWER_CTE + """,
org AS (
  SELECT o.id, vw.user_id, (now() AT TIME ZONE o.timezone)::date AS today,
    coalesce(vw.org_id = o.id AND vw.role = ANY($4::text[]), false) AS allowed,
    coalesce(vw.org_id = o.id, false) AS active,
    EXISTS (SELECT 1 FROM organization_membership m WHERE m.organization_id = o.id AND m.user_id = vw.user_id)
      AS member
  FROM organization o LEFT JOIN vw ON true
  WHERE o.slug = $3
),
a AS (
  SELECT org.id, org.today, coalesce($5::date, org.today - 29) AS start, coalesce($6::date, org.today) AS stop
  FROM org WHERE org.allowed
),
d AS (
  SELECT s.day, s.purchases, s.gross_cents - s.refunded_cents AS revenue, s.refunds
  FROM a JOIN purchase_daily_stats s ON s.organization_id = a.id AND s.day BETWEEN a.start AND a.stop
)
SELECT org.id, org.user_id, org.allowed, org.active, org.member, a.start, a.stop,
  (SELECT coalesce(sum(d.revenue), 0)::bigint FROM d) AS total_revenue,
  (SELECT coalesce(sum(d.purchases), 0) FROM d) AS purchase_count,
  (SELECT coalesce(sum(d.refunds), 0) FROM d) AS refund_count,
  (SELECT coalesce(sum(s.gross_cents - s.refunded_cents), 0)::bigint FROM purchase_daily_stats s
   WHERE s.organization_id = a.id AND s.day BETWEEN date_trunc('month', a.today)::date AND a.today) AS month_revenue,
  coalesce((SELECT t.customers FROM analytics_totals t WHERE t.organization_id = a.id), 0) AS customer_count,
  (SELECT json_agg(json_build_object('day', g.day, 'revenueCents', coalesce(d.revenue, 0),
                                     'purchases', coalesce(d.purchases, 0), 'refunds', coalesce(d.refunds, 0))
                   ORDER BY g.day)::text
   FROM (SELECT generate_series(a.start, a.stop, interval '1 day')::date AS day) g
   LEFT JOIN d ON d.day = g.day) AS revenue_by_day,
  (SELECT array_agg(row(t.content_id, c.title, t.purchases, t.revenue_cents)
                    ORDER BY t.revenue_cents DESC, t.purchases DESC, t.content_id)
   FROM (SELECT * FROM content_sales_summary t WHERE t.organization_id = a.id
         ORDER BY t.revenue_cents DESC, t.purchases DESC, t.content_id LIMIT 5) t
   LEFT JOIN content c ON c.id = t.content_id
     AND (c.organization_id = a.id OR (c.status = 'PUBLISHED' AND c.deleted_at IS NULL))) AS top_content,
  (SELECT array_agg(row(p.id, p.amount_cents, p.currency, p.content_title, p.created_at)
                    ORDER BY p.created_at DESC, p.id DESC)
   FROM (SELECT * FROM purchase p WHERE p.organization_id = a.id
         ORDER BY p.created_at DESC, p.id DESC LIMIT 10) p) AS recent
FROM org LEFT JOIN a ON true"""  # noqa: S608 (module constants only)

ORG_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM organization WHERE slug = $1)"
SESSION_LIVE_SQL = VIEWER_CTE + "\nSELECT user_id FROM vw"


class BadInput(Exception):
    """An argument error our server reports as BAD_USER_INPUT on the field that takes it."""


def json_response(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def field_error(query: str, path: list[str], message: str, code: str) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    locations = _locate(query, path)
    if locations:
        error["locations"] = locations
    error["path"] = path
    error["extensions"] = {"code": code}
    return error


def _locate(query: str, path: list[str]) -> list[dict[str, int]] | None:
    """Where the field at ``path`` is written in the document (error paths only, never the hot path)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operation = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
    selections = operation.selection_set.selections if operation else ()
    node: FieldNode | None = None
    for key in path:
        node = next((s for s in selections if isinstance(s, FieldNode) and (s.alias or s.name).value == key), None)
        if node is None or node.loc is None:
            return None
        selections = node.selection_set.selections if node.selection_set else ()
    if node is None or node.loc is None:
        return None
    where = get_location(node.loc.source, node.loc.start)
    return [{"line": where.line, "column": where.column}]


def check_first(variables: dict[str, Any], default: int) -> int:
    first = variables.get("first", default)
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > MAX_PAGE_SIZE:
        raise BadInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    return first


def keyset(after: str | None) -> tuple[Any, Any]:
    if not after:
        return None, None
    try:
        return decode_cursor(after)
    except GraphQLError as exc:
        raise BadInput(exc.message) from exc


class RawServer:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.settings = settings
        self.storage: Storage = build_storage(settings)
        self.pool: asyncpg.Pool | None = None
        self.handlers = {
            "typename": self.typename,
            "storefront": self.storefront,
            "content_detail": self.content_detail,
            "purchase_history": self.purchase_history,
            "admin_dashboard": self.admin_dashboard,
        }
        from benchmarks.raw_varied import VariedHandlers  # it imports this module's statements

        self.varied = VariedHandlers(self).handlers  # operations/varied/ (workload.VARIED)

    async def start(self) -> None:
        # The same collector tuning as codex_graphql.app (a limit should not lose to a setting).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        size = self.settings.db_pool_size
        # No reset on release: asyncpg's default sends four statements (RESET ALL, ...) per request,
        # and these connections never change session state.
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=size, max_size=size + self.settings.db_max_overflow, reset=_no_reset)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await self.storage.close()

    async def signed(self, key: str) -> str:
        return (await self.storage.presign_get(key, URL_TTL_SECONDS)).url

    # -- HTTP ---------------------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        handler = self.handlers.get(request.path_params["key"]) or self.varied.get(request.path_params["key"])
        if handler is None:
            return Response(b'{"error":"unknown operation"}', status_code=404, media_type="application/json")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        variables = (body.get("variables") or {}) if isinstance(body, dict) else None
        if not isinstance(variables, dict):
            return Response(b'{"error":"send a JSON object with variables"}', status_code=400,
                            media_type="application/json")
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            token = header[7:].strip() or None
        else:
            token = request.cookies.get(self.settings.session_cookie_name)
        # sessions.SessionResolver: anything longer than 200 characters is not a token.
        hashed = token_hash(token) if token and len(token) <= 200 else None
        hint = request.headers.get("x-codex-organization", "").strip()
        if hint:
            decoded = decode_id(hint, "Organization")
            hint = str(decoded) if decoded else hint.lower()
        return await handler(str(body.get("query") or ""), variables, hashed, hint or None)

    async def typename(self, query: str, variables: dict[str, Any], hashed: str | None,
                       hint: str | None) -> Response:
        return Response(b'{"data":{"__typename":"Query"}}', media_type="application/json")

    # -- operations ---------------------------------------------------------------------------------

    async def storefront(self, query: str, variables: dict[str, Any], hashed: str | None,
                         hint: str | None) -> Response:
        assert self.pool is not None
        slug = str(variables.get("slug", "")).strip().lower()
        try:
            first = check_first(variables, STOREFRONT_FIRST)
            after = keyset(variables.get("after"))
        except BadInput as exc:
            # The argument error nulls `organization` (contents is non-null), but only when it exists.
            if not await self.pool.fetchval(ORG_EXISTS_SQL, slug):
                return json_response({"data": {"organization": None}})
            return json_response({"data": {"organization": None}, "errors": [
                field_error(query, ["organization", "contents"], str(exc), "BAD_USER_INPUT")]})
        rows = await self.pool.fetch(STOREFRONT_SQL, hashed, hint, slug, CONTENT_READ_ROLES, *after, first + 1)
        if not rows:
            return json_response({"data": {"organization": None}})
        head = rows[0]
        staff = head["staff"]
        items = [r for r in rows if r["id"] is not None]
        edges = []
        for r in items[:first]:
            thumb = r["thumb"]
            creator_id = r["creator_id"]
            edges.append({"cursor": encode_cursor(r["created_at"], r["id"]), "node": {
                "id": to_global_id("Content", r["id"]),
                "title": r["title"],
                "kind": r["kind"],
                "priceCents": r["price_cents"],
                "currency": r["currency"],
                "tags": r["tags"],
                "durationSeconds": r["duration_seconds"],
                "thumbnailUrl": await self.signed(thumb) if thumb is not None else None,
                "viewerHasAccess": r["status"] in ("READY", "PUBLISHED") and (
                    staff or (r["status"] == "PUBLISHED" and r["entitled"])),
                "creator": {"id": to_global_id("User", creator_id), "name": r["creator_name"]}
                if creator_id is not None else None,
            }})
        return json_response({"data": {"organization": {
            "id": to_global_id("Organization", head["org_id"]),
            "name": head["org_name"],
            "contents": {"edges": edges, "pageInfo": {
                "hasNextPage": len(items) > first,
                "endCursor": edges[-1]["cursor"] if edges else None,
            }},
        }}})

    async def content_detail(self, query: str, variables: dict[str, Any], hashed: str | None,
                             hint: str | None) -> Response:
        assert self.pool is not None
        content_id = decode_id(str(variables.get("id", "")), "Content")
        if content_id is None:
            return json_response({"data": {"content": None}})
        row = await self.pool.fetchrow(CONTENT_DETAIL_SQL, hashed, hint, content_id, CONTENT_READ_ROLES)
        if row is None:
            return json_response({"data": {"content": None}})
        can_play = row["can_play"]
        errors = []
        if can_play:
            # Signed with the item's type, as our server signs playback (content.service.playback_url).
            signed = await self.storage.presign_get(row["storage_key"], URL_TTL_SECONDS, content_type=row["mime_type"])
            assert signed.expires_at is not None
            playback: dict[str, Any] | None = {"url": signed.url, "expiresAt": signed.expires_at.isoformat()}
        else:
            playback = None
            if row["user_id"] is None:
                errors.append(field_error(query, ["content", "playback"], "Sign in to play this content.",
                                          "UNAUTHENTICATED"))
            else:
                errors.append(field_error(query, ["content", "playback"],
                                          "You do not have access to play this content.", "FORBIDDEN"))
        thumbnails = sorted(orjson.loads(row["thumbnails"]), key=lambda t: t["width"])
        creator_id = row["creator_id"]
        published_at = row["published_at"]
        content = {
            "id": to_global_id("Content", row["id"]),
            "title": row["title"],
            "description": row["description"],
            "kind": row["kind"],
            "priceCents": row["price_cents"],
            "currency": row["currency"],
            "tags": row["tags"],
            "durationSeconds": row["duration_seconds"],
            "publishedAt": published_at.isoformat() if published_at is not None else None,
            "creator": {"id": to_global_id("User", creator_id), "name": row["creator_name"]}
            if creator_id is not None else None,
            "thumbnails": [{"url": await self.signed(t["key"]), "width": t["width"], "height": t["height"]}
                           for t in thumbnails],
            "viewerHasAccess": can_play,
            "playbackPosition": row["position_seconds"] if row["user_id"] is not None else None,
            "playback": playback,
        }
        body: dict[str, Any] = {"data": {"content": content}}
        if errors:
            body["errors"] = errors
        return json_response(body)

    async def purchase_history(self, query: str, variables: dict[str, Any], hashed: str | None,
                               hint: str | None) -> Response:
        assert self.pool is not None
        try:
            first = check_first(variables, PURCHASES_FIRST)
            after = keyset(variables.get("after"))
        except BadInput as exc:
            # Anonymous viewers get `viewer: null` before `purchases` ever reads its arguments.
            if hashed is None or await self.pool.fetchval(SESSION_LIVE_SQL, hashed, hint) is None:
                return json_response({"data": {"viewer": None}})
            return json_response({"data": {"viewer": None}, "errors": [
                field_error(query, ["viewer", "purchases"], str(exc), "BAD_USER_INPUT")]})
        if hashed is None:
            return json_response({"data": {"viewer": None}})
        rows = await self.pool.fetch(PURCHASE_HISTORY_SQL, hashed, hint, *after, first + 1)
        if not rows:
            return json_response({"data": {"viewer": None}})
        settings = self.settings
        items = [r for r in rows if r["id"] is not None]
        edges = []
        for r in items[:first]:
            content_id = r["content_id"]
            if content_id is not None:
                thumb = r["thumb"]
                content: dict[str, Any] | None = {
                    "id": to_global_id("Content", content_id),
                    "title": r["content_title_now"],
                    "thumbnailUrl": await self.signed(thumb) if thumb is not None else None,
                }
            else:
                content = None
            refunded_at = r["refunded_at"]
            edges.append({"cursor": encode_cursor(r["created_at"], r["id"]), "node": {
                "id": to_global_id("Purchase", r["id"]),
                "kind": r["kind"],
                "status": r["status"],
                "amountCents": r["amount_cents"],
                "currency": r["currency"],
                "contentTitle": r["content_title"],
                "createdAt": r["created_at"].isoformat(),
                "refundedAt": refunded_at.isoformat() if refunded_at is not None else None,
                "receiptUrl": r["receipt_url"] or receipt_link_for(settings, r["id"], r["organization_id"]),
                "content": content,
                "organization": {"slug": r["org_slug"], "name": r["org_name"]} if r["org_slug"] is not None
                else None,
            }})
        return json_response({"data": {"viewer": {"purchases": {"edges": edges, "pageInfo": {
            "hasNextPage": len(items) > first,
            "endCursor": edges[-1]["cursor"] if edges else None,
        }}}}})

    async def admin_dashboard(self, query: str, variables: dict[str, Any], hashed: str | None,
                              hint: str | None) -> Response:
        assert self.pool is not None
        slug = str(variables.get("slug", "")).strip().lower()
        requested = variables.get("range")
        start = stop = None
        bad_range: str | None = None
        if requested:
            try:
                days = resolve_range(date.fromisoformat(requested["from"]), date.fromisoformat(requested["to"]),
                                     "UTC")  # both ends given: the zone plays no part
                start, stop = days.start, days.end
            except GraphQLError as exc:
                bad_range = exc.message
        row = await self.pool.fetchrow(ADMIN_DASHBOARD_SQL, hashed, hint, slug, ANALYTICS_READ_ROLES, start, stop)
        if row is None:
            return json_response({"data": {"organization": None}})
        path = ["organization", "analytics"]
        if not row["allowed"] or bad_range is not None:
            if row["user_id"] is None:
                error = field_error(query, path, "Sign in to do this.", "UNAUTHENTICATED")
            elif row["member"] and not row["active"]:
                error = field_error(query, path, f"Organization {row['id']} is not the active organization: call "
                                    "setActiveOrganization or send the X-Codex-Organization header.", "FORBIDDEN")
            elif not row["allowed"]:
                error = field_error(query, path, f"Requires permission {Permission.ANALYTICS_READ.value} in this "
                                    "organization.", "FORBIDDEN")
            else:
                error = field_error(query, path, bad_range or "", "BAD_USER_INPUT")
            return json_response({"data": {"organization": {"analytics": None}}, "errors": [error]})
        return json_response({"data": {"organization": {"analytics": {
            "fromDay": row["start"].isoformat(),
            "toDay": row["stop"].isoformat(),
            "totalRevenueCents": row["total_revenue"],
            "revenueThisMonthCents": row["month_revenue"],
            "customerCount": row["customer_count"],
            "purchaseCount": row["purchase_count"],
            "refundCount": row["refund_count"],
            "revenueByDay": orjson.Fragment(row["revenue_by_day"]),
            "topContent": [{
                "content": {"id": to_global_id("Content", content_id), "title": title} if title is not None
                else None,
                "purchases": purchases,
                "revenueCents": revenue,
            } for content_id, title, purchases, revenue in row["top_content"] or ()],
            "recentPurchases": [{
                "id": to_global_id("Purchase", purchase_id),
                "amountCents": amount,
                "currency": currency,
                "contentTitle": title,
                "createdAt": created_at.isoformat(),
            } for purchase_id, amount, currency, title, created_at in row["recent"] or ()],
        }}}})


def create_raw_app(database_url: str, settings: Settings) -> Starlette:
    server = RawServer(database_url, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = Starlette(routes=[Route("/raw/{key}", server.endpoint, methods=["POST"])], lifespan=lifespan)
    app.state.raw = server
    return app


def app_factory() -> Starlette:
    """For uvicorn's import-string form (``--workers``): the database URL comes from RAW_DATABASE_URL."""
    return create_raw_app(os.environ["RAW_DATABASE_URL"], Settings())


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="The raw-SQL limit server for the benchmark operations.")
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL of a superuser or the tables' owner")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    if args.workers and args.workers > 1 and not os.environ.get("SECRET_KEY"):
        print("raw_server: set SECRET_KEY (the real server's) so every worker signs URLs alike", file=sys.stderr)
        return 2
    # A worker answers uvicorn's health check only once it has imported this module (codex_graphql with it):
    # on a loaded 2-core machine that can take longer than uvicorn's default 5 s, and the supervisor would
    # kill and respawn its workers for ever.
    options: dict[str, Any] = {"host": args.host, "port": args.port, "loop": "uvloop", "http": "httptools",
                               "access_log": False, "log_level": "warning", "timeout_worker_healthcheck": 60}
    if args.workers:
        os.environ["RAW_DATABASE_URL"] = args.database_url
        uvicorn.run("benchmarks.raw_server:app_factory", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_raw_app(args.database_url, Settings()), **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
