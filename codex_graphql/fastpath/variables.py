"""The request's variables coerced to an operation's definitions, remembered per compiled plan.

graphql-core's ``get_variable_values`` walks every definition, its type and the value on every request; a
storefront sends the same few variable sets again and again (a slug, a page size), so each plan keeps the
coerced values of the sets it saw lately, keyed by (name, type, value) of what was sent: ``1``, ``1.0`` and
``True`` are equal in Python but coerce apart. Only sets of scalar values are kept (a list or an input object
is coerced every time), with at most ``MAX_TEXT`` characters of text in all, ``MAX_SETS`` sets per plan (then
the memo starts over). Callers only read the values.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLSchema, VariableDefinitionNode
from graphql.execution.values import get_variable_values

MAX_SETS = 32
MAX_TEXT = 256


class CoercedVariables:
    __slots__ = ("sets",)

    def __init__(self) -> None:
        self.sets: dict[tuple[Any, ...], dict[str, Any]] = {}

    def values(self, schema: GraphQLSchema, definitions: Any, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        """The coerced values (None: they do not coerce; normal execution reports why)."""
        key = _key(variables)
        if key is not None:
            found = self.sets.get(key)
            if found is not None:
                return found
        defined: list[VariableDefinitionNode] = list(definitions or ())
        coerced = get_variable_values(schema, defined, variables or {})
        if isinstance(coerced, list):
            return None
        values: dict[str, Any] = getattr(coerced, "coerced", coerced)  # graphql-core 3.3 wraps them
        if key is not None:
            if len(self.sets) >= MAX_SETS:
                self.sets.clear()
            self.sets[key] = values
        return values


def _key(variables: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if not variables:
        return ()
    key = tuple((name, type(value), value) for name, value in variables.items())
    try:
        hash(key)
    except TypeError:  # a list or an input object
        return None
    if sum(len(value) for value in variables.values() if isinstance(value, str)) > MAX_TEXT:
        return None
    return key
