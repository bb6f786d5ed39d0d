"""Client input PostgreSQL would refuse, refused where arguments are coerced, for every field at once.

PostgreSQL's text types cannot hold NUL (U+0000): a string carrying one reaches the driver and fails
with "invalid byte sequence", which the client would see as a masked INTERNAL_SERVER_ERROR. No
argument of this API has a use for NUL, so the built-in ``String`` and ``ID`` scalars refuse it while
coercing input, before anything executes: a variable answers ``Variable '$x' got invalid value ...``,
a literal in the document fails validation, both with ``extensions.code`` ``BAD_USER_INPUT``. Both
executors (the resolvers and the compiled fast path) coerce variables with the same scalars, and the
WebSocket transport runs the same schema, so one check covers every field, input field and list item.

The check wraps graphql-core's ``GraphQLString`` and ``GraphQLID`` themselves: a schema cannot hold
a second type named ``String`` (introspection's own fields use graphql-core's), so refusing NUL in a
replacement scalar is not possible. Output (``serialize``) is untouched.

``DateTime`` inputs are normalized to UTC while coercing: an offset that takes a year-1 or year-9999
instant outside the representable range is BAD_USER_INPUT here instead of an overflow in the driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, GraphQLID, GraphQLScalarType, GraphQLString
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

NUL = "\x00"
NUL_MESSAGE = "Text must not contain NUL characters (U+0000)."


def nul_error() -> GraphQLError:
    return GraphQLError(NUL_MESSAGE, extensions={"code": "BAD_USER_INPUT"})


def refuse_nul(value: str) -> str:
    """``value`` unchanged, or BAD_USER_INPUT when it holds NUL (for text decoded from cursors, ids...)."""
    if NUL in value:
        raise nul_error()
    return value


def _checked_value(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_value(value: Any) -> Any:
        parsed = parse(value)
        if isinstance(parsed, str) and NUL in parsed:
            raise nul_error()
        return parsed

    return parse_value


def _checked_literal(parse: Callable[..., Any]) -> Callable[..., Any]:
    def parse_literal(node: Any, variables: Any = None) -> Any:
        parsed = parse(node, variables)
        if isinstance(parsed, str) and NUL in parsed:
            raise nul_error()
        return parsed

    return parse_literal


def install() -> None:
    """Make ``String`` and ``ID`` refuse NUL on input (idempotent; called when the schema is built).

    graphql-core 3.3 coerces through ``coerce_input_value``/``coerce_input_literal`` and keeps the
    deprecated ``parse_value``/``parse_literal`` beside them: all four are wrapped."""
    scalar: GraphQLScalarType
    for scalar in (GraphQLString, GraphQLID):
        if getattr(scalar, "_codex_refuses_nul", False):
            continue
        scalar.parse_value = _checked_value(scalar.parse_value)  # type: ignore[method-assign]
        scalar.coerce_input_value = _checked_value(scalar.coerce_input_value)
        scalar.parse_literal = _checked_literal(scalar.parse_literal)  # type: ignore[method-assign]
        if scalar.coerce_input_literal is not None:
            scalar.coerce_input_literal = _checked_literal(scalar.coerce_input_literal)
        scalar._codex_refuses_nul = True  # type: ignore[attr-defined]


def _utc_instant(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_value(value: Any) -> Any:
        parsed = parse(value)
        if isinstance(parsed, datetime) and parsed.tzinfo is not None:
            try:
                return parsed.astimezone(UTC)
            except OverflowError:
                raise GraphQLError("The instant is outside the supported range (years 1 to 9999 in UTC).",
                                   extensions={"code": "BAD_USER_INPUT"}) from None
        return parsed

    return parse_value


# strawberry's DateTime (same name, description and output), normalizing input to UTC; registered with
# ``scalar_overrides={datetime: UTC_DATETIME}`` in schema.py.
UTC_DATETIME: ScalarDefinition = dataclasses.replace(
    DateTimeDefinition, parse_value=_utc_instant(DateTimeDefinition.parse_value))  # type: ignore[arg-type]
