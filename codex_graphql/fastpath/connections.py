"""Compiled Relay connections: ``XConnection { edges { cursor node } nodes pageInfo totalCount }`` over a
node shape, paged newest first by (created_at, id) cursors exactly as ``codex_graphql.pagination``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)

from codex_graphql.fastpath.selection import (
    ArgGetter,
    Fragments,
    NotCompilable,
    fields_of,
    leaf,
    response_key,
)
from codex_graphql.fastpath.shapes import Runtime, Shape, page_info
from codex_graphql.pagination import decode_cursor, memo_cursor
from codex_graphql.relay import check_first

Param = Callable[[str], str]  # a named statement parameter -> its placeholder ($n)


@dataclass(frozen=True)
class Filter:
    """A connection argument compiled into the connection's condition (e.g. ``filter: ContentFilter``).

    ``bind(value)``: the argument's value (an input object as a dict of its fields: variables coerced,
    literals as written, absent fields None or missing; None when not given) -> the named statement
    parameters of the conditions it sets; raise NotCompilable for a value the resolvers answer with an
    error, so they phrase it. ``where(param, alias, names)``: the condition on the connection's rows
    (``alias``) over the bound parameters ``names``; it joins the connection's own condition in the same
    statement, so it may use that condition's parameters too. The statement text depends only on which
    parameters are bound (one prepared statement per combination); every value is a parameter."""

    argument: str
    bind: Callable[[Any], dict[str, Any]]
    where: Callable[[Param, str, frozenset[str]], str]


def value_getter(node: ValueNode) -> ArgGetter:
    """An argument's value over the coerced variables, variables inside input objects and lists too (an
    absent variable reads as None, as an absent field does)."""
    if isinstance(node, VariableNode):
        name = node.name.value
        return lambda variables: variables.get(name)
    if isinstance(node, ObjectValueNode):
        fields = [(field.name.value, value_getter(field.value)) for field in node.fields]
        return lambda variables: {name: get(variables) for name, get in fields}
    if isinstance(node, ListValueNode):
        items = [value_getter(item) for item in node.values]
        return lambda variables: [get(variables) for get in items]
    constant = value_from_ast_untyped(node)
    return lambda variables: constant


@dataclass
class Connection:
    """A compiled ``XConnection`` selection over a node shape (edges, nodes, pageInfo, totalCount)."""

    type_name: str
    node: Shape
    parts: list[tuple[str, str, Any]]  # (response key, kind, detail)
    counts: bool

    def build(self, rows: list[Any], first: int, after: bool, rt: Runtime, cursor_of: Callable[[Any], str],
              total: int | None) -> dict[str, Any]:
        has_next = len(rows) > first
        if has_next:
            rows = rows[:first]
        node = self.node.builder()
        out: dict[str, Any] = {}
        for key, kind, detail in self.parts:
            if kind == "edges":
                out[key] = detail(rows, rt, node, cursor_of)
            elif kind == "nodes":
                out[key] = [node(row, rt) for row in rows]
            elif kind == "pageInfo":
                out[key] = detail(cursor_of(rows[0]) if rows else None, cursor_of(rows[-1]) if rows else None,
                                  has_next, after)
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
          node_shape: Callable[[FieldNode], Shape]) -> tuple[Shape, EdgesBuilder]:
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
    return node or Shape("x_"), _edges(parts, f"{type_name}Edge")


EdgesBuilder = Callable[[list[Any], Runtime, Callable[[Any, Runtime], Any], Callable[[Any], str]], list[Any]]


def _edges(parts: list[tuple[str, str]], typename: str) -> EdgesBuilder:
    """The page's edges as one generated list display: ``edges(rows, rt, node, cursor_of)`` builds each
    row's ``{cursor, node, __typename}`` in the selection's order (keys as selected, a repeated key once,
    where it first appears, holding the last value, as a dict display does)."""
    values = {"node": "node(row, rt)", "cursor": "cursor_of(row)", "__typename": repr(typename)}
    items = ", ".join(f"{key!r}: {values[kind]}" for key, kind in parts)
    scope: dict[str, Any] = {}
    source = f"def edges(rows, rt, node, cursor_of):\n    return [{{{items}}} for row in rows]\n"
    exec(source, scope)  # noqa: S102 (only reprs of the compiler's own keys)
    built: EdgesBuilder = scope["edges"]
    return built


def select(columns: dict[str, str]) -> str:
    return ", ".join(f"{expression} AS {alias}" for alias, expression in columns.items())


def page_args(getters: dict[str, ArgGetter], variables: dict[str, Any]) -> tuple[int, tuple[Any, uuid.UUID] | None]:
    try:
        first = check_first(getters["first"](variables) if "first" in getters else None)
        after = getters["after"](variables) if "after" in getters else None
        return first, decode_cursor(after) if after else None
    except GraphQLError as error:  # normal execution reports it, with its path
        raise NotCompilable("invalid paging arguments") from error


_KNOWN_CURSORS = memo_cursor.known


def cursor(row: Any) -> str:
    """The cursor of a page row read with ``k_created`` and ``k_id`` (the order columns), remembered
    (``pagination.memo_cursor``, whose hit test is repeated here to save a call per row)."""
    created, id_ = row["k_created"], row["k_id"]
    found = _KNOWN_CURSORS.get(id_)
    if found is not None and found[0] == created and found[0].tzinfo is created.tzinfo:
        return found[1]
    return memo_cursor(created, id_)
