"""Compiled ``node(id:)`` and ``nodes(ids:)``: objects by global id, for the types a domain declares.

A domain declares a type fetchable by id with ``declare_node(type_name, factory)``:
``factory(field, fragments, many=...)`` compiles the root's selection for that type (raises
``NotCompilable`` when it cannot) into a ``NodeRows``: one statement reading the rows of some ids
(``key``: one id, or a list with ``many``), and per row the object, or None when the viewer may not see
it (the rule of the type's ``node`` resolver). ``NodeTable`` is that for a plain table whose rule is
row-level security plus an optional test on the row (``Source.visible``).

The roots compile their selection once per declared type, fragments on the interface, on the type or on
others applied as the spec says (``selection.applies``); an id then picks its type's plan while binding.
An id of a type whose selection did not compile, or of a type not declared here, sends the root to the
resolvers for that request; a malformed id is null, as the resolvers answer it. ``nodes`` reads each
type present with one statement (``= ANY``), whatever the number of ids, and answers in the ids' order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import FieldNode

from codex_graphql.fastpath import grafts
from codex_graphql.fastpath.connections import select
from codex_graphql.fastpath.registry import compile_object, declare_generic_root
from codex_graphql.fastpath.selection import ArgGetter, Fragments, NotCompilable, arguments, response_key
from codex_graphql.fastpath.shapes import Runtime, Shape, SignKey
from codex_graphql.fastpath.tables import _typed_viewer
from codex_graphql.relay import from_global_id

MAX_IDS = 100  # `nodes(ids:)` takes at most this many; more is the resolvers' BAD_USER_INPUT


class NodeRows(Protocol):
    id_column: str  # the row's column holding its id

    async def fetch(self, conn: Any, viewer: Any, key: Any) -> list[Any]: ...
    def keys_to_sign(self, rows: list[Any]) -> list[SignKey]: ...
    def build_row(self, row: Any, rt: Runtime) -> dict[str, Any] | None: ...


NodeFactory = Callable[..., NodeRows]  # (field, fragments, *, many: bool) -> NodeRows
NODE_TYPES: dict[str, NodeFactory] = {}


def declare_node(type_name: str, factory: NodeFactory) -> None:
    NODE_TYPES[type_name] = factory


@dataclass(frozen=True)
class Source:
    """A type read by id from ``table`` (aliased ``alias``); ``visible(shape)`` adds the columns its rule
    reads and returns the test of a row (None: every row row-level security shows is visible)."""

    type_name: str
    table: str
    alias: str
    visible: Callable[[Shape], Callable[[Any, Runtime], bool]] | None = None


class NodeTable:
    def __init__(self, source: Source, field_node: FieldNode, fragments: Fragments, *, many: bool = False) -> None:
        shape = compile_object(source.type_name, field_node, fragments, f"{source.alias}_")
        self.shape = shape
        self.id_column = shape.column("id")
        self.visible = source.visible(shape) if source.visible is not None else None
        condition = f"{source.alias}.id = ANY($2::uuid[])" if many else f"{source.alias}.id = $2"
        self.sql = _typed_viewer(f"SELECT {select(shape.columns)} FROM {source.table} {source.alias} "
                                 f"{' '.join(shape.joins)} WHERE {condition}")

    async def fetch(self, conn: Any, viewer: Any, key: Any) -> list[Any]:
        return list(await conn.fetch(self.sql, viewer.user_id, key))

    def keys_to_sign(self, rows: list[Any]) -> list[SignKey]:
        return self.shape.keys_to_sign(rows)

    def build_row(self, row: Any, rt: Runtime) -> dict[str, Any] | None:
        if self.visible is not None and not self.visible(row, rt):
            return None
        return self.shape.build(row, rt)


def _compile_all(field_node: FieldNode, fragments: Fragments, *, many: bool) -> tuple[dict[str, NodeRows], dict[str, str]]:
    """Per declared type, its plan for this selection, or why there is none."""
    plans: dict[str, NodeRows] = {}
    refused: dict[str, str] = {}
    for type_name, factory in NODE_TYPES.items():
        sites = grafts.mark()
        try:
            plans[type_name] = factory(field_node, fragments, many=many)
        except NotCompilable as reason:
            grafts.forget(sites)  # the graft sites this type's attempt recorded
            refused[type_name] = str(reason)
    if not plans:
        raise NotCompilable(f"Query.{field_node.name.value}: {next(iter(refused.values()), 'no node type')}")
    return plans, refused


class _ByIds:
    """What both roots share: the plans per type and picking one for a decoded id."""

    def __init__(self, field_node: FieldNode, fragments: Fragments, argument: str, *, many: bool) -> None:
        self.key = response_key(field_node)
        self.name = field_node.name.value
        getter: ArgGetter = arguments(field_node, {argument})[argument]
        self.argument = getter
        self.plans, self.refused = _compile_all(field_node, fragments, many=many)

    def plan_of(self, type_name: str) -> NodeRows:
        plan = self.plans.get(type_name)
        if plan is None:  # named as the root is when it does not compile at all
            raise NotCompilable(self.refused.get(type_name, f"Query.{self.name}"))
        return plan


class NodeRoot(_ByIds):
    """``node(id:)``: the row of the id's type, one statement (none for a malformed id)."""

    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        super().__init__(field_node, fragments, "id", many=False)

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        raw = self.argument(variables)
        if not isinstance(raw, str):
            raise NotCompilable("id")
        decoded = from_global_id(raw)
        if decoded is None:
            return None
        return self.plan_of(decoded[0]), decoded[1]

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        if bound is None:
            return None
        plan, ident = bound
        return plan, await plan.fetch(conn, viewer, ident)

    def keys_to_sign(self, fetched: Any) -> list[SignKey]:
        return fetched[0].keys_to_sign(fetched[1]) if fetched else []

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        if not fetched or not fetched[1]:
            return None
        plan, rows = fetched
        return plan.build_row(rows[0], rt)


class NodesRoot(_ByIds):
    """``nodes(ids:)``: one statement per type present, answers in the ids' order."""

    def __init__(self, field_node: FieldNode, fragments: Fragments) -> None:
        super().__init__(field_node, fragments, "ids", many=True)

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        raw = self.argument(variables)
        if isinstance(raw, str):
            raw = [raw]  # input coercion of a single value to a list of one
        if not isinstance(raw, list) or len(raw) > MAX_IDS or not all(isinstance(value, str) for value in raw):
            raise NotCompilable("ids")  # the resolvers refuse it
        decoded = [from_global_id(value) for value in raw]
        groups: dict[str, dict[uuid.UUID, None]] = {}
        for found in decoded:
            if found is not None:
                self.plan_of(found[0])
                groups.setdefault(found[0], {})[found[1]] = None
        return decoded, {type_name: list(ids) for type_name, ids in groups.items()}

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        decoded, groups = bound
        rows: dict[str, dict[uuid.UUID, Any]] = {}
        for type_name, ids in groups.items():
            plan = self.plans[type_name]
            rows[type_name] = {row[plan.id_column]: row for row in await plan.fetch(conn, viewer, ids)}
        return decoded, rows

    def keys_to_sign(self, fetched: Any) -> list[SignKey]:
        return [key for type_name, found in fetched[1].items()
                for key in self.plans[type_name].keys_to_sign(list(found.values()))]

    def build(self, fetched: Any, rt: Runtime) -> list[dict[str, Any] | None]:
        decoded, rows = fetched
        out: list[dict[str, Any] | None] = []
        for found in decoded:
            row = rows[found[0]].get(found[1]) if found is not None else None
            out.append(self.plans[found[0]].build_row(row, rt) if row is not None and found is not None else None)
        return out


declare_generic_root("node", NodeRoot)
declare_generic_root("nodes", NodesRoot)
