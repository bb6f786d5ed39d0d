"""The raw-SQL twins of the varied documents (operations/varied/, issue 22 item 7).

Each handler answers ``POST /raw/<key>`` with the JSON our GraphQL server returns for that document
(same keys in the same order, same formats, URLs signed by the same storage backend), from
hand-written SQL on the raw server's asyncpg pool (database owner, no RLS: visibility rules are
explicit WHERE clauses, the session lookup a CTE). One statement per root field; the directives of
``storefront_filtered`` are applied from its variables, like GraphQL does. Only the arguments these
documents take are handled; ``tests/benchmarks/test_bench_varied.py`` proves each answer equal to our server's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError
from starlette.responses import Response

from benchmarks.raw_server import (
    ADMIN_DASHBOARD_SQL,
    ANALYTICS_READ_ROLES,
    CONTENT_READ_ROLES,
    ORG_EXISTS_SQL,
    PURCHASE_HISTORY_SQL,
    SESSION_LIVE_SQL,
    SMALLEST_THUMBNAIL,
    VIEWER_CTE,
    BadInput,
    check_first,
    field_error,
    json_response,
    keyset,
    roles_with,
)
from codex_graphql.analytics.service import resolve_range
from codex_graphql.authz import Permission
from codex_graphql.content.rules import normalize_tags
from codex_graphql.content.service import URL_TTL_SECONDS
from codex_graphql.errors import DomainError
from codex_graphql.org_settings import models as settings_models
from codex_graphql.org_settings.palette import generate as generate_palette
from codex_graphql.org_settings.types import LOGO_URL_TTL_SECONDS
from codex_graphql.pagination import encode_cursor
from codex_graphql.relay import decode_id, to_global_id

if TYPE_CHECKING:
    from benchmarks.raw_server import RawServer

SETTINGS_ROLES = roles_with(Permission.SETTINGS_MANAGE)
Handler = Callable[[str, dict[str, Any], str | None, str | None], Awaitable[Response]]

# A storefront page with the organization's settings document and the viewer's role there (any
# membership, active or not: Viewer.role_in). $1/$2 the viewer, $3 slug, $4 roles with CONTENT_READ,
# ($5, $6) the `after` keyset, $7 page size + 1, $8 kind and $9 tag filters (NULL: any).
_STOREFRONT = VIEWER_CTE + """,
org AS (
  SELECT o.id, o.name, o.timezone, o.settings::text AS settings, vw.user_id,
    coalesce(vw.org_id = o.id AND vw.role = ANY($4::text[]), false) AS staff, coalesce(vw.org_id = o.id, false) AS active,
    (SELECT m.role FROM organization_membership m WHERE m.organization_id = o.id AND m.user_id = vw.user_id)
      AS viewer_role
  FROM organization o LEFT JOIN vw ON true
  WHERE o.slug = $3
)
SELECT org.id AS org_id, org.name AS org_name, org.timezone AS org_timezone, org.settings AS org_settings,
       org.viewer_role, org.staff, org.active, org.user_id, c.*
FROM org LEFT JOIN LATERAL (
  SELECT c.id, c.created_at, c.title, c.kind, c.status, c.price_cents, c.currency, c.tags, c.duration_seconds,
    """ + SMALLEST_THUMBNAIL + """ AS thumb, {thumbnails}
    u.id AS creator_id, u.name AS creator_name,
    EXISTS (SELECT 1 FROM content_entitlement e
            WHERE e.user_id = org.user_id AND e.content_id = c.id AND e.revoked_at IS NULL) AS entitled
  FROM content c LEFT JOIN user_account u ON u.id = c.creator_id
  WHERE c.organization_id = org.id AND c.deleted_at IS NULL
    AND (org.staff OR (c.status = 'PUBLISHED' AND c.listed))
    AND ($8::text IS NULL OR c.kind = $8::text) AND ($9::text IS NULL OR $9::text = ANY(c.tags))
    AND (c.created_at, c.id) < (coalesce($5::timestamptz, 'infinity'), coalesce($6::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
  ORDER BY c.created_at DESC, c.id DESC
  LIMIT $7
) c ON true
ORDER BY c.created_at DESC, c.id DESC"""  # noqa: S608 (module constants only)
STOREFRONT_SQL = _STOREFRONT.format(thumbnails="")
STOREFRONT_THUMBNAILS_SQL = _STOREFRONT.format(thumbnails="c.thumbnails::text AS thumbnails,")

# One item by id under content.access.may_read (as `content(id:)` and `node(id:)`), no view recorded
# (no playback selected). $3 content id, $4 roles with CONTENT_READ.
CONTENT_SQL = VIEWER_CTE + """,
c AS (
  SELECT c.*, vw.user_id, coalesce(vw.org_id = c.organization_id AND vw.role = ANY($4::text[]), false) AS staff,
         EXISTS (SELECT 1 FROM content_entitlement e
                 WHERE e.user_id = vw.user_id AND e.content_id = c.id AND e.revoked_at IS NULL) AS entitled
  FROM content c LEFT JOIN vw ON true
  WHERE c.id = $3
)
SELECT c.id, c.title, c.description, c.kind, c.status, c.price_cents, c.currency, c.tags, c.duration_seconds,
       c.published_at, c.thumbnails::text AS thumbnails, """ + SMALLEST_THUMBNAIL + """ AS thumb,
       c.status IN ('READY', 'PUBLISHED') AND (c.entitled OR (c.staff AND c.deleted_at IS NULL)) AS can_play,
       u.id AS creator_id, u.name AS creator_name
FROM c LEFT JOIN user_account u ON u.id = c.creator_id
WHERE c.entitled OR (c.deleted_at IS NULL AND (c.status = 'PUBLISHED' OR c.staff))"""  # noqa: S608

VIEWER_SQL = VIEWER_CTE + """
SELECT u.id, u.name, u.email_verified_at IS NOT NULL AS email_verified
FROM vw JOIN user_account u ON u.id = vw.user_id"""  # noqa: S608

# The purchase history's statement with the viewer's name beside each row.
_HISTORY_HEAD = "SELECT vw.user_id, p.*\nFROM vw LEFT JOIN LATERAL ("
assert _HISTORY_HEAD in PURCHASE_HISTORY_SQL
LIBRARY_SQL = PURCHASE_HISTORY_SQL.replace(
    _HISTORY_HEAD, "SELECT vw.user_id, vu.name AS viewer_name, p.*\nFROM vw JOIN user_account vu ON vu.id = vw.user_id\n"
    "LEFT JOIN LATERAL (")

# The dashboard's statement with the organization's name, the viewer's role and the top 3 (not 5), computing
# only what the document asks for, as our server does: no month, refund count or latest purchases, and
# revenueByDay as JSON with the document's two keys, passed through.
_DASH_ORG, _DASH_SELECT, _DASH_TOP = ("SELECT o.id, vw.user_id,", "SELECT org.id, org.user_id,",
                                      "ORDER BY t.revenue_cents DESC, t.purchases DESC, t.content_id LIMIT 5")
_DASH_UNASKED = (
    "  (SELECT coalesce(sum(d.refunds), 0) FROM d) AS refund_count,\n",
    ADMIN_DASHBOARD_SQL[ADMIN_DASHBOARD_SQL.index("  (SELECT coalesce(sum(s.gross_cents - s.refunded_cents)"):
                        ADMIN_DASHBOARD_SQL.index("  coalesce((SELECT t.customers FROM analytics_totals")],
    ADMIN_DASHBOARD_SQL[ADMIN_DASHBOARD_SQL.index(" AS top_content,") + len(" AS top_content"):
                        ADMIN_DASHBOARD_SQL.index(" AS recent\n") + len(" AS recent")],
)
_DASH_DAY = ("'purchases', coalesce(d.purchases, 0), 'refunds', coalesce(d.refunds, 0)")
assert all(part in ADMIN_DASHBOARD_SQL for part in (_DASH_ORG, _DASH_SELECT, _DASH_TOP, _DASH_DAY, *_DASH_UNASKED))
DASHBOARD_SQL = ADMIN_DASHBOARD_SQL.replace(_DASH_ORG, (
    "SELECT o.id, o.name, vw.user_id, (SELECT m.role FROM organization_membership m "
    "WHERE m.organization_id = o.id AND m.user_id = vw.user_id) AS viewer_role,")).replace(
    _DASH_SELECT, "SELECT org.id, org.name, org.viewer_role, org.user_id,").replace(_DASH_TOP, _DASH_TOP[:-1] + "3")
for _part in _DASH_UNASKED:
    DASHBOARD_SQL = DASHBOARD_SQL.replace(_part, "")
DASHBOARD_SQL = re.sub(r",\s*" + re.escape(_DASH_DAY), "", DASHBOARD_SQL)


@functools.lru_cache(maxsize=64)
def palette(primary_color: str | None) -> list[dict[str, Any]]:
    if not primary_color:
        return []
    return [{"shade": s.shade, "color": s.color, "textColor": s.text_color} for s in generate_palette(primary_color)]


def _creator(r: Any, with_id: bool = True) -> dict[str, Any] | None:
    creator_id = r["creator_id"]
    if creator_id is None:
        return None
    return {"id": to_global_id("User", creator_id), "name": r["creator_name"]} if with_id else {"name": r["creator_name"]}


def _may_play(r: Any, staff: bool) -> bool:
    return r["status"] in ("READY", "PUBLISHED") and (staff or (r["status"] == "PUBLISHED" and r["entitled"]))


class VariedHandlers:
    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.handlers: dict[str, Handler] = {
            "storefront_branding": self.storefront_branding,
            "storefront_settings": self.storefront_settings,
            "storefront_featured": self.storefront_featured,
            "storefront_filtered": self.storefront_filtered,
            "storefront_thumbnails": self.storefront_thumbnails,
            "node_fragments": self.node_fragments,
            "viewer_library": self.viewer_library,
            "dashboard_home": self.dashboard_home,
            "mixed_roots": self.mixed_roots,
            "typename_everywhere": self.typename_everywhere,
        }

    async def signed(self, key: str | None, ttl: int = URL_TTL_SECONDS) -> str | None:
        return None if key is None else (await self.server.storage.presign_get(key, ttl)).url

    async def thumbnails(self, text: str, height: bool) -> list[dict[str, Any]]:
        items = sorted(orjson.loads(text), key=lambda t: t["width"])
        if height:
            return [{"url": await self.signed(t["key"]), "width": t["width"], "height": t["height"]} for t in items]
        return [{"url": await self.signed(t["key"]), "width": t["width"]} for t in items]

    # -- the shared storefront statement ---------------------------------------------------------------

    async def page(self, query: str, variables: dict[str, Any], hashed: str | None, hint: str | None,
                   default_first: int, *, sql: str = STOREFRONT_SQL, kind: str | None = None,
                   tag: str | None = None) -> tuple[list[Any], int] | Response:
        """The rows of one page and its size, or the whole answer when there is no page to show."""
        pool = self.server.pool
        assert pool is not None
        slug = str(variables.get("slug", "")).strip().lower()
        try:
            first = check_first(variables, default_first)
            after = keyset(variables.get("after"))
        except BadInput as exc:
            if not await pool.fetchval(ORG_EXISTS_SQL, slug):
                return json_response({"data": {"organization": None}})
            return json_response({"data": {"organization": None}, "errors": [
                field_error(query, ["organization", "contents"], str(exc), "BAD_USER_INPUT")]})
        rows = await pool.fetch(sql, hashed, hint, slug, CONTENT_READ_ROLES, *after, first + 1, kind, tag)
        if not rows:
            return json_response({"data": {"organization": None}})
        return rows, first

    @staticmethod
    def page_info(rows: list[Any], first: int, cursors: list[str]) -> dict[str, Any]:
        return {"hasNextPage": sum(1 for r in rows if r["id"] is not None) > first,
                "endCursor": cursors[-1] if cursors else None}

    # -- the documents -------------------------------------------------------------------------------

    async def storefront_branding(self, query: str, variables: dict[str, Any], hashed: str | None,
                                  hint: str | None) -> Response:
        found = await self.page(query, variables, hashed, hint, 50)
        if isinstance(found, Response):
            return found
        rows, first = found
        head, edges, cursors = rows[0], [], []
        staff = head["staff"]
        for r in rows[:first]:
            if r["id"] is None:
                break
            cursor = encode_cursor(r["created_at"], r["id"])
            cursors.append(cursor)
            edges.append({"cursor": cursor, "node": {
                "id": to_global_id("Content", r["id"]), "title": r["title"], "kind": r["kind"],
                "priceCents": r["price_cents"], "currency": r["currency"], "tags": r["tags"],
                "durationSeconds": r["duration_seconds"], "thumbnailUrl": await self.signed(r["thumb"]),
                "viewerHasAccess": _may_play(r, staff), "creator": _creator(r)}})
        doc = settings_models.read(head["org_name"], head["org_timezone"], orjson.loads(head["org_settings"] or "{}"))
        return json_response({"data": {"organization": {
            "id": to_global_id("Organization", head["org_id"]),
            "name": head["org_name"],
            "viewerRole": head["viewer_role"],
            "branding": {"platformName": doc.platform_name, "primaryColor": doc.primary_color,
                         "logoUrl": await self.signed(doc.logo_key or None, LOGO_URL_TTL_SECONDS),
                         "palette": palette(doc.primary_color)},
            "contents": {"edges": edges, "pageInfo": self.page_info(rows, first, cursors)},
        }}})

    async def storefront_settings(self, query: str, variables: dict[str, Any], hashed: str | None,
                                  hint: str | None) -> Response:
        found = await self.page(query, variables, hashed, hint, 50)
        if isinstance(found, Response):
            return found
        rows, first = found
        head, edges, cursors = rows[0], [], []
        for r in rows[:first]:
            if r["id"] is None:
                break
            cursors.append(encode_cursor(r["created_at"], r["id"]))
            edges.append({"node": {
                "id": to_global_id("Content", r["id"]), "title": r["title"], "status": r["status"],
                "priceCents": r["price_cents"], "currency": r["currency"],
                "thumbnailUrl": await self.signed(r["thumb"]), "creator": _creator(r, with_id=False)}})
        organization: dict[str, Any] = {"id": to_global_id("Organization", head["org_id"]),
                                        "name": head["org_name"], "viewerRole": head["viewer_role"]}
        errors = []
        if head["active"] and head["viewer_role"] in SETTINGS_ROLES:
            doc = settings_models.read(head["org_name"], head["org_timezone"],
                                       orjson.loads(head["org_settings"] or "{}"))
            organization["settings"] = {
                "name": doc.name, "timezone": doc.timezone, "currency": doc.currency,
                "platformName": doc.platform_name, "primaryColor": doc.primary_color,
                "defaultVisibility": doc.default_visibility.value, "allowDownloads": doc.allow_downloads,
                "enableReviews": doc.enable_reviews}
        else:
            organization["settings"] = None
            errors.append(self.refusal(query, ["organization", "settings"], head, Permission.SETTINGS_MANAGE))
        organization["contents"] = {"edges": edges, "pageInfo": self.page_info(rows, first, cursors)}
        body: dict[str, Any] = {"data": {"organization": organization}}
        if errors:
            body["errors"] = errors
        return json_response(body)

    @staticmethod
    def refusal(query: str, path: list[str], head: Any, permission: Permission) -> dict[str, Any]:
        """The error of a field guarded by ``permission`` (permissions.HasOrgPermission), as the dashboard's."""
        if head["user_id"] is None:
            return field_error(query, path, "Sign in to do this.", "UNAUTHENTICATED")
        if head["viewer_role"] is not None and not head["active"]:
            return field_error(query, path, f"Organization {head['org_id']} is not the active organization: call "
                               "setActiveOrganization or send the X-Codex-Organization header.", "FORBIDDEN")
        return field_error(query, path, f"Requires permission {permission.value} in this organization.", "FORBIDDEN")

    async def content_root(self, content_global_id: Any, hashed: str | None, hint: str | None) -> Any:
        content_id = decode_id(str(content_global_id or ""), "Content")
        if content_id is None:
            return None
        assert self.server.pool is not None
        return await self.server.pool.fetchrow(CONTENT_SQL, hashed, hint, content_id, CONTENT_READ_ROLES)

    async def storefront_featured(self, query: str, variables: dict[str, Any], hashed: str | None,
                                  hint: str | None) -> Response:
        row = await self.content_root(variables.get("featured"), hashed, hint)
        featured = None if row is None else {
            "__typename": "Content", "id": to_global_id("Content", row["id"]), "title": row["title"],
            "description": row["description"], "priceCents": row["price_cents"], "currency": row["currency"],
            "thumbnailUrl": await self.signed(row["thumb"]), "viewerHasAccess": row["can_play"]}
        found = await self.page(query, variables, hashed, hint, 50)
        if isinstance(found, Response):
            body = orjson.loads(found.body)
            return json_response({"data": {"featured": featured, **body["data"]},
                                  **({"errors": body["errors"]} if "errors" in body else {})})
        rows, first = found
        return json_response({"data": {"featured": featured, "organization": await self.storefront_org(rows, first)}})

    async def storefront_org(self, rows: list[Any], first: int) -> dict[str, Any]:
        head, edges, cursors = rows[0], [], []
        staff = head["staff"]
        for r in rows[:first]:
            if r["id"] is None:
                break
            cursor = encode_cursor(r["created_at"], r["id"])
            cursors.append(cursor)
            edges.append({"cursor": cursor, "node": {
                "id": to_global_id("Content", r["id"]), "title": r["title"], "kind": r["kind"],
                "priceCents": r["price_cents"], "currency": r["currency"], "tags": r["tags"],
                "durationSeconds": r["duration_seconds"], "thumbnailUrl": await self.signed(r["thumb"]),
                "viewerHasAccess": _may_play(r, staff), "creator": _creator(r)}})
        return {"id": to_global_id("Organization", head["org_id"]), "name": head["org_name"],
                "contents": {"edges": edges, "pageInfo": self.page_info(rows, first, cursors)}}

    async def storefront_filtered(self, query: str, variables: dict[str, Any], hashed: str | None,
                                  hint: str | None) -> Response:
        kind = variables.get("kind")
        raw_tag = variables.get("tag")
        tag = None
        if raw_tag:
            try:
                normalized = normalize_tags([raw_tag])
            except DomainError as error:
                return json_response({"data": {"organization": None}, "errors": [field_error(
                    query, ["organization", "contents"], f"Invalid tag filter: {error}", "BAD_USER_INPUT")]})
            tag = normalized[0] if normalized else None
        found = await self.page(query, variables, hashed, hint, 24, kind=kind, tag=tag)
        if isinstance(found, Response):
            return found
        rows, first = found
        compact = variables.get("compact", False)
        with_creator = variables.get("withCreator", True)
        head, edges, cursors = rows[0], [], []
        staff = head["staff"]
        for r in rows[:first]:
            if r["id"] is None:
                break
            cursor = encode_cursor(r["created_at"], r["id"])
            cursors.append(cursor)
            node: dict[str, Any] = {"id": to_global_id("Content", r["id"]), "title": r["title"], "kind": r["kind"],
                                    "priceCents": r["price_cents"], "currency": r["currency"]}
            if not compact:
                node["tags"] = r["tags"]
                node["durationSeconds"] = r["duration_seconds"]
            node["thumbnailUrl"] = await self.signed(r["thumb"])
            node["viewerHasAccess"] = _may_play(r, staff)
            if with_creator:
                node["creator"] = _creator(r)
            edges.append({"cursor": cursor, "node": node})
        return json_response({"data": {"organization": {
            "id": to_global_id("Organization", head["org_id"]),
            "contents": {"edges": edges, "pageInfo": self.page_info(rows, first, cursors)}}}})

    async def storefront_thumbnails(self, query: str, variables: dict[str, Any], hashed: str | None,
                                    hint: str | None) -> Response:
        found = await self.page(query, variables, hashed, hint, 50, sql=STOREFRONT_THUMBNAILS_SQL)
        if isinstance(found, Response):
            return found
        rows, first = found
        head, nodes, cursors = rows[0], [], []
        staff = head["staff"]
        for r in rows[:first]:
            if r["id"] is None:
                break
            cursors.append(encode_cursor(r["created_at"], r["id"]))
            nodes.append({"id": to_global_id("Content", r["id"]), "title": r["title"], "priceCents": r["price_cents"],
                          "currency": r["currency"], "viewerHasAccess": _may_play(r, staff),
                          "thumbnails": await self.thumbnails(r["thumbnails"], height=False)})
        return json_response({"data": {"organization": {
            "name": head["org_name"], "contents": {"nodes": nodes, "pageInfo": self.page_info(rows, first, cursors)}}}})

    async def node_fragments(self, query: str, variables: dict[str, Any], hashed: str | None,
                             hint: str | None) -> Response:
        row = await self.content_root(variables.get("id"), hashed, hint)
        if row is None:
            return json_response({"data": {"node": None}})
        published_at = row["published_at"]
        creator = _creator(row)
        return json_response({"data": {"node": {
            "__typename": "Content", "id": to_global_id("Content", row["id"]), "title": row["title"],
            "kind": row["kind"], "status": row["status"], "priceCents": row["price_cents"], "currency": row["currency"],
            "tags": row["tags"], "durationSeconds": row["duration_seconds"],
            "publishedAt": published_at.isoformat() if published_at is not None else None,
            "thumbnails": await self.thumbnails(row["thumbnails"], height=True),
            "creator": {"__typename": "User", **creator} if creator is not None else None,
        }}})

    async def viewer_library(self, query: str, variables: dict[str, Any], hashed: str | None,
                             hint: str | None) -> Response:
        pool = self.server.pool
        assert pool is not None
        try:
            first = check_first(variables, 20)
            after = keyset(variables.get("after"))
        except BadInput as exc:
            if hashed is None or await pool.fetchval(SESSION_LIVE_SQL, hashed, hint) is None:
                return json_response({"data": {"viewer": None}})
            return json_response({"data": {"viewer": None}, "errors": [
                field_error(query, ["viewer", "purchases"], str(exc), "BAD_USER_INPUT")]})
        if hashed is None:
            return json_response({"data": {"viewer": None}})
        rows = await pool.fetch(LIBRARY_SQL, hashed, hint, *after, first + 1)
        if not rows:
            return json_response({"data": {"viewer": None}})
        items = [r for r in rows if r["id"] is not None]
        nodes = []
        for r in items[:first]:
            content_id = r["content_id"]
            nodes.append({
                "id": to_global_id("Purchase", r["id"]), "status": r["status"], "createdAt": r["created_at"].isoformat(),
                "content": {"id": to_global_id("Content", content_id), "title": r["content_title_now"],
                            "thumbnailUrl": await self.signed(r["thumb"])} if content_id is not None else None})
        head = rows[0]
        return json_response({"data": {"viewer": {
            "id": to_global_id("User", head["user_id"]), "name": head["viewer_name"],
            "purchases": {"nodes": nodes, "pageInfo": {"hasNextPage": len(items) > first}}}}})

    async def dashboard_home(self, query: str, variables: dict[str, Any], hashed: str | None,
                             hint: str | None) -> Response:
        pool = self.server.pool
        assert pool is not None
        slug = str(variables.get("slug", "")).strip().lower()
        requested = variables.get("range")
        start = stop = None
        bad_range: str | None = None
        if requested:
            try:
                days = resolve_range(date.fromisoformat(requested["from"]), date.fromisoformat(requested["to"]), "UTC")
                start, stop = days.start, days.end
            except GraphQLError as exc:
                bad_range = exc.message
        row = await pool.fetchrow(DASHBOARD_SQL, hashed, hint, slug, ANALYTICS_READ_ROLES, start, stop)
        if row is None:
            return json_response({"data": {"organization": None}})
        organization: dict[str, Any] = {"name": row["name"], "viewerRole": row["viewer_role"]}
        if not row["allowed"] or bad_range is not None:
            path = ["organization", "analytics"]
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
            organization["analytics"] = None
            return json_response({"data": {"organization": organization}, "errors": [error]})
        organization["analytics"] = {
            "totalRevenueCents": row["total_revenue"],
            "customerCount": row["customer_count"],
            "purchaseCount": row["purchase_count"],
            "revenueByDay": orjson.Fragment(row["revenue_by_day"]),
            "topContent": [{"content": {"title": title} if title is not None else None, "revenueCents": revenue}
                           for _content_id, title, _purchases, revenue in row["top_content"] or ()],
        }
        return json_response({"data": {"organization": organization}})

    async def mixed_roots(self, query: str, variables: dict[str, Any], hashed: str | None,
                          hint: str | None) -> Response:
        pool = self.server.pool
        assert pool is not None
        viewer = None
        if hashed is not None:
            found = await pool.fetchrow(VIEWER_SQL, hashed, hint)
            if found is not None:
                viewer = {"id": to_global_id("User", found["id"]), "name": found["name"],
                          "emailVerified": found["email_verified"]}
        row = await self.content_root(variables.get("featured"), hashed, hint)
        content = None if row is None else {
            "id": to_global_id("Content", row["id"]), "title": row["title"],
            "thumbnails": await self.thumbnails(row["thumbnails"], height=False)}
        page = await self.page(query, variables, hashed, hint, 12)
        if isinstance(page, Response):
            body = orjson.loads(page.body)
            return json_response({"data": {"viewer": viewer, "content": content, **body["data"]},
                                  **({"errors": body["errors"]} if "errors" in body else {})})
        rows, first = page
        head, edges = rows[0], []
        staff = head["staff"]
        for r in rows[:first]:
            if r["id"] is None:
                break
            edges.append({"node": {
                "id": to_global_id("Content", r["id"]), "title": r["title"], "priceCents": r["price_cents"],
                "currency": r["currency"], "thumbnailUrl": await self.signed(r["thumb"]),
                "viewerHasAccess": _may_play(r, staff)}})
        return json_response({"data": {"viewer": viewer, "content": content, "organization": {
            "name": head["org_name"], "contents": {"edges": edges}}}})

    async def typename_everywhere(self, query: str, variables: dict[str, Any], hashed: str | None,
                                  hint: str | None) -> Response:
        found = await self.page(query, variables, hashed, hint, 50)
        if isinstance(found, Response):
            body = orjson.loads(found.body)
            return json_response({"data": {"__typename": "Query", **body["data"]},
                                  **({"errors": body["errors"]} if "errors" in body else {})})
        rows, first = found
        head, edges, cursors = rows[0], [], []
        staff = head["staff"]
        for r in rows[:first]:
            if r["id"] is None:
                break
            cursor = encode_cursor(r["created_at"], r["id"])
            cursors.append(cursor)
            creator = _creator(r)
            edges.append({"__typename": "ContentEdge", "cursor": cursor, "node": {
                "__typename": "Content", "id": to_global_id("Content", r["id"]), "title": r["title"],
                "kind": r["kind"], "priceCents": r["price_cents"], "currency": r["currency"],
                "thumbnailUrl": await self.signed(r["thumb"]), "viewerHasAccess": _may_play(r, staff),
                "creator": {"__typename": "User", **creator} if creator is not None else None}})
        return json_response({"data": {"__typename": "Query", "organization": {
            "__typename": "Organization", "id": to_global_id("Organization", head["org_id"]), "name": head["org_name"],
            "contents": {"__typename": "ContentConnection", "edges": edges,
                         "pageInfo": {"__typename": "PageInfo", **self.page_info(rows, first, cursors)}}}}})
