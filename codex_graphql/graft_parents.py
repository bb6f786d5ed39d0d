"""The resolvers' parent objects of the compiled types, for grafts (``fastpath.grafts``).

A field inside a compiled root that does not compile is resolved on the object the resolvers would have
built there. Each type here is built from its row as the compiled statement read it (``from_row``: the
statement reads the columns below beside its own, no second read), with the same builder the resolvers use
(``from_model``), on a light read-only row carrying the model's attribute names, each value converted as the
ORM converts it (SQLAlchemy's own result processors for asyncpg: enums come back as ContentKind,
ContentStatus, PlatformRole; timestamps with time zone, uuids and numbers are decoded by asyncpg on both
paths; arrays and JSON are read as JSON text, which decodes inside the anonymous records of aggregated
lists too, where asyncpg decodes no arrays).

The by-id loaders stay declared beside: a compiled guard's refusal inside a list loads its parents by id
(one statement per type, whatever the number of parents) rather than make every allowed viewer read the
rows' columns (``fastpath.grafts.site``). A type missing here is never grafted (a field of it that does not
compile leaves its whole root to the resolvers).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import make_dataclass
from typing import Any

import orjson
from sqlalchemy import ARRAY, JSON, Float, Numeric, String
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.models import User as UserModel
from codex_graphql.accounts.types import User
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.commerce import loaders as commerce_loaders
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.content.types import Content
from codex_graphql.fastpath.grafts import FromRow, ParentLoader, declare_parents
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.models import Organization as OrganizationModel
from codex_graphql.organizations.types import Organization

DIALECT = asyncpg_dialect.dialect()
FLOAT8, NUMERIC = 701, 1700  # PostgreSQL type oids: SQLAlchemy's asyncpg numeric processors depend on them


def _by(loader: Callable[[Any], Any], build: Callable[[Any], Any]) -> ParentLoader:
    async def load(ctx: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        rows = await loader(ctx).load_many(ids)
        return {id_: build(row) for id_, row in zip(ids, rows, strict=True) if row is not None}
    return load


def rows_of(model: type, build: Callable[[Any], Any], only: Iterable[str] | None = None) -> FromRow:
    """``build`` on a read-only row of ``model``'s mapped columns (``only`` these attributes: a builder that
    reads a few need not read secrets such as a password hash), each converted as the ORM converts it."""
    wanted = set(only) if only is not None else None
    attributes = [prop for prop in model.__mapper__.column_attrs  # type: ignore[attr-defined]
                  if wanted is None or prop.key in wanted]
    if wanted is not None and wanted - {prop.key for prop in attributes}:
        raise ValueError(f"{model.__name__} has no columns {sorted(wanted - {prop.key for prop in attributes})}")
    columns: list[tuple[str, str]] = []
    converting: list[tuple[int, Callable[[Any], Any]]] = []
    for i, prop in enumerate(attributes):
        column = prop.columns[0]
        processors = []
        if isinstance(column.type, ARRAY) and not isinstance(column.type.item_type, String):
            raise ValueError(f"{model.__name__}.{prop.key}: only arrays of text are read as JSON text")
        if isinstance(column.type, ARRAY | JSON):  # as JSON text: decoded inside anonymous records too
            sql = f"array_to_json({{t}}.{column.name})::text" if isinstance(column.type, ARRAY) else \
                f"({{t}}.{column.name})::text"
            processors.append(_json)
        else:
            sql = f"{{t}}.{column.name}"
        oid = FLOAT8 if isinstance(column.type, Float) else NUMERIC if isinstance(column.type, Numeric) else None
        orm = column.type.dialect_impl(DIALECT).result_processor(DIALECT, oid)
        if orm is not None:
            processors.append(orm)
        columns.append((column.name, sql))
        if processors:
            converting.append((i, processors[0] if len(processors) == 1 else _chain(*processors)))
    row_class = make_dataclass(f"{model.__name__}Row", [prop.key for prop in attributes], frozen=True, slots=True)

    def from_values(values: tuple[Any, ...]) -> Any:
        converted = list(values)
        for i, process in converting:
            converted[i] = process(converted[i])
        return build(row_class(*converted))
    return FromRow(tuple(columns), from_values)


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text is not None else None


def _chain(first: Callable[[Any], Any], then: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: then(first(value))


# Content everywhere it compiles (catalogue pages, `content(id:)`, a purchase's item, best sellers): the row
# the statement read, deleted items included where it shows them. `Content.row` keeps the whole row for the
# resolvers (the model's every column).
declare_parents("Content", _by(commerce_loaders.purchased_content, Content.from_model),
                from_row=rows_of(ContentModel, Content.from_model))
declare_parents("Organization", _by(organization_loaders.organizations, Organization.from_model),
                from_row=rows_of(OrganizationModel, Organization.from_model))
# `viewer`: the signed-in user's row; Viewer.from_model reads its fields, and email_verified_at.
declare_parents("Viewer", _by(account_loaders.users, Viewer.from_model),
                from_row=rows_of(UserModel, Viewer.from_model, ("id", "email", "name", "email_verified_at",
                                                                "platform_role", "created_at")))
declare_parents("User", _by(account_loaders.users, User.from_model),
                from_row=rows_of(UserModel, User.from_model, ("id", "name", "created_at")))
