"""Reading a validated GraphQL selection for compilation: fields in order, arguments as getters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from graphql import (
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)


class NotCompilable(Exception):
    """The document (or this request's variables) has a shape the compiled path does not cover."""


Fragments = dict[str, FragmentDefinitionNode]
ArgGetter = Callable[[dict[str, Any]], Any]
# The coerced values of the variables @skip/@include use, while the engine compiles a plan for them.
DIRECTIVE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("codex_directive_values", default=None)


def fields_of(selection_set: SelectionSetNode | None, type_name: str, fragments: Fragments) -> list[FieldNode]:
    """The fields selected on ``type_name``, fragments inlined, in document order.

    Selections left out by @skip/@include are dropped (``included``); other directives are left to normal
    execution. Fragments whose type condition does not apply to ``type_name`` are skipped (``applies``). A response key selected twice must be a leaf (validation guarantees it is the same field then)."""
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
        if selection.directives and not included(selection.directives):
            continue
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            if selection.type_condition is not None and not applies(selection.type_condition.name.value, type_name):
                continue
            out.extend(_flatten(selection.selection_set, type_name, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.directives:
                raise NotCompilable("a fragment with directives")
            if not applies(fragment.type_condition.name.value, type_name):
                continue
            out.extend(_flatten(fragment.selection_set, type_name, fragments))
    return out


# Per object type of the served schema, the interfaces and unions it belongs to (registry.bind_schema).
SUPERTYPES: dict[str, frozenset[str]] = {}


def applies(condition: str, type_name: str) -> bool:
    """Whether a fragment on ``condition`` applies to an object of ``type_name`` (the spec's
    DoesFragmentTypeApply): the type itself or an abstract type it belongs to; other fragments are skipped."""
    if condition == type_name:
        return True
    supertypes = SUPERTYPES.get(type_name)
    if supertypes is None:
        raise NotCompilable(f"a fragment on {condition}: the schema's abstract types are not bound")
    return condition in supertypes


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


def included(directives: Iterable[DirectiveNode]) -> bool:
    """Whether @skip/@include keep a selection (the spec's rule: left out when @skip is true or @include
    false); a variable's value comes from ``DIRECTIVE_VALUES``. Any other directive is not compiled."""
    for directive in directives:
        name = directive.name.value
        if name not in ("skip", "include"):
            raise NotCompilable(f"directive {name}")
        value = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
        if isinstance(value, VariableNode):
            known = DIRECTIVE_VALUES.get()
            if known is None or value.name.value not in known:
                raise NotCompilable("directive variables")
            condition = known[value.name.value]
        else:
            condition = value_from_ast_untyped(value) if value is not None else None
        if not isinstance(condition, bool):
            raise NotCompilable(f"@{name} without a Boolean")  # normal execution reports the null
        if condition is (name == "skip"):
            return False
    return True


def directive_variables(operation: OperationDefinitionNode, fragments: Fragments) -> tuple[str, ...]:
    """The variables @skip/@include use in ``operation`` and the fragments it spreads (each once)."""
    found: dict[str, None] = {}
    visited: set[str] = set()
    pending = [operation.selection_set]
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections:
            for directive in selection.directives or ():
                if directive.name.value in ("skip", "include"):
                    for argument in directive.arguments or ():
                        if isinstance(argument.value, VariableNode):
                            found[argument.value.name.value] = None
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in visited and name in fragments:
                    visited.add(name)
                    pending.append(fragments[name].selection_set)
            elif selection.selection_set is not None:
                pending.append(selection.selection_set)
    return tuple(found)
