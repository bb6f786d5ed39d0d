"""Fields one domain contributes to another domain's GraphQL type.

``Organization`` belongs to organizations/, but its ``purchases`` are commerce's, its ``analytics``
analytics', its ``auditLog`` audit's. Each such field is declared once, in the domain that owns its data,
on a small strawberry type of that domain (``commerce/organization_fields.py`` and so on) whose resolvers
receive the target type's object as ``self``; schema assembly (schema.py) attaches those fields to the
target type, at a declared place, before the schema is built. The owning domain imports the target's
domain, never the reverse, so there is no import circle and no function-level import to dodge one.
"""

from __future__ import annotations

from typing import Any

from strawberry.types.private import is_private


def fields_of(strawberry_type: type) -> list[Any]:
    """The strawberry fields declared on a type (private attributes included, as strawberry keeps them)."""
    fields: list[Any] = strawberry_type.__strawberry_definition__.fields  # type: ignore[attr-defined]
    return fields


def contribute(target: type, *sources: type, before: str | None = None) -> None:
    """Attach the fields declared on ``sources`` to ``target``, in order, before its field ``before``
    (Python name; at the end when None). Attaching the same fields again changes nothing; a field name
    that ``target`` already has from elsewhere is an error (one home per field)."""
    fields = fields_of(target)
    added: list[Any] = []
    for source in sources:
        for field in fields_of(source):
            if is_private(field.type):  # what ``self`` carries (e.g. ``organization_id``), not a field
                continue
            if any(existing is field for existing in fields):
                continue
            if any(existing.python_name == field.python_name for existing in [*fields, *added]):
                raise TypeError(f"{target.__name__}.{field.python_name} is declared twice "
                                f"(again by {source.__module__}.{source.__name__})")
            added.append(field)
    if not added:
        return
    index = len(fields)
    if before is not None:
        index = next((i for i, field in enumerate(fields) if field.python_name == before), -1)
        if index < 0:
            raise TypeError(f"{target.__name__} has no field {before!r} to place contributed fields before")
    fields[index:index] = added
