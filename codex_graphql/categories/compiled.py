"""Categories in the compiled read path: ``Content.categories`` read in the item's own row.

The item's categories come as one array of records (``ARRAY(SELECT ROW(...))``) from a subquery over the
link table, in the order the resolvers' loader reads them (``repository.ORDER``: position, name, id), under
the same row-level security (a link is readable exactly when its item is). The category's columns are
read as they are; ``contentCount`` (a count per viewer) is not compiled: a selection naming it is grafted
onto the resolvers.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode

from codex_graphql.fastpath.registry import Composite, declare
from codex_graphql.fastpath.selection import Fragments
from codex_graphql.fastpath.shapes import Emit, Runtime, Shape, leaf_names
from codex_graphql.relay import global_ids

# Category field -> (position in the record, how it is serialized).
COLUMNS: dict[str, tuple[int, str]] = {
    "id": (0, "id"), "name": (1, "plain"), "slug": (2, "plain"), "description": (3, "plain"),
    "position": (4, "plain"), "createdAt": (5, "iso"), "updatedAt": (6, "iso"),
}
RECORDS = ("ARRAY(SELECT ROW(k.id, k.name, k.slug, k.description, k.position, k.created_at, k.updated_at) "
           "FROM content_category cc JOIN category k ON k.id = cc.category_id WHERE cc.content_id = {table}.id "
           "ORDER BY k.position, k.name, k.id)")


def _categories(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    parts = leaf_names(field_node, fragments, "Category", {*COLUMNS, "__typename"})
    alias = shape.column("categories", RECORDS.format(table=shape.table))
    ids = global_ids("Category")

    def value(record: Any, name: str) -> Any:
        if name == "__typename":
            return "Category"
        index, form = COLUMNS[name]
        found = record[index]
        if form == "id":
            return ids(found)
        return found.isoformat() if form == "iso" else found

    def emit(row: Any, rt: Runtime) -> list[dict[str, Any]]:
        return [{key: value(record, name) for key, name in parts} for record in row[alias] or ()]
    return emit


declare("Content", {"categories": Composite(_categories)})
