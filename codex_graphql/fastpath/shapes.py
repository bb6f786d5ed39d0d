"""Compiled object shapes: which columns a selection needs and how one row becomes its JSON object.

Each shape reads columns under its own alias prefix, so an object can sit inside another's row (an
item inside a purchase row). Values are converted exactly as the strawberry types serialize them
(global ids, ISO date-times, enum names), which ``tests/fastpath/test_fastpath_equivalence.py`` checks against
normal execution. Nothing here knows a domain: the domains declare their fields (``fastpath.registry``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql import FieldNode

from codex_graphql.fastpath.selection import Fragments, NotCompilable, fields_of, leaf, response_key
from codex_graphql.relay import global_ids

Emit = Callable[[Any, "Runtime"], Any]
# What a field asks to have signed: a storage key, or (key, content type) for media served with its type.
SignKey = str | tuple[str, str | None]


class Runtime:
    """What shaping needs besides the row: the viewer, signed URLs prepared for this response, settings,
    and ``memo``: facts an emitter computes once per response rather than per row (e.g. the viewer's
    standing in an organization), under keys of the emitter's own."""

    __slots__ = ("memo", "settings", "urls", "viewer")

    def __init__(self, viewer: Any, settings: Any, urls: dict[str, Any]) -> None:  # key -> SignedRequest
        self.viewer = viewer
        self.settings = settings
        self.urls = urls
        self.memo: dict[Any, Any] = {}


class NeedsResolvers(Exception):
    """Raised while shaping when the answer is an error the resolvers phrase (e.g. a refused guard)."""


@dataclass
class Shape:
    """Columns (alias -> SQL expression), joins, and the emitters of one object's response keys."""

    prefix: str
    columns: dict[str, str] = field(default_factory=dict)
    joins: list[str] = field(default_factory=list)
    emitters: list[tuple[str, Emit]] = field(default_factory=list)
    signed_keys: list[Callable[[Any], list[SignKey]]] = field(default_factory=list)  # storage keys to sign per row
    presence: str | None = None  # a column that is NULL when the (left-joined) object is absent
    flags: set[str] = field(default_factory=set)  # what the statement must do besides reading (e.g. record a view)
    deferred: list[Any] = field(default_factory=list)  # root-level fields its root fetches (registry.Deferred)
    # A root's own object: its columns repeat on every row of a connection read beside it (fastpath.tables).
    head: bool = False
    # ``build`` as one generated function (``_builder``), made on first use for the emitters then declared.
    _builder: Callable[[Any, Runtime], dict[str, Any] | None] | None = field(
        default=None, init=False, repr=False, compare=False)
    _built_for: int = field(default=-1, init=False, repr=False, compare=False)

    @property
    def table(self) -> str:
        """The SQL alias of the shape's table (its prefix without the trailing ``_``)."""
        return self.prefix.rstrip("_")

    def column(self, name: str, expression: str | None = None) -> str:
        alias = f"{self.prefix}{name}"
        self.columns[alias] = expression or f"{self.table}.{name}"
        return alias

    def build(self, row: Any, rt: Runtime) -> dict[str, Any] | None:
        builder = self._builder
        if builder is None or self._built_for != len(self.emitters):
            builder = self.builder()
        return builder(row, rt)

    def builder(self) -> Callable[[Any, Runtime], dict[str, Any] | None]:
        """``build`` as one generated function, for the emitters declared now."""
        if self._builder is None or self._built_for != len(self.emitters):
            self._builder = _builder(self.presence, self.emitters)
            self._built_for = len(self.emitters)
        return self._builder

    def keys_to_sign(self, rows: list[Any]) -> list[SignKey]:
        keys: list[SignKey] = []
        for keys_of in self.signed_keys:
            column = getattr(keys_of, "column", None)
            if isinstance(column, str):  # signed_column: read in place
                keys.extend([key for row in rows if (key := row[column]) is not None])
            else:
                keys.extend([key for row in rows for key in keys_of(row)])
        return keys

    def absorb(self, child: Shape) -> None:
        self.columns.update(child.columns)
        self.joins.extend(child.joins)
        self.signed_keys.extend(child.signed_keys)
        self.flags.update(child.flags)


def _builder(presence: str | None, emitters: list[tuple[str, Emit]]) -> Callable[[Any, Runtime], dict[str, Any] | None]:
    """``Shape.build`` as one function with a dict display: a column read straight from the row (``plain``
    emitters, most of a shape's fields) costs no call, the other emitters one call each, in the same order
    (a storefront page builds a hundred objects per request)."""
    scope: dict[str, Any] = {}
    items: list[str] = []
    for i, (key, emit) in enumerate(emitters):
        column = getattr(emit, "column", None)
        if isinstance(column, str):
            items.append(f"{key!r}: row[{column!r}]")
            continue
        if hasattr(emit, "global_id"):
            type_name, alias = emit.global_id
            memo = global_ids(type_name)  # a hit costs one dict lookup (relay.GlobalIds)
            scope[f"m{i}"], scope[f"g{i}"] = memo.ids.get, memo
            items.append(f"{key!r}: m{i}(row[{alias!r}]) or g{i}(row[{alias!r}])")
            continue
        if hasattr(emit, "constant"):
            scope[f"c{i}"] = emit.constant
            items.append(f"{key!r}: c{i}")
            continue
        nested = getattr(emit, "__self__", None)
        if isinstance(nested, Shape) and getattr(emit, "__func__", None) is Shape.build:
            emit = nested.builder()  # an object inside this one's row (a creator): its own function, called directly
        scope[f"e{i}"] = emit
        items.append(f"{key!r}: e{i}(row, rt)")
    guard = f"    if row[{presence!r}] is None:\n        return None\n" if presence is not None else ""
    source = f"def build(row, rt):\n{guard}    return {{{', '.join(items)}}}\n"
    exec(source, scope)  # noqa: S102 (only reprs of the compiler's own keys and column aliases)
    built: Callable[[Any, Runtime], dict[str, Any] | None] = scope["build"]
    return built


def constant(value: Any) -> Emit:
    def emit(row: Any, rt: Runtime) -> Any:
        return value
    emit.constant = value  # type: ignore[attr-defined]  # inlined by Shape.build (_builder)
    return emit


def plain(alias: str) -> Emit:
    def emit(row: Any, rt: Runtime) -> Any:
        return row[alias]
    emit.column = alias  # type: ignore[attr-defined]  # read in place by Shape.build (_builder)
    return emit


def signed_column(alias: str) -> Callable[[Any], list[str]]:
    """A ``signed_keys`` entry: the storage key in column ``alias`` (none when NULL)."""
    def keys_of(row: Any) -> list[str]:
        key = row[alias]
        return [key] if key is not None else []
    keys_of.column = alias  # type: ignore[attr-defined]  # read in place by Shape.keys_to_sign
    return keys_of


def iso(alias: str) -> Emit:
    def emit(row: Any, rt: Runtime) -> str | None:
        value: datetime | None = row[alias]
        return value.isoformat() if value is not None else None
    return emit


def global_id(type_name: str, alias: str) -> Emit:
    memo = global_ids(type_name)

    def emit(row: Any, rt: Runtime) -> Any:
        return memo(row[alias])
    emit.global_id = (type_name, alias)  # type: ignore[attr-defined]  # inlined by Shape.build (_builder)
    return emit


def leaf_names(field_node: FieldNode, fragments: Fragments, type_name: str, allowed: set[str]) -> list[tuple[str, str]]:
    """(response key, field name) of a selection of leaves on ``type_name``, all of them in ``allowed``."""
    parts: list[tuple[str, str]] = []
    for child in fields_of(field_node.selection_set, type_name, fragments):
        leaf(child)
        if child.name.value not in allowed:
            raise NotCompilable(f"{type_name}.{child.name.value}")
        parts.append((response_key(child), child.name.value))
    return parts


PageInfoGetter = Callable[[str | None, str | None, bool, bool], Any]
PAGE_INFO: dict[str, PageInfoGetter] = {
    "hasNextPage": lambda start, end, has_next, has_previous: has_next,
    "hasPreviousPage": lambda start, end, has_next, has_previous: has_previous,  # an `after` was given
    "startCursor": lambda start, end, has_next, has_previous: start,  # the first item's cursor (None: empty)
    "endCursor": lambda start, end, has_next, has_previous: end,
    "__typename": lambda start, end, has_next, has_previous: "PageInfo",
}


def page_info(field_node: FieldNode, fragments: Fragments) -> Callable[[str | None, str | None, bool, bool], dict[str, Any]]:
    """PageInfo from the page's first and last cursors (None when empty): hasNextPage, hasPreviousPage,
    start/end cursor."""
    parts = [(key, PAGE_INFO[name]) for key, name in leaf_names(field_node, fragments, "PageInfo", set(PAGE_INFO))]

    def build(start: str | None, end: str | None, has_next: bool, has_previous: bool) -> dict[str, Any]:
        return {key: getter(start, end, has_next, has_previous) for key, getter in parts}
    return build
