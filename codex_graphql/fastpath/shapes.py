"""Compiled object shapes: which columns a selection needs and how one row becomes its JSON object.

Each shape reads columns under its own alias prefix, so a content item can sit inside a purchase row.
Values are converted exactly as the strawberry types serialize them (global ids, ISO date-times, enum
names), which ``tests/test_fastpath_equivalence.py`` checks against normal execution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql import FieldNode

from codex_graphql.content.access import entitled_sql, may_play
from codex_graphql.fastpath.selection import Fragments, NotCompilable, fields_of, leaf, response_key
from codex_graphql.relay import to_global_id

Emit = Callable[[Any, "Runtime"], Any]


class Runtime:
    """What shaping needs besides the row: the viewer, signed URLs prepared for this response, settings."""

    __slots__ = ("settings", "urls", "viewer")

    def __init__(self, viewer: Any, settings: Any, urls: dict[str, Any]) -> None:  # key -> SignedRequest
        self.viewer = viewer
        self.settings = settings
        self.urls = urls


@dataclass
class Shape:
    """Columns (alias -> SQL expression), joins, and the emitters of one object's response keys."""

    prefix: str
    columns: dict[str, str] = field(default_factory=dict)
    joins: list[str] = field(default_factory=list)
    emitters: list[tuple[str, Emit]] = field(default_factory=list)
    signed_keys: list[Callable[[Any], list[str]]] = field(default_factory=list)  # storage keys to sign per row
    presence: str | None = None  # a column that is NULL when the (left-joined) object is absent
    plays_recorded: bool = False  # `playback` was selected: the statement records the view

    def column(self, name: str, expression: str | None = None) -> str:
        alias = f"{self.prefix}{name}"
        self.columns[alias] = expression or f"{self.prefix.rstrip('_')}.{name}"
        return alias

    def build(self, row: Any, rt: Runtime) -> dict[str, Any] | None:
        if self.presence is not None and row[self.presence] is None:
            return None
        return {key: emit(row, rt) for key, emit in self.emitters}

    def keys_to_sign(self, rows: list[Any]) -> list[str]:
        return [key for row in rows for keys_of in self.signed_keys for key in keys_of(row)]

    def absorb(self, child: Shape) -> None:
        self.columns.update(child.columns)
        self.joins.extend(child.joins)
        self.signed_keys.extend(child.signed_keys)


def constant(value: Any) -> Emit:
    return lambda row, rt: value


def plain(alias: str) -> Emit:
    return lambda row, rt: row[alias]


def iso(alias: str) -> Emit:
    def emit(row: Any, rt: Runtime) -> str | None:
        value: datetime | None = row[alias]
        return value.isoformat() if value is not None else None
    return emit


def global_id(type_name: str, alias: str) -> Emit:
    return lambda row, rt: to_global_id(type_name, row[alias])


CONTENT_SCALARS: dict[str, tuple[str, Callable[[str], Emit]]] = {
    "kind": ("kind", plain), "status": ("status", plain), "title": ("title", plain),
    "description": ("description", plain), "priceCents": ("price_cents", plain), "currency": ("currency", plain),
    "tags": ("tags", plain), "durationSeconds": ("duration_seconds", plain), "createdAt": ("created_at", iso),
    "updatedAt": ("updated_at", iso), "publishedAt": ("published_at", iso), "listed": ("listed", plain),
    "allowDownloads": ("allow_downloads", plain), "reviewsEnabled": ("reviews_enabled", plain),
}


def content_shape(field_node: FieldNode, fragments: Fragments, prefix: str, *, nullable: bool,
                  detail: bool = False) -> Shape:
    """``prefix`` is the SQL alias of the content table plus ``_`` (e.g. ``c_`` for ``content c``).
    ``detail`` (a single item by id) also compiles ``thumbnails``, ``playbackPosition`` and ``playback``."""
    shape = Shape(prefix)
    table = prefix.rstrip("_")
    if nullable:
        shape.presence = shape.column("id")
    for child in fields_of(field_node.selection_set, "Content", fragments):
        key, name = response_key(child), child.name.value
        if name == "creator":
            creator = user_shape(child, fragments, f"{table}u_", f"{table}.creator_id")
            shape.absorb(creator)
            shape.emitters.append((key, creator.build))
            continue
        if detail and name in ("thumbnails", "playback"):
            shape.emitters.append((key, DETAIL_FIELDS[name](shape, table, child, fragments)))
            continue
        leaf(child)
        if name == "__typename":
            shape.emitters.append((key, constant("Content")))
        elif name == "id":
            shape.emitters.append((key, global_id("Content", shape.column("id"))))
        elif name in CONTENT_SCALARS:
            column, convert = CONTENT_SCALARS[name]
            shape.emitters.append((key, convert(shape.column(column))))
        elif name == "thumbnailUrl":
            shape.emitters.append((key, _thumbnail_url(shape.column("thumbnails"))))
            shape.signed_keys.append(_smallest_thumbnail_key(f"{prefix}thumbnails"))
        elif name == "viewerHasAccess":
            shape.emitters.append((key, _plays(shape, table)))
        elif detail and name in DETAIL_FIELDS:
            shape.emitters.append((key, DETAIL_FIELDS[name](shape, table, child, fragments)))
        else:
            raise NotCompilable(f"Content.{name}")
    return shape


def _smallest_thumbnail_key(alias: str) -> Callable[[Any], list[str]]:
    def key(row: Any) -> list[str]:
        thumbnails = row[alias]
        return [min(thumbnails, key=lambda t: t["width"])["key"]] if thumbnails else []
    return key


def _thumbnail_url(alias: str) -> Emit:
    smallest = _smallest_thumbnail_key(alias)

    def emit(row: Any, rt: Runtime) -> str | None:
        keys = smallest(row)
        return rt.urls[keys[0]].url if keys else None
    return emit


def _plays(shape: Shape, table: str) -> Callable[[Any, Runtime], bool]:
    """content.access.may_play on the row; the entitlement comes from the same statement."""
    status, deleted, organization = shape.column("status"), shape.column("deleted_at"), shape.column("organization_id")
    # $1 is always the viewer's user id (NULL when anonymous); RLS scopes entitlements to the viewer too.
    entitled = shape.column("entitled", entitled_sql(table, "$1"))

    def plays(row: Any, rt: Runtime) -> bool:
        return may_play(rt.viewer, row[status], row[deleted] is not None, row[organization], row[entitled])
    return plays


class NeedsResolvers(Exception):
    """Raised while shaping when the answer is an error the resolvers phrase (e.g. playback refused)."""


def _thumbnails(shape: Shape, table: str, field_node: FieldNode, fragments: Fragments) -> Emit:
    alias = shape.column("thumbnails")
    parts: list[tuple[str, str]] = []
    for child in fields_of(field_node.selection_set, "Thumbnail", fragments):
        leaf(child)
        if child.name.value not in ("url", "width", "height", "__typename"):
            raise NotCompilable(f"Thumbnail.{child.name.value}")
        parts.append((response_key(child), child.name.value))
    shape.signed_keys.append(lambda row: [t["key"] for t in row[alias] or ()])

    def emit(row: Any, rt: Runtime) -> list[dict[str, Any]]:
        return [
            {key: rt.urls[t["key"]].url if name == "url" else "Thumbnail" if name == "__typename" else t[name]
             for key, name in parts}
            for t in sorted(row[alias] or (), key=lambda t: t["width"])
        ]
    return emit


def _playback_position(shape: Shape, table: str, field_node: FieldNode, fragments: Fragments) -> Emit:
    leaf(field_node)
    plays = _plays(shape, table)
    position = shape.column("position", (
        f"(SELECT pp.position_seconds FROM playback_position pp WHERE pp.content_id = {table}.id "
        "AND pp.user_id = $1)"))

    def emit(row: Any, rt: Runtime) -> float | None:
        if rt.viewer.user_id is None or not plays(row, rt):
            return None
        return row[position]
    return emit


def _playback(shape: Shape, table: str, field_node: FieldNode, fragments: Fragments) -> Emit:
    """The signed URL; the view it counts is recorded by the same statement (see ContentRoot)."""
    plays = _plays(shape, table)
    storage_key = shape.column("storage_key")
    parts: list[tuple[str, str]] = []
    for child in fields_of(field_node.selection_set, "Playback", fragments):
        leaf(child)
        if child.name.value not in ("url", "expiresAt", "__typename"):
            raise NotCompilable(f"Playback.{child.name.value}")
        parts.append((response_key(child), child.name.value))
    shape.signed_keys.append(lambda row: [row[storage_key]] if row[storage_key] else [])
    shape.plays_recorded = True

    def emit(row: Any, rt: Runtime) -> dict[str, Any]:
        if not plays(row, rt):
            raise NeedsResolvers("playback refused: the resolvers phrase the error")
        signed = rt.urls[row[storage_key]]
        return {key: signed.url if name == "url" else signed.expires_at.isoformat() if name == "expiresAt"
                else "Playback" for key, name in parts}
    return emit


DETAIL_FIELDS: dict[str, Callable[[Shape, str, FieldNode, Fragments], Emit]] = {
    "thumbnails": _thumbnails, "playbackPosition": _playback_position, "playback": _playback,
}


def user_shape(field_node: FieldNode, fragments: Fragments, prefix: str, foreign_key: str) -> Shape:
    shape = Shape(prefix)
    table = prefix.rstrip("_")
    shape.joins.append(f"LEFT JOIN user_account {table} ON {table}.id = {foreign_key}")
    shape.presence = shape.column("id")
    for child in fields_of(field_node.selection_set, "User", fragments):
        leaf(child)
        key, name = response_key(child), child.name.value
        if name == "__typename":
            shape.emitters.append((key, constant("User")))
        elif name == "id":
            shape.emitters.append((key, global_id("User", shape.column("id"))))
        elif name == "name":
            shape.emitters.append((key, plain(shape.column("name"))))
        elif name == "createdAt":
            shape.emitters.append((key, iso(shape.column("created_at"))))
        else:
            raise NotCompilable(f"User.{name}")
    return shape


ORGANIZATION_SCALARS = {"slug": ("slug", plain), "name": ("name", plain), "createdAt": ("created_at", iso)}


def organization_fields(shape: Shape, child: FieldNode) -> bool:
    """Emit a public scalar of Organization; False when ``child`` is something else."""
    key, name = response_key(child), child.name.value
    if name == "__typename":
        leaf(child)
        shape.emitters.append((key, constant("Organization")))
    elif name == "id":
        leaf(child)
        shape.emitters.append((key, global_id("Organization", shape.column("id"))))
    elif name in ORGANIZATION_SCALARS:
        leaf(child)
        column, convert = ORGANIZATION_SCALARS[name]
        shape.emitters.append((key, convert(shape.column(column))))
    else:
        return False
    return True


def page_info(field_node: FieldNode, fragments: Fragments) -> Callable[[list[str], bool, bool], dict[str, Any]]:
    """PageInfo from the page's cursors: hasNextPage, hasPreviousPage (an `after` was given), start/end cursor."""
    parts: list[tuple[str, Callable[[list[str], bool, bool], Any]]] = []
    for child in fields_of(field_node.selection_set, "PageInfo", fragments):
        leaf(child)
        name = child.name.value
        getter: Callable[[list[str], bool, bool], Any]
        if name == "hasNextPage":
            getter = lambda cursors, has_next, has_previous: has_next  # noqa: E731
        elif name == "hasPreviousPage":
            getter = lambda cursors, has_next, has_previous: has_previous  # noqa: E731
        elif name == "startCursor":
            getter = lambda cursors, has_next, has_previous: cursors[0] if cursors else None  # noqa: E731
        elif name == "endCursor":
            getter = lambda cursors, has_next, has_previous: cursors[-1] if cursors else None  # noqa: E731
        elif name == "__typename":
            getter = lambda cursors, has_next, has_previous: "PageInfo"  # noqa: E731
        else:
            raise NotCompilable(f"PageInfo.{name}")
        parts.append((response_key(child), getter))

    def build(cursors: list[str], has_next: bool, has_previous: bool) -> dict[str, Any]:
        return {key: getter(cursors, has_next, has_previous) for key, getter in parts}
    return build
