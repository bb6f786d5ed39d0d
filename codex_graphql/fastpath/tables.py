"""Compiled root fields that read one row of a table: its declared fields, at most one connection read in
the same statement (a ``Lateral``, with its ``totalCount`` and its filter), and follow-ups (``FollowUp``:
a subquery over the row) read in the same statement too (a ``LEFT JOIN LATERAL``), or, next to a
connection (whose rows repeat the root's), in one more statement over the row's id.

A follow-up's guard is checked inside the statement: its subquery runs only where the row's organization
is one in which the viewer passes the guard (bound from the viewer's memberships, the only organizations an
organization rule can hold in), or, for a guard that names no organization, only when the viewer passes it.
The guard is checked again on the row (refused: the resolvers answer the whole root and phrase the error),
and a follow-up that answered no row (refused inside, or its values refused there) is left to them too.

A domain declares such a root with a ``Table`` (the type, the table, the arguments, the row's key and
condition) and registers ``lambda field, fragments: TableRoot(table, field, fragments)``. Statements take
``$1`` = the viewer's user id (NULL when anonymous) so shapes can test entitlements; they run as the
application role with the viewer's tenant settings, so RLS applies as for the resolvers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode

from codex_graphql.fastpath import guards
from codex_graphql.fastpath.connections import (
    Connection,
    compile_connection,
    cursor,
    page_args,
    select,
    value_getter,
)
from codex_graphql.fastpath.registry import (
    DEFERRED,
    Deferred,
    FollowUp,
    Lateral,
    Param,
    SubPlan,
    argument_values,
    compile_follow_up,
    compile_object,
)
from codex_graphql.fastpath.selection import ArgGetter, Fragments, NotCompilable, arguments, response_key
from codex_graphql.fastpath.shapes import NeedsResolvers, Runtime, SignKey

VIEWER_USED = re.compile(r"\$1(?!\d)")
MAX_STATEMENTS = 64  # statement texts kept per root (pages after a cursor, filters, follow-ups' variants)


@dataclass(frozen=True)
class Table:
    """``key(viewer, argument values)``: the row's key (None: the answer is null, nothing runs; raise
    NotCompilable for values the resolvers must answer); ``where(param)``: the row's condition, using
    ``param("key")`` (and ``param("viewer")``, always ``$1``)."""

    type_name: str
    table: str
    alias: str
    arguments: frozenset[str]
    key: Callable[[Any, dict[str, Any]], Any]
    where: Callable[[Param], str]


class Params:
    """Named statement parameters numbered in order of use; ``viewer`` is always ``$1`` when reserved."""

    def __init__(self, *, viewer: bool = True) -> None:
        self.names: list[str] = ["viewer"] if viewer else []

    def __call__(self, name: str) -> str:
        if name not in self.names:
            self.names.append(name)
        return f"${self.names.index(name) + 1}"


def _typed_viewer(sql: str) -> str:
    """Declare ``$1`` when no shape used it (PostgreSQL must know every parameter's type)."""
    return sql if VIEWER_USED.search(sql) else f"WITH viewer AS (SELECT $1::uuid AS id) {sql}"


def guard_condition(deferred: Deferred, columns: dict[str, str], allowed: str) -> str:
    """SQL over the root's row that holds where ``deferred``'s guard can (``allowed``: the placeholder of
    ``guard_value``): the row's organization among those bound, or the viewer's answer for a guard that names
    no organization; ``true`` for a field without a guard."""
    if not deferred.checks:
        return "true"
    if deferred.organization is None:
        return f"{allowed}::boolean"
    return f"{columns[deferred.organization]} = ANY({allowed}::uuid[])"


def guard_value(deferred: Deferred, viewer: Any) -> Any:
    """Where the guard can hold for this viewer: the organizations of the viewer's memberships it passes in
    (an organization rule holds for members only), or whether it passes for a guard naming no organization."""
    if deferred.organization is None:
        return guards.allowed(deferred.checks, viewer, None)
    return [m.organization_id for m in viewer.memberships if guards.allowed(deferred.checks, viewer, m.organization_id)]


class TableRoot:
    def __init__(self, table: Table, field_node: FieldNode, fragments: Fragments) -> None:
        self.key = response_key(field_node)
        self.table = table
        self.args = arguments(field_node, set(table.arguments))
        head = compile_object(table.type_name, field_node, fragments, f"{table.alias}_", root=True)
        self.head = head
        self.head_id = head.column("id")
        self.lateral: Deferred | None = None
        self.connection: Connection | None = None
        self.lateral_args: dict[str, ArgGetter] = {}
        self.follow_ups: list[tuple[Deferred, SubPlan, str]] = []  # with the prefix of its columns and values
        # Statements by (after a cursor, filter parameters bound, follow-ups' variants), built on first use.
        self.statements: dict[tuple[Any, ...], tuple[str, list[str]]] = {}
        for deferred in head.deferred:
            if isinstance(deferred.declared, FollowUp):
                prefix = f"f{len(self.follow_ups)}_"
                self.follow_ups.append((deferred, compile_follow_up(deferred, fragments, head), prefix))
            elif self.lateral is None:
                self.lateral = deferred
                self._compile_lateral(deferred, fragments)
            else:
                raise NotCompilable("two connections in one root")

    def _declared_lateral(self) -> Lateral:
        assert self.lateral is not None and isinstance(self.lateral.declared, Lateral)
        return self.lateral.declared

    def _compile_lateral(self, deferred: Deferred, fragments: Fragments) -> None:
        declared = self._declared_lateral()
        allowed = set(declared.arguments | declared.fallback_arguments)
        if declared.filter is not None:
            allowed.add(declared.filter.argument)
        self.lateral_args = arguments(deferred.node, allowed)
        for argument in deferred.node.arguments or ():
            if declared.filter is not None and argument.name.value == declared.filter.argument:
                self.lateral_args[declared.filter.argument] = value_getter(argument.value)  # fields' variables too
        self.connection = compile_connection(
            deferred.node, fragments, declared.node_type,
            lambda node: compile_object(declared.node_type, node, fragments, f"{declared.alias}_"))
        for column in declared.node_columns:
            self.connection.node.column(column)

    def _cached(self, key: tuple[Any, ...]) -> tuple[str, list[str]]:
        found = self.statements.get(key)
        if found is None:
            found = self._follow_up_statement(key[1]) if key[0] == "follow" else self._statement(*key)
            if len(self.statements) < MAX_STATEMENTS:
                self.statements[key] = found
        return found

    def _follow_ups(self, param: Param, variants: tuple[Any, ...]) -> tuple[str, str]:
        """The follow-ups' subqueries as lateral joins on the row, each behind its guard, and their columns."""
        joins = []
        for (deferred, plan, prefix), variant in zip(self.follow_ups, variants, strict=True):
            gate = guard_condition(deferred, self.head.columns, param(prefix + "allowed") if deferred.checks else "")
            sub = plan.sql(lambda name, prefix=prefix: param(prefix + name), prefix, variant, gate)
            joins.append(f"LEFT JOIN LATERAL ({sub}) {prefix.rstrip('_')} ON true")
        return " ".join(joins), ", ".join(f"{prefix.rstrip('_')}.*" for _, _, prefix in self.follow_ups)

    def _follow_up_statement(self, variants: tuple[Any, ...]) -> tuple[str, list[str]]:
        """The follow-ups next to a connection: one more statement over the row's id."""
        table, param = self.table, Params()
        joins, columns = self._follow_ups(param, variants)
        sql = f"SELECT {columns} FROM {table.table} {table.alias} {joins} WHERE {table.alias}.id = {param('head_id')}"
        return _typed_viewer(sql), param.names

    def _statement(self, after: bool, filtered: frozenset[str], variants: tuple[Any, ...]) -> tuple[str, list[str]]:
        table, param = self.table, Params()
        where = table.where(param)
        columns, joins = select(self.head.columns), " ".join(self.head.joins)
        if self.connection is None:
            if self.follow_ups:  # one row: the follow-ups in the same statement
                laterals, more = self._follow_ups(param, variants)
                joins, columns = f"{joins} {laterals}", f"{columns}, {more}"
            return _typed_viewer(f"SELECT {columns} FROM {table.table} {table.alias} {joins} WHERE {where}"), param.names
        declared, node = self._declared_lateral(), self.connection.node
        alias, (created, ident) = declared.alias, declared.order
        inner = select({**node.columns, "k_created": f"{alias}.{created}", "k_id": f"{alias}.{ident}"})
        condition = declared.where(param, f"{table.alias}.id")
        if filtered:
            assert declared.filter is not None
            condition += f" AND {declared.filter.where(param, alias, filtered)}"
        if self.connection.counts:  # totalCount in the same statement, counted once per parent row
            joins += (f" CROSS JOIN LATERAL (SELECT count(*) AS x_total FROM {declared.table} {alias} "
                      f"WHERE {condition}) x_count")
            columns += ", x_count.x_total"
        page = condition
        if after:
            page += f" AND ({alias}.{created}, {alias}.{ident}) < ({param('after_created')}, {param('after_id')})"
        sql = (
            f"SELECT {columns}, x.* FROM {table.table} {table.alias} {joins} LEFT JOIN LATERAL ("
            f"SELECT {inner} FROM {declared.table} {alias} {' '.join(node.joins)} WHERE {page} "
            f"ORDER BY {alias}.{created} DESC, {alias}.{ident} DESC LIMIT {param('limit')}) x ON true "
            f"WHERE {where} ORDER BY x.k_created DESC, x.k_id DESC"
        )
        return _typed_viewer(sql), param.names

    def bind(self, viewer: Any, variables: dict[str, Any]) -> Any:
        key = self.table.key(viewer, argument_values(self.args, variables))
        variants, values = self._bind_follow_ups(viewer, variables)
        if self.lateral is None:
            return key, 0, None, variants, values, {}
        declared = self._declared_lateral()
        for name in declared.fallback_arguments:
            if name in self.lateral_args and self.lateral_args[name](variables) is not None:
                raise NotCompilable(f"{name} runs through the resolvers")
        filtered: dict[str, Any] = {}
        if declared.filter is not None and declared.filter.argument in self.lateral_args:
            filtered = declared.filter.bind(self.lateral_args[declared.filter.argument](variables))
        return (key, *page_args(self.lateral_args, variables), variants, values, filtered)

    def _bind_follow_ups(self, viewer: Any, variables: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The follow-ups' variants and named values, with where each one's guard can hold (``allowed``)."""
        variants, values = [], {}
        for deferred, plan, prefix in self.follow_ups:
            variant, named = plan.bind(viewer, variables)
            variants.append(variant)
            values.update({prefix + name: value for name, value in named.items()})
            if deferred.checks:
                values[prefix + "allowed"] = guard_value(deferred, viewer)
        return tuple(variants), values

    async def fetch(self, conn: Any, viewer: Any, bound: Any) -> Any:
        key, first, after, variants, named, filtered = bound
        if key is None:
            return None
        values: dict[str, Any] = {"viewer": viewer.user_id, "key": key, **named}
        total = None
        if self.lateral is None:
            sql, names = self._cached((False, frozenset(), variants))
            rows = await conn.fetch(sql, *[values[name] for name in names])
        else:
            declared = self._declared_lateral()
            values.update({name: value(viewer) for name, value in declared.values.items()}, limit=first + 1)
            values.update(filtered)
            if after is not None:
                values.update(after_created=after[0], after_id=after[1])
            sql, names = self._cached((after is not None, frozenset(filtered), ()))
            rows = await conn.fetch(sql, *[values[name] for name in names])
            assert self.connection is not None
            if rows and self.connection.counts:
                total = rows[0]["x_total"]
        follow: list[Any] = []
        if rows and self.follow_ups:
            for deferred, _, _ in self.follow_ups:
                if not self._allowed(deferred, viewer, rows[0]):
                    raise NeedsResolvers(f"{deferred.key} refused: the resolvers phrase the error")
            row = rows[0]
            if self.lateral is not None:  # the connection's rows: the follow-ups over the row's id
                values["head_id"] = row[self.head_id]
                sql, names = self._cached(("follow", variants))
                row = await conn.fetchrow(sql, *[values[name] for name in names])
            follow = [plan.read(row, prefix) if row is not None else None for _, plan, prefix in self.follow_ups]
            if any(done is None for done in follow):
                raise NeedsResolvers("a follow-up answered no row: the resolvers phrase why")
        return rows, first, after is not None, total, follow

    @staticmethod
    def _allowed(deferred: Deferred, viewer: Any, head: Any) -> bool:
        organization = head[deferred.organization] if deferred.organization else None
        return guards.allowed(deferred.checks, viewer, organization)

    def _page(self, rows: list[Any]) -> list[Any]:
        return [row for row in rows if row["k_id"] is not None] if self.connection is not None else []

    def keys_to_sign(self, fetched: Any) -> list[SignKey]:
        if not fetched:
            return []
        rows, follow = fetched[0], fetched[4]
        keys = self.head.keys_to_sign(rows[:1])
        if self.connection is not None:
            keys.extend(self.connection.node.keys_to_sign(self._page(rows)))
        for (_, plan, _), done in zip(self.follow_ups, follow, strict=False):
            keys.extend(plan.keys_to_sign(done))
        return keys

    def build(self, fetched: Any, rt: Runtime) -> dict[str, Any] | None:
        if not fetched or not fetched[0]:
            return None
        rows, first, after, total, follow = fetched
        head = rows[0]
        extra: dict[str, Any] = {}
        if self.lateral is not None:
            assert self.connection is not None
            if not self._allowed(self.lateral, rt.viewer, head):
                raise NeedsResolvers(f"{self.lateral.key} refused: the resolvers phrase the error")
            extra[self.lateral.key] = self.connection.build(self._page(rows), first, after, rt, cursor, total)
        for (deferred, plan, _), done in zip(self.follow_ups, follow, strict=True):
            extra[deferred.key] = plan.build(done, rt)
        return {key: extra[key] if emit is DEFERRED else emit(head, rt) for key, emit in self.head.emitters}
