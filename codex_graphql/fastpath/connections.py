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
from codex_graphql.pagination import decode_cursor, encode_cursor
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


def select(columns: dict[str, str]) -> str:
    return ", ".join(f"{expression} AS {alias}" for alias, expression in columns.items())


def page_args(getters: dict[str, ArgGetter], variables: dict[str, Any]) -> tuple[int, tuple[Any, uuid.UUID] | None]:
    try:
        first = check_first(getters["first"](variables) if "first" in getters else None)
        after = getters["after"](variables) if "after" in getters else None
        return first, decode_cursor(after) if after else None
    except GraphQLError as error:  # normal execution reports it, with its path
        raise NotCompilable("invalid paging arguments") from error


def cursor(row: Any) -> str:
    """The cursor of a page row read with ``k_created`` and ``k_id`` (the order columns)."""
    return encode_cursor(row["k_created"], row["k_id"])
