"""Lists of objects read inside their parent's row: ``records(...)``, a ``Composite`` for a field whose value is
a (short, unpaginated) list of objects of a declared type, or at most one such object.

The objects come as one array of anonymous records (``ARRAY(SELECT ROW(...))``, or one record for ``single``)
from a subquery correlated with the parent's row, so a catalogue page, its organization and every list below
them stay one statement. Each record is shaped by ``registry.compile_object``, so the item type's declared
fields (their guards included) and nested lists compile the same way wherever the type appears. The
subquery runs under the request's row-level security like every compiled statement.

``visible(shape)`` (as ``fastpath.nodes.Source.visible``: it adds the columns its rule reads and returns the
test of a row) keeps only the objects the viewer may see, for lists whose rule depends on the viewer's
standing (staff see every category, everyone else the ones on the shelf): the statement reads the rows row-level
security shows with the columns the rule needs, and the per-viewer rule is applied while shaping. The same
function is the type's ``node(id:)`` rule, so the list and the node cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode

from codex_graphql.fastpath.registry import Composite, compile_object
from codex_graphql.fastpath.selection import Fragments
from codex_graphql.fastpath.shapes import Emit, Runtime, Shape, SignKey

Visible = Callable[[Shape], Callable[[Any, Runtime], bool]]


def records(type_name: str, source: str, where: str, order: tuple[str, ...] = (), *,
            visible: Visible | None = None, single: bool = False) -> Composite:
    """The field's objects of ``type_name``: ``FROM {source} WHERE {where} ORDER BY {order}``, where ``{a}`` is
    the objects' table alias (in ``source``, ``where`` and ``order``) and ``{t}`` the parent's. ``single``:
    the first such object, null when there is none."""

    def compile_records(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
        n = len(shape.columns)  # apart from another list of the same field under another response key
        item = compile_object(type_name, field_node, fragments, f"{shape.prefix}r{n}_")
        item.column("id")  # a record has at least one field
        keep = visible(item) if visible is not None else None
        aliases = tuple(item.columns)
        a, t = item.table, shape.table
        selected = ", ".join(item.columns.values())
        sql = f"FROM {source.format(a=a, t=t)} {' '.join(item.joins)} WHERE {where.format(a=a, t=t)}"
        if order:
            sql += " ORDER BY " + ", ".join(order).format(a=a)
        value = f"(SELECT ROW({selected}) {sql} LIMIT 1)" if single else f"ARRAY(SELECT ROW({selected}) {sql})"
        if shape.head:
            # Once: the head's columns repeat on every row of a connection read beside it, a subquery among them
            # would run again for each (OFFSET 0 keeps the planner from pulling it up there).
            lateral = f"{shape.table}_l{n}"
            shape.joins.append(f"LEFT JOIN LATERAL (SELECT {value} AS v OFFSET 0) {lateral} ON true")
            column = shape.column(f"r{n}", f"{lateral}.v")
        else:  # among the row's columns: PostgreSQL evaluates it after a page's ORDER BY ... LIMIT
            column = shape.column(f"r{n}", value)

        def rows_of(row: Any) -> list[dict[str, Any]]:
            found = row[column]
            if found is None:
                return []
            return [dict(zip(aliases, record, strict=True)) for record in ([found] if single else found)]

        if item.signed_keys:
            def keys_of(row: Any) -> list[SignKey]:
                return item.keys_to_sign(rows_of(row))
            shape.signed_keys.append(keys_of)
        build = item.builder()

        if single:
            def emit_one(row: Any, rt: Runtime) -> dict[str, Any] | None:
                found = rows_of(row)
                if not found or (keep is not None and not keep(found[0], rt)):
                    return None
                return build(found[0], rt)
            return emit_one

        def emit(row: Any, rt: Runtime) -> list[dict[str, Any] | None]:
            return [build(record, rt) for record in rows_of(row) if keep is None or keep(record, rt)]
        return emit
    return Composite(compile_records)
