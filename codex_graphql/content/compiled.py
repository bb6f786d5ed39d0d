"""Content in the compiled read path: the ``Content`` type's compilable fields and the ``content(id:)`` root.

Who may see and play an item comes only from ``content.access`` (``entitled_sql`` read in the same
statement, then ``reads`` / ``plays`` on the row, the rule's per-row form over the viewer's standing taken
once per response). ``thumbnails``, ``playbackPosition`` and
``playback`` compile on the item page (``content(id:)``, option ``detail``). When ``playback`` is
selected the root's statement records the view (at most one per viewer, item and hour, like
``analytics.stats.record_view``) through a writable CTE, under ``plays_sql``, the condition ``may_play``
checks; a refused playback is answered by the resolvers, which phrase the error (nothing was recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode

from codex_graphql.analytics.stats import hour_bucket
from codex_graphql.content import access
from codex_graphql.db import utcnow
from codex_graphql.fastpath.nodes import declare_node
from codex_graphql.fastpath.registry import Composite, Scalar, compile_object, declare, declare_root
from codex_graphql.fastpath.selection import Fragments, NotCompilable, arguments, leaf, response_key
from codex_graphql.fastpath.shapes import Emit, NeedsResolvers, Runtime, Shape, iso, leaf_names, signed_column
from codex_graphql.relay import decode_id

DETAIL = "detail"  # the option of a single item's page
RECORDS_VIEW = "records_view"  # shape flag: `playback` was selected, the statement records the view


# The storage key of the smallest thumbnail (by width; the first of equals, as ``min`` in ContentType's
# ``thumbnailUrl``), NULL without thumbnails: read in the statement, so shaping neither decodes the list
# nor searches it.
SMALLEST_THUMBNAIL = ("(SELECT t->>'key' FROM jsonb_array_elements({table}.thumbnails) WITH ORDINALITY x(t, n) "
                      "ORDER BY (t->'width')::numeric, n LIMIT 1)")
# The organization's device limit is set (org_settings: ``max_devices_per_customer``, null for none).
DEVICE_LIMITED = ("(SELECT o.settings->>'max_devices_per_customer' IS NOT NULL FROM organization o "
                  "WHERE o.id = {table}.organization_id)")
STAFF_ORGANIZATION = "content.staff_organization"  # Runtime.memo: access.staff_organization(viewer), once


def _thumbnail_url(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    leaf(field_node)
    smallest = shape.column("thumbnail_key", SMALLEST_THUMBNAIL.format(table=shape.table))
    shape.signed_keys.append(signed_column(smallest))

    def emit(row: Any, rt: Runtime) -> str | None:
        key = row[smallest]
        return rt.urls[key].url if key is not None else None
    return emit


def staff_organization(rt: Runtime) -> Any:
    """The viewer's ``access.staff_organization``, computed once per response."""
    memo = rt.memo
    if STAFF_ORGANIZATION not in memo:
        memo[STAFF_ORGANIZATION] = access.staff_organization(rt.viewer)
    return memo[STAFF_ORGANIZATION]


def _plays(shape: Shape) -> Callable[[Any, Runtime], bool]:
    """content.access.may_play on the row (as ``access.plays``); the entitlement comes from the same statement."""
    status, deleted, organization = shape.column("status"), shape.column("deleted_at"), shape.column("organization_id")
    # $1 is always the viewer's user id (NULL when anonymous); RLS scopes entitlements to the viewer too.
    entitled = shape.column("entitled", access.entitled_sql(shape.table, "$1"))
    rule = access.plays

    def plays(row: Any, rt: Runtime) -> bool:
        memo = rt.memo
        staff = memo[STAFF_ORGANIZATION] if STAFF_ORGANIZATION in memo else staff_organization(rt)
        return rule(staff, row[status], row[deleted] is not None, row[organization], row[entitled])
    return plays


def _viewer_has_access(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    leaf(field_node)
    return _plays(shape)


def _creator(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    creator = compile_object("User", field_node, fragments, f"{shape.table}u_", nullable=True)
    creator.joins.insert(0, f"LEFT JOIN user_account {creator.table} ON {creator.table}.id = {shape.table}.creator_id")
    shape.absorb(creator)
    return creator.build


def _thumbnails(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    alias = shape.column("thumbnails")
    parts = leaf_names(field_node, fragments, "Thumbnail", {"url", "width", "height", "__typename"})
    shape.signed_keys.append(lambda row: [t["key"] for t in row[alias] or ()])

    def emit(row: Any, rt: Runtime) -> list[dict[str, Any]]:
        return [
            {key: rt.urls[t["key"]].url if name == "url" else "Thumbnail" if name == "__typename" else t[name]
             for key, name in parts}
            for t in sorted(row[alias] or (), key=lambda t: t["width"])
        ]
    return emit


def _playback_position(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    leaf(field_node)
    plays = _plays(shape)
    position = shape.column("position", (
        f"(SELECT pp.position_seconds FROM playback_position pp WHERE pp.content_id = {shape.table}.id "
        "AND pp.user_id = $1)"))

    def emit(row: Any, rt: Runtime) -> float | None:
        if rt.viewer.user_id is None or not plays(row, rt):
            return None
        return row[position]
    return emit


def device_limited(shape: Shape) -> str:
    """Whether the item's organization limits playback devices: a customer's playback then registers a device,
    which only the resolvers do (``devices.service.register``)."""
    return shape.column("device_limited", DEVICE_LIMITED.format(table=shape.table))


def _playback(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    """The signed URL; the view it counts is recorded by the root's statement (see ContentRoot). A customer
    of an organization that limits devices, or a playback naming its device, is answered by the resolvers (they
    register the device)."""
    if field_node.arguments:
        raise NotCompilable("playback(deviceId:) registers the device")
    plays = _plays(shape)
    storage_key, mime_type = shape.column("storage_key"), shape.column("mime_type")
    limited, organization = device_limited(shape), shape.column("organization_id")
    parts = leaf_names(field_node, fragments, "Playback", {"url", "expiresAt", "__typename"})
    # Signed with the item's type, as content.service.playback_url signs it (the URL serves that type).
    shape.signed_keys.append(lambda row: [(row[storage_key], row[mime_type])] if row[storage_key] else [])
    shape.flags.add(RECORDS_VIEW)

    def emit(row: Any, rt: Runtime) -> dict[str, Any] | None:
        if not row[storage_key]:
            return None  # an article: no media
        if not plays(row, rt):
            raise NeedsResolvers("playback refused: the resolvers phrase the error")
        if row[limited] and staff_organization(rt) != row[organization]:
            raise NeedsResolvers("playback on a registered device: the resolvers register it")
        signed = rt.urls[(row[storage_key], row[mime_type])]
        return {key: signed.url if name == "url" else signed.expires_at.isoformat() if name == "expiresAt"
                else "Playback" for key, name in parts}
    return emit


declare("Content", {
    "kind": Scalar("kind"), "status": Scalar("status"), "title": Scalar("title"),
    "description": Scalar("description"), "priceCents": Scalar("price_cents"), "currency": Scalar("currency"),
    "tags": Scalar("tags"), "durationSeconds": Scalar("duration_seconds"), "createdAt": Scalar("created_at", iso),
    "updatedAt": Scalar("updated_at", iso), "publishedAt": Scalar("published_at", iso), "listed": Scalar("listed"),
    "allowDownloads": Scalar("allow_downloads"), "reviewsEnabled": Scalar("reviews_enabled"),
    "creator": Composite(_creator),
    "thumbnailUrl": Composite(_thumbnail_url),
    "viewerHasAccess": Composite(_viewer_has_access),
    "thumbnails": Composite(_thumbnails),
    "playbackPosition": Composite(_playback_position, requires=DETAIL),
    "playback": Composite(_playback, requires=DETAIL),
}, id_type="Content", organization="organization_id")


class ContentRows:
    """Items read by id in one statement, ``content.access.may_read`` applied to each row: one item (its
    page: option ``detail``, a selected ``playback`` records the view) or, with ``many``, a list of ids."""

    def __init__(self, field_node: FieldNode, fragments: Fragments, *, many: bool = False) -> None:
        options = frozenset() if many else frozenset({DETAIL})
        shape = compile_object("Content", field_node, fragments, "c_", nullable=True, options=options)
        self.shape = shape
        self.id_column = shape.column("id")
        self.status = shape.column("status")
        self.organization = shape.column("organization_id")
        self.deleted = shape.column("deleted_at")
        self.entitled = shape.column("entitled", access.entitled_sql("c", "$1"))
        self.records_view = RECORDS_VIEW in shape.flags
        self.media = shape.column("storage_key")  # empty for an article: playback is null, no view counted
        columns = ", ".join(f"{expression} AS {alias}" for alias, expression in shape.columns.items())
        condition = "c.id = ANY($2::uuid[])" if many else "c.id = $2"
        found = f"SELECT {columns} FROM content c {' '.join(shape.joins)} WHERE {condition}"
        if not self.records_view:
            self.sql = found
            return
        # May the viewer play it: over the row as read, its entitlement evaluated once (``plays_of_columns``).
        plays = access.plays_of_columns(self.status, self.deleted, self.organization, self.entitled, "$3")
        self.sql = (
            f"WITH found AS MATERIALIZED (SELECT {columns} FROM content c "
            f"{' '.join(shape.joins)} WHERE {condition}), "
            "viewed AS (INSERT INTO content_view (content_id, organization_id, user_id, hour, created_at) "
            f"SELECT c_id, c_organization_id, $1, $4, $5 FROM found WHERE ({plays}) AND {self.media} <> '' "
            f"AND $1::uuid IS NOT NULL AND NOT ({device_limited(shape)} AND c_organization_id IS DISTINCT FROM $3) "
            "ON CONFLICT (content_id, user_id, hour) DO NOTHING) "
            "SELECT * FROM found"
        )

    async def fetch(self, conn: Any, viewer: Any, key: Any) -> list[Any]:
        if not self.records_view:
            return list(await conn.fetch(self.sql, viewer.user_id, key))
        now = utcnow()
        return list(await conn.fetch(self.sql, viewer.user_id, key, access.staff_organization(viewer),
                                     hour_bucket(now), now))

    def keys_to_sign(self, rows: list[Any]) -> list[str]:
        return self.shape.keys_to_sign(rows)

    def build_row(self, row: Any, rt: Runtime) -> dict[str, Any] | None:
        visible = access.reads(staff_organization(rt), row[self.status], row[self.deleted] is not None,
                               row[self.organization], row[self.entitled])
        return self.shape.build(row, rt) if visible else None


class ContentRoot:
    """``content(id:)``: the item page in one statement."""

    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        self.key = response_key(field_node)
        self.id = arguments(field_node, {"id"})["id"]
        self.rows = ContentRows(field_node, fragments)

    def keys_to_sign(self, fetched: Any) -> list[str]:
        return self.rows.keys_to_sign(list(fetched))

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        raw = self.id(variables)
        if not isinstance(raw, str):
            raise NotCompilable("id")
        return decode_id(raw, "Content")

    async def fetch(self, conn: Any, viewer: Any, content_id: Any) -> Any:
        if content_id is None:
            return []
        return await self.rows.fetch(conn, viewer, content_id)

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        return self.rows.build_row(fetched[0], rt) if fetched else None


declare_root("content", "Content", ContentRoot)
declare_node("Content", ContentRows)
