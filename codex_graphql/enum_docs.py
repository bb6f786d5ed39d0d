"""Descriptions for the values of enums that stay plain ``enum.StrEnum``.

``strawberry.enum_value(...)`` cannot be used inside a ``StrEnum`` (its members must be strings, and
code compares them to strings and stores them in ``Enum(..., native_enum=False)`` columns). So the
Python enum stays exactly as it is and, right after it, ``describe_values`` writes each value's
description onto strawberry's definition of the enum; the schema (printed and introspected) shows it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


def describe_values(enum_cls: type[enum.Enum], descriptions: Mapping[str, str],
                    deprecated: Mapping[str, str] | None = None) -> None:
    """Set the GraphQL description of each named value of a ``@strawberry.enum`` class, and the
    deprecation reason of the values named in ``deprecated`` (printed as ``@deprecated(reason:)``).

    Naming a value the enum does not have is an error (a typo would otherwise leave a value
    undescribed silently); tests/schema/test_schema_descriptions.py fails on any value left without one.
    """
    definition = getattr(enum_cls, "__strawberry_definition__", None)
    if definition is None:
        raise TypeError(f"{enum_cls.__name__} is not decorated with @strawberry.enum")
    values = {value.name: value for value in definition.values}
    unknown = sorted(set(descriptions) - set(values))
    if unknown:
        raise ValueError(f"{enum_cls.__name__} has no values {unknown}")
    for name, text in descriptions.items():
        if not text.strip():
            raise ValueError(f"{enum_cls.__name__}.{name}: empty description")
        values[name].description = text
    for name, reason in (deprecated or {}).items():
        if name not in values or not reason.strip():
            raise ValueError(f"{enum_cls.__name__}.{name}: no such value, or an empty deprecation reason")
        values[name].deprecation_reason = reason
