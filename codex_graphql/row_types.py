"""GraphQL objects built from their database rows, for the types whose fields are the row's columns."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any, TypeVar

from codex_graphql.relay import to_global_id

T = TypeVar("T")


@cache
def _row_fields(cls: type) -> tuple[str, ...]:
    """The constructor fields of the strawberry type ``cls`` other than ``id``."""
    return tuple(field.name for field in dataclasses.fields(cls) if field.init and field.name != "id")


def from_row(cls: type[T], row: Any, node: str, /, **values: Any) -> T:
    """``cls`` for ``row``: ``id`` is the row's global id as a ``node``; every other field is given in ``values``
    or is the row's attribute of the same name (a field the row lacks fails at once, never silently)."""
    columns = {name: getattr(row, name) for name in _row_fields(cls) if name not in values}
    return cls(id=to_global_id(node, row.id), **columns, **values)  # type: ignore[call-arg]


__all__ = ["from_row"]
