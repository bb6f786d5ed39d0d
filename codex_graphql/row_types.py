"""GraphQL objects built from their database rows, for the types whose fields are the row's columns."""

from __future__ import annotations

import dataclasses
from functools import cache
from operator import attrgetter
from typing import Any, TypeVar

from codex_graphql.relay import global_ids

T = TypeVar("T")


@cache
def _row_fields(cls: type) -> tuple[str, ...]:
    """The constructor fields of the strawberry type ``cls`` other than ``id``."""
    return tuple(field.name for field in dataclasses.fields(cls) if field.init and field.name != "id")


@cache
def _reader(cls: type, given: tuple[str, ...]) -> tuple[tuple[str, ...], Any]:
    """The fields of ``cls`` read from the row when ``given`` are passed, and one C-level getter returning
    them as a tuple (a row is read once per item of every list: no Python loop per field)."""
    names = tuple(name for name in _row_fields(cls) if name not in given)
    if not names:
        return names, lambda row: ()
    getter = attrgetter(*names)
    return names, (getter if len(names) > 1 else lambda row: (getter(row),))


def from_row(cls: type[T], row: Any, node: str, /, **values: Any) -> T:
    """``cls`` for ``row``: ``id`` is the row's global id as a ``node``; every other field is given in ``values``
    or is the row's attribute of the same name (a field the row lacks fails at once, never silently)."""
    names, read = _reader(cls, tuple(values))
    values.update(zip(names, read(row), strict=True))
    return cls(id=global_ids(node)(row.id), **values)  # type: ignore[call-arg]  (the process's memo of ids)


__all__ = ["from_row"]
