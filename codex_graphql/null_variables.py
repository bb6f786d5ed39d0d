"""A variable sent as an explicit null where the operation needs a non-null value: refused before execution.

Validation lets a nullable variable with a default fill a non-null position (``$c: Boolean = false`` in
``@skip(if: $c)``, ``$s: String = "x"`` in ``organization(slug: $s)``): the default covers an omitted
variable. An explicit ``null`` is still a valid value of ``Boolean``, so variable coercion accepts it, and
graphql-core only notices while collecting or resolving fields, with an error that carries no code (at
the root) or a path (nested), which would be shown as a validation failure or masked as an internal error.

``null_variable_error`` finds such a use up front, in the executed operation and the fragments it
reaches, and answers it like a variable that failed coercion: a request error with ``extensions.code``
``BAD_USER_INPUT``, nothing executed. It walks the document only when a variable that has a default was
sent as null, which ordinary requests never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    NullValueNode,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    is_non_null_type,
    visit,
)
from graphql.language.visitor import BREAK, SKIP


def _suspects(operation: OperationDefinitionNode, coerced: Mapping[str, Any]) -> set[str]:
    """Variables with a non-null default that were sent as null: the only ones validation lets reach a
    non-null position."""
    suspects = set()
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        default = definition.default_value
        if default is not None and not isinstance(default, NullValueNode) and name in coerced \
                and coerced[name] is None:
            suspects.add(name)
    return suspects


class _NullUse(Visitor):
    def __init__(self, type_info: TypeInfo, suspects: set[str]) -> None:
        super().__init__()
        self.type_info = type_info
        self.suspects = suspects
        self.spreads: list[str] = []
        self.field: str | None = None  # the field whose arguments are being visited
        self.argument: str | None = None
        self.error: GraphQLError | None = None

    def enter_variable_definition(self, *_args: Any) -> Any:
        return SKIP  # the declarations themselves, not uses

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_args: Any) -> None:
        self.spreads.append(node.name.value)

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        self.field = node.name.value

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self.argument = node.name.value

    def enter_variable(self, node: VariableNode, *_args: Any) -> Any:
        name = node.name.value
        expected = self.type_info.get_input_type()
        if name not in self.suspects or not is_non_null_type(expected):
            return None
        directive = self.type_info.get_directive()
        field = self.type_info.get_field_def()
        if directive is not None:
            where = f" (argument '{self.argument}' of @{directive.name})"
        elif field is not None and self.argument is not None:
            where = f" (argument '{self.argument}' of field '{self.field}')"
        else:
            where = ""
        self.error = GraphQLError(
            f"Variable '${name}' was sent as null, but it is used where a non-null '{expected}' is required"
            f"{where}. Send a value, or leave the variable out to use its default.",
            node, extensions={"code": "BAD_USER_INPUT"},
        )
        return BREAK


def null_variable_error(schema: GraphQLSchema, operation: OperationDefinitionNode,
                        fragments: Mapping[str, FragmentDefinitionNode],
                        coerced: Mapping[str, Any]) -> GraphQLError | None:
    """BAD_USER_INPUT for the first use of a null variable in a non-null position, or None (module
    docstring)."""
    if not operation.variable_definitions or not any(value is None for value in coerced.values()):
        return None
    suspects = _suspects(operation, coerced)
    if not suspects:
        return None
    type_info = TypeInfo(schema)
    finder = _NullUse(type_info, suspects)
    visitor = TypeInfoVisitor(type_info, finder)
    pending: list[Any] = [operation]
    seen: set[str] = set()
    while pending and finder.error is None:
        visit(pending.pop(), visitor)
        for name in finder.spreads:
            if name not in seen and name in fragments:
                seen.add(name)
                pending.append(fragments[name])
        finder.spreads.clear()
    return finder.error


__all__ = ["null_variable_error"]
