"""Compiled root fields: ``organization(slug) { …, contents(first, after) }``, ``viewer { …, purchases }``
and ``__typename``. Each runs one SQL statement (plus one count when ``totalCount`` is selected).

Statements take ``$1`` = the viewer's user id (NULL when anonymous) so shapes can test entitlements;
they run as the application role with the viewer's tenant settings, so RLS applies as for resolvers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLError

from codex_graphql.authz import Permission
from codex_graphql.commerce.routes import receipt_link_for
from codex_graphql.fastpath.analytics_plan import AnalyticsPlan
from codex_graphql.fastpath.selection import (
    ArgGetter,
    Fragments,
    NotCompilable,
    arguments,
    fields_of,
    leaf,
    response_key,
)
from codex_graphql.fastpath.shapes import (
    Runtime,
    Shape,
    constant,
    content_shape,
    global_id,
    iso,
    organization_fields,
    page_info,
    plain,
)
from codex_graphql.pagination import decode_cursor, encode_cursor
from codex_graphql.relay import check_first


@dataclass
class Connection:
    """A compiled ``XConnection`` selection over a node shape (edges, nodes, pageInfo, totalCount)."""

    type_name: str
    node: Shape
    parts: list[tuple[str, str, Any]]  # (response key, kind, detail)
    counts: bool

    def build(self, rows: list[Any], first: int, after: bool, rt: Runtime, cursor_of: Callable[[Any], str],
              total: int | None) -> dict[str, Any]:
        rows = rows[: first + 1]
        has_next = len(rows) > first
        rows = rows[:first]
        cursors = [cursor_of(row) for row in rows]
        nodes = [self.node.build(row, rt) for row in rows]
        out: dict[str, Any] = {}
        for key, kind, detail in self.parts:
            if kind == "edges":
                out[key] = [detail(cursor, node) for cursor, node in zip(cursors, nodes, strict=True)]
            elif kind == "nodes":
                out[key] = nodes
            elif kind == "pageInfo":
                out[key] = detail(cursors, has_next, after)
            elif kind == "totalCount":
                out[key] = total
            else:
                out[key] = self.type_name
        return out


def compile_connection(field_node: FieldNode, fragments: Fragments, type_name: str,
                       node_shape: Callable[[FieldNode], Shape]) -> Connection:
    node: Shape | None = None
    parts: list[tuple[str, str, Any]] = []
    counts = False
    for child in fields_of(field_node.selection_set, f"{type_name}Connection", fragments):
        key, name = response_key(child), child.name.value
        if name in ("edges", "nodes"):
            if node is not None:
                raise NotCompilable("nodes selected twice")
            if name == "nodes":
                node = node_shape(child)
                parts.append((key, "nodes", None))
            else:
                node, edge = _edge(child, fragments, type_name, node_shape)
                parts.append((key, "edges", edge))
        elif name == "pageInfo":
            parts.append((key, "pageInfo", page_info(child, fragments)))
        elif name == "totalCount":
            leaf(child)
            counts = True
            parts.append((key, "totalCount", None))
        elif name == "__typename":
            leaf(child)
            parts.append((key, "typename", None))
        else:
            raise NotCompilable(f"{type_name}Connection.{name}")
    if node is None:
        node = Shape("x_")  # no node fields: the page is still read for cursors and pageInfo
    return Connection(f"{type_name}Connection", node, parts, counts)


def _edge(field_node: FieldNode, fragments: Fragments, type_name: str,
          node_shape: Callable[[FieldNode], Shape]) -> tuple[Shape, Callable[[str, Any], dict[str, Any]]]:
    node: Shape | None = None
    parts: list[tuple[str, str]] = []
    for child in fields_of(field_node.selection_set, f"{type_name}Edge", fragments):
        key, name = response_key(child), child.name.value
        if name == "node":
            node = node_shape(child)
            parts.append((key, "node"))
        elif name in ("cursor", "__typename"):
            leaf(child)
            parts.append((key, name))
        else:
            raise NotCompilable(f"{type_name}Edge.{name}")
    typename = f"{type_name}Edge"

    def build(cursor: str, built: Any) -> dict[str, Any]:
        return {key: built if kind == "node" else cursor if kind == "cursor" else typename for key, kind in parts}
    return node or Shape("x_"), build


def _select(columns: dict[str, str]) -> str:
    return ", ".join(f"{expression} AS {alias}" for alias, expression in columns.items())


def _page_args(getters: dict[str, ArgGetter], variables: dict[str, Any]) -> tuple[int, tuple[Any, uuid.UUID] | None]:
    try:
        first = check_first(getters["first"](variables) if "first" in getters else None)
        after = getters["after"](variables) if "after" in getters else None
        return first, decode_cursor(after) if after else None
    except GraphQLError as error:  # normal execution reports it, with its path
        raise NotCompilable("invalid paging arguments") from error


class OrganizationRoot:
    """``organization(slug:)``: public scalars and at most one ``contents`` connection, in one statement."""

    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        self.key = response_key(field_node)
        self.slug = arguments(field_node, {"slug"})["slug"]
        org = Shape("o_")
        self.contents: Connection | None = None
        self.contents_args: dict[str, ArgGetter] = {}
        self.analytics: AnalyticsPlan | None = None
        self.parts: list[tuple[str, Any]] = []  # (key, emitter), or the name of a compiled child
        for child in fields_of(field_node.selection_set, "Organization", fragments):
            if organization_fields(org, child):
                self.parts.append(org.emitters[-1])
            elif child.name.value == "contents" and self.contents is None:
                self.contents_args = arguments(child, {"first", "after", "filter"})
                self.contents = compile_connection(
                    child, fragments, "Content", lambda node: content_shape(node, fragments, "c_", nullable=False))
                self.parts.append((response_key(child), "contents"))
            elif child.name.value == "analytics" and self.analytics is None:
                self.analytics = AnalyticsPlan(child, fragments, lambda node: purchase_shape(node, fragments))
                self.parts.append((response_key(child), "analytics"))
            else:
                raise NotCompilable(f"Organization.{child.name.value}")
        org.column("id")
        org.column("timezone")
        columns = _select(org.columns)
        if self.contents is None:
            self.sql = f"SELECT {columns} FROM organization o WHERE o.slug = $1"
            return
        node = self.contents.node
        inner = _select({**node.columns, "k_created": "c.created_at", "k_id": "c.id"})
        base = (
            f"SELECT {columns}, p.* FROM organization o LEFT JOIN LATERAL ("
            f"SELECT {inner} FROM content c {' '.join(node.joins)} "
            "WHERE c.organization_id = o.id AND c.deleted_at IS NULL "
            "AND CASE WHEN o.id = $3 THEN true ELSE c.status = 'PUBLISHED' AND c.listed END {after} "
            "ORDER BY c.created_at DESC, c.id DESC LIMIT $4) p ON true "
            "WHERE o.slug = $2 ORDER BY p.k_created DESC, p.k_id DESC"
        )
        self.sql = base.format(after="")
        self.sql_after = base.format(after="AND (c.created_at, c.id) < ($5, $6)")
        self.count_sql = (
            "SELECT count(*) FROM content c WHERE c.organization_id = $1 AND c.deleted_at IS NULL "
            "AND CASE WHEN c.organization_id = $2 THEN true ELSE c.status = 'PUBLISHED' AND c.listed END"
        )

    def keys_to_sign(self, fetched: Any) -> list[str]:
        page = [row for row in fetched[0] if self.contents is not None and row["k_id"] is not None]
        return [*(self.contents.node.keys_to_sign(page) if self.contents else []),
                *(self.analytics.keys_to_sign(fetched[4]) if self.analytics else [])]

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        slug = self.slug(variables)
        if not isinstance(slug, str):
            raise NotCompilable("slug")
        if self.contents is None:
            return slug.strip().lower(), 0, None, variables
        if self.contents_args.get("filter", _none)(variables) is not None:
            raise NotCompilable("content filters run through the resolvers")
        return (slug.strip().lower(), *_page_args(self.contents_args, variables), variables)

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        fetched = await self._fetch_page(conn, viewer, bound)
        rows = fetched[0]
        dashboard = None
        if self.analytics is not None and rows:
            dashboard = await self.analytics.fetch(conn, viewer, rows[0]["o_id"], rows[0]["o_timezone"], bound[3])
        return (*fetched, dashboard)

    async def _fetch_page(self, conn: Any, viewer: Any, bound: Any) -> Any:
        slug, first, after, _ = bound
        if self.contents is None:
            return await conn.fetch(self.sql, slug), 0, False, None
        active = viewer.active_organization_id
        staff_org = active if viewer.can(Permission.CONTENT_READ, active) else None
        if after is None:
            rows = await conn.fetch(self.sql, viewer.user_id, slug, staff_org, first + 1)
        else:
            rows = await conn.fetch(self.sql_after, viewer.user_id, slug, staff_org, first + 1, *after)
        total = None
        if rows and self.contents.counts:
            total = await conn.fetchval(self.count_sql, rows[0]["o_id"], staff_org)
        return rows, first, after is not None, total

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        rows, first, after, total, dashboard = fetched
        if not rows:
            return None
        head = rows[0]
        out: dict[str, Any] = {}
        for key, emit in self.parts:
            if emit == "contents":
                assert self.contents is not None
                page = [row for row in rows if row["k_id"] is not None]
                out[key] = self.contents.build(page, first, after, rt, _cursor, total)
            elif emit == "analytics":
                assert self.analytics is not None
                out[key] = self.analytics.build(dashboard, rt)
            else:
                out[key] = emit(head, rt)
        return out


VIEWER_SCALARS: dict[str, Callable[[str], Any]] = {
    "email": plain, "name": plain, "platformRole": plain, "createdAt": iso,
}
VIEWER_COLUMNS = {"email": "email", "name": "name", "platformRole": "platform_role", "createdAt": "created_at"}
PURCHASE_SCALARS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "kind": ("kind", plain), "status": ("status", plain), "amountCents": ("amount_cents", plain),
    "taxCents": ("tax_cents", plain), "currency": ("currency", plain), "contentTitle": ("content_title", plain),
    "createdAt": ("created_at", iso), "refundedAt": ("refunded_at", iso),
    "refundedAmountCents": ("refunded_amount_cents", plain),
}


def purchase_shape(field_node: FieldNode, fragments: Fragments) -> Shape:
    """A purchase of the viewer's own history (restricted staff fields are left to the resolvers)."""
    shape = Shape("p_")
    for child in fields_of(field_node.selection_set, "Purchase", fragments):
        key, name = response_key(child), child.name.value
        if name == "content":
            content = content_shape(child, fragments, "c_", nullable=True)
            shape.joins.append("LEFT JOIN content c ON c.id = p.content_id")
            shape.absorb(content)
            shape.emitters.append((key, content.build))
            continue
        if name == "organization":
            organization = Shape("po_")
            organization.presence = organization.column("id")
            for part in fields_of(child.selection_set, "Organization", fragments):
                if not organization_fields(organization, part):
                    raise NotCompilable(f"Organization.{part.name.value}")
            shape.joins.append("LEFT JOIN organization po ON po.id = p.organization_id")
            shape.absorb(organization)
            shape.emitters.append((key, organization.build))
            continue
        leaf(child)
        if name == "__typename":
            shape.emitters.append((key, constant("Purchase")))
        elif name == "id":
            shape.emitters.append((key, global_id("Purchase", shape.column("id"))))
        elif name in PURCHASE_SCALARS:
            column, convert = PURCHASE_SCALARS[name]
            shape.emitters.append((key, convert(shape.column(column))))
        elif name == "receiptUrl":
            shape.emitters.append((key, _receipt_url(shape)))
        else:
            raise NotCompilable(f"Purchase.{name}")
    return shape


def _receipt_url(shape: Shape) -> Any:
    stored, purchase, organization = shape.column("receipt_url"), shape.column("id"), shape.column("organization_id")

    def emit(row: Any, rt: Runtime) -> str:
        return row[stored] or receipt_link_for(rt.settings, row[purchase], row[organization])
    return emit


class ViewerRoot:
    """``viewer``: the account's scalars and at most one ``purchases`` connection, in one statement."""

    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        self.key = response_key(field_node)
        arguments(field_node, set())
        viewer = Shape("v_")
        self.purchases: Connection | None = None
        self.purchases_args: dict[str, ArgGetter] = {}
        self.parts: list[tuple[str, Any]] = []
        for child in fields_of(field_node.selection_set, "Viewer", fragments):
            key, name = response_key(child), child.name.value
            if name == "purchases" and self.purchases is None:
                self.purchases_args = arguments(child, {"first", "after"})
                self.purchases = compile_connection(child, fragments, "Purchase",
                                                    lambda node: purchase_shape(node, fragments))
                self.parts.append((key, None))
                continue
            leaf(child)
            if name == "__typename":
                self.parts.append((key, constant("Viewer")))
            elif name == "id":
                self.parts.append((key, global_id("User", viewer.column("id"))))
            elif name in VIEWER_SCALARS:
                self.parts.append((key, VIEWER_SCALARS[name](viewer.column(VIEWER_COLUMNS[name]))))
            elif name == "emailVerified":
                self.parts.append((key, plain(viewer.column("email_verified", "v.email_verified_at IS NOT NULL"))))
            else:
                raise NotCompilable(f"Viewer.{name}")
        viewer.column("id")
        columns = _select(viewer.columns)
        if self.purchases is None:
            self.sql = f"SELECT {columns} FROM user_account v WHERE v.id = $1"
            return
        node = self.purchases.node
        node.column("id")
        node.column("organization_id")
        inner = _select({**node.columns, "k_created": "p.created_at", "k_id": "p.id"})
        base = (
            f"SELECT {columns}, x.* FROM user_account v LEFT JOIN LATERAL ("
            f"SELECT {inner} FROM purchase p {' '.join(node.joins)} WHERE p.user_id = v.id {{after}} "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT $2) x ON true "
            "WHERE v.id = $1 ORDER BY x.k_created DESC, x.k_id DESC"
        )
        self.sql = base.format(after="")
        self.sql_after = base.format(after="AND (p.created_at, p.id) < ($3, $4)")
        self.count_sql = "SELECT count(*) FROM purchase p WHERE p.user_id = $1"

    def keys_to_sign(self, fetched: Any) -> list[str]:
        return self.purchases.node.keys_to_sign(self.rows(fetched)) if self.purchases else []

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        return _page_args(self.purchases_args, variables) if self.purchases is not None else (0, None)

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        first, after = bound
        if viewer.user_id is None:
            return [], 0, False, None
        if self.purchases is None:
            return await conn.fetch(self.sql, viewer.user_id), 0, False, None
        if after is None:
            rows = await conn.fetch(self.sql, viewer.user_id, first + 1)
        else:
            rows = await conn.fetch(self.sql_after, viewer.user_id, first + 1, *after)
        total = await conn.fetchval(self.count_sql, viewer.user_id) if rows and self.purchases.counts else None
        return rows, first, after is not None, total

    def rows(self, fetched: Any) -> list[Any]:
        return [row for row in fetched[0] if self.purchases is not None and row["k_id"] is not None]

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        rows, first, after, total = fetched
        if not rows:
            return None
        head = rows[0]
        out: dict[str, Any] = {}
        for key, emit in self.parts:
            if emit is not None:
                out[key] = emit(head, rt)
            else:
                assert self.purchases is not None
                out[key] = self.purchases.build(self.rows(fetched), first, after, rt, _cursor, total)
        return out


class TypenameRoot:
    def __init__(self, field_node: FieldNode) -> None:
        leaf(field_node)
        self.key = response_key(field_node)

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        return None

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        return None

    def keys_to_sign(self, fetched: Any) -> list[str]:
        return []

    def build(self, fetched: Any, rt: Runtime) -> str:
        return "Query"


def _none(variables: dict[str, Any]) -> None:
    return None


def _cursor(row: Any) -> str:
    return encode_cursor(row["k_created"], row["k_id"])
