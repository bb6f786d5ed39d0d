"""The catalogue filter (``filter: ContentFilter`` on ``Organization.contents``): read once, and its
conditions stated in the two forms its callers need, side by side.

- ``normalize``: the argument as both executors apply it (the tag normalized like tags, a tag no item
  could carry is a ``BAD_USER_INPUT`` error; words trimmed and cut to 200 characters; empty values
  dropped; the category a ``Category`` global id, a malformed one a ``BAD_USER_INPUT`` error, an unknown
  or another organization's one matching no item).
- ``conditions``: SQLAlchemy conditions on ``Content`` (the catalogue repository).
- ``parameters`` and ``filter_sql``: SQL text over named parameters (the compiled statement); no value
  is ever written into the text.

Kind, tag, words and category narrow every viewer's list. ``status`` narrows staff's list only: everyone else
sees published items whatever they ask (the listing rule, ``access.listed_clause`` / ``listed_sql``,
already keeps them to those). ``tests/content/test_catalogue_filters.py`` runs both forms on a grid of
rows, filters and viewers and requires the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from sqlalchemy import ColumnElement, exists, or_

from codex_graphql.categories.models import ContentCategory
from codex_graphql.content import rules
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.errors import DomainError
from codex_graphql.relay import decode_id

MAX_WORDS = 200
KIND, TAG, WORDS, STATUS = "filter_kind", "filter_tag", "filter_words", "filter_status"
CATEGORY = "filter_category"


@dataclass(frozen=True, slots=True)
class CatalogueFilter:
    """A normalized filter: None leaves that condition out."""

    kind: ContentKind | None = None
    tag: str | None = None
    search: str | None = None
    status: ContentStatus | None = None
    category: uuid.UUID | None = None


def normalize(kind: Any, tag: str | None, search: str | None, status: Any,
              category: str | None = None) -> CatalogueFilter:
    """The filter's fields as given (enum members or their names) as the catalogue applies them."""
    normalized = None
    if tag:
        try:
            tags = rules.normalize_tags([tag])
        except DomainError as error:  # an argument error, not a server error
            raise GraphQLError(f"Invalid tag filter: {error}", extensions={"code": "BAD_USER_INPUT"}) from error
        normalized = tags[0] if tags else None
    category_id = None
    if category is not None:
        category_id = decode_id(category, "Category")
        if category_id is None:
            raise GraphQLError("Invalid category filter: not a Category id.", extensions={"code": "BAD_USER_INPUT"})
    return CatalogueFilter(
        kind=ContentKind(kind) if kind is not None else None,
        tag=normalized,
        search=(search or "").strip()[:MAX_WORDS] or None,
        status=ContentStatus(status) if status is not None else None,
        category=category_id,
    )


def like_pattern(words: str) -> str:
    """``words`` anywhere, taken literally (LIKE's wildcards and escape character escaped)."""
    return "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conditions(narrow: CatalogueFilter, *, staff: bool) -> list[ColumnElement[bool]]:
    """The filter as conditions on ``Content`` (``staff``: the viewer is staff of the listed organization)."""
    found: list[ColumnElement[bool]] = []
    if staff and narrow.status is not None:
        found.append(Content.status == narrow.status)
    if narrow.kind is not None:
        found.append(Content.kind == narrow.kind)
    if narrow.tag is not None:
        found.append(Content.tags.contains([narrow.tag]))
    if narrow.search is not None:
        pattern = like_pattern(narrow.search)
        found.append(or_(Content.title.ilike(pattern), Content.description.ilike(pattern)))
    if narrow.category is not None:
        found.append(exists().where(ContentCategory.content_id == Content.id,
                                    ContentCategory.category_id == narrow.category))
    return found


def parameters(narrow: CatalogueFilter) -> dict[str, Any]:
    """The SQL form's parameters by name, one for each condition the filter sets."""
    values: dict[str, Any] = {}
    if narrow.kind is not None:
        values[KIND] = narrow.kind.value
    if narrow.tag is not None:
        values[TAG] = [narrow.tag]
    if narrow.search is not None:
        values[WORDS] = like_pattern(narrow.search)
    if narrow.status is not None:
        values[STATUS] = narrow.status.value
    if narrow.category is not None:
        values[CATEGORY] = narrow.category
    return values


def filter_sql(table: str, param: Callable[[str], str], names: Collection[str], staff_organization: str) -> str:
    """SQL form of ``conditions`` over the rows of ``table``, for the parameters ``names`` (``parameters``'
    keys); ``param`` gives a named parameter's placeholder. ``staff_organization`` is the viewer's active
    organization when they are staff there, else NULL (as in ``access.listed_sql``)."""
    found: list[str] = []
    if STATUS in names:
        found.append(f"CASE WHEN {table}.organization_id = {staff_organization} "
                     f"THEN {table}.status = {param(STATUS)} ELSE true END")
    if KIND in names:
        found.append(f"{table}.kind = {param(KIND)}")
    if TAG in names:
        found.append(f"{table}.tags @> {param(TAG)}")
    if WORDS in names:
        pattern = param(WORDS)
        found.append(f"({table}.title ILIKE {pattern} OR {table}.description ILIKE {pattern})")
    if CATEGORY in names:
        # The alias and the placeholder come from the compiled path's own constants, never from a request.
        found.append(f"EXISTS (SELECT 1 FROM content_category {table}_k WHERE "  # noqa: S608
                     f"{table}_k.content_id = {table}.id AND {table}_k.category_id = {param(CATEGORY)})")
    return " AND ".join(found) or "true"
