"""Reading a validated GraphQL selection for compilation: fields in order, arguments as getters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)


class NotCompilable(Exception):
    """The document (or this request's variables) has a shape the compiled path does not cover."""


Fragments = dict[str, FragmentDefinitionNode]
ArgGetter = Callable[[dict[str, Any]], Any]


def fields_of(selection_set: SelectionSetNode | None, type_name: str, fragments: Fragments) -> list[FieldNode]:
    """The fields selected on ``type_name``, fragments inlined, in document order.

    Directives (@skip/@include) and fragments on other types are left to normal execution. A response
    key selected twice must be a leaf (validation guarantees it is the same field then)."""
    if selection_set is None:
        raise NotCompilable("a composite field without a selection")
    found: list[FieldNode] = []
    seen: set[str] = set()
    for field in _flatten(selection_set, type_name, fragments):
        key = response_key(field)
        if key in seen:
            if field.selection_set is not None:
                raise NotCompilable("a composite field selected twice")
            continue
        seen.add(key)
        found.append(field)
    return found


def _flatten(selection_set: SelectionSetNode, type_name: str, fragments: Fragments) -> list[FieldNode]:
    out: list[FieldNode] = []
    for selection in selection_set.selections:
        if selection.directives:
            raise NotCompilable("directives")
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            if selection.type_condition is not None and selection.type_condition.name.value != type_name:
                raise NotCompilable("a fragment on another type")
            out.extend(_flatten(selection.selection_set, type_name, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.directives or fragment.type_condition.name.value != type_name:
                raise NotCompilable("a fragment on another type")
            out.extend(_flatten(fragment.selection_set, type_name, fragments))
    return out


def response_key(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


def arguments(field: FieldNode, allowed: set[str]) -> dict[str, ArgGetter]:
    """Getters over the coerced variables for each argument given (literals are constants)."""
    getters: dict[str, ArgGetter] = {}
    for argument in field.arguments or ():
        name = argument.name.value
        if name not in allowed:
            raise NotCompilable(f"argument {name}")
        getters[name] = _getter(argument.value)
    return getters


def _getter(node: ValueNode) -> ArgGetter:
    if isinstance(node, VariableNode):
        variable = node.name.value
        return lambda variables: variables.get(variable)
    constant = value_from_ast_untyped(node)
    return lambda variables: constant


def leaf(field: FieldNode) -> None:
    if field.selection_set is not None or field.arguments:
        raise NotCompilable(f"{field.name.value} with arguments or a selection")
