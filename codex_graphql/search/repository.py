"""SQL of ``Organization.search``: one statement per page (and one for ``totalCount``, when selected).

The statement matches the query against the search vectors (``search.models``: the public rows for everyone,
the organization's other rows too for its staff), then keeps, on ``content`` and under its row-level security,
exactly the rows ``Organization.contents`` would list to the same viewer (``access.listed_sql``) narrowed by the
catalogue filter's SQL form (``filters.filter_sql``) and ``free``. For a typo-tolerant query that finds nothing
that way, the trigram fallback's rows (``codex_search_fuzzy``) go through the same conditions. Snippets are cut
(``ts_headline``) for the page's rows only, from the description (the title when there is none): never from an
article's text, which may be behind a paywall.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Float, Text, column, text
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.content import access, filters
from codex_graphql.content.models import Content
from codex_graphql.content.repository import ContentRecord
from codex_graphql.relay import Page
from codex_graphql.search import service

FREE = "filter_free"
_COLUMNS = tuple(Content.__table__.columns)
_SELECTED = ", ".join(f"c.{c.name}" for c in _COLUMNS)


@dataclass(frozen=True, slots=True)
class SearchRow:
    """One hit: the item's row (as the catalogue reads it), its rank, and its snippet as HTML."""

    content: Any  # content.repository.ContentRecord
    rank: float
    headline: str | None


def _visible(names: frozenset[str]) -> str:
    """The conditions on ``content c`` that the catalogue applies to the same viewer, with the filter's."""
    narrowing = filters.filter_sql("c", lambda name: f":{name}", names, ":staff_org")
    free = f" AND (c.price_cents = 0) = :{FREE}" if FREE in names else ""
    return (f"c.organization_id = :organization_id AND {access.listed_sql('c', ':staff_org')} "
            f"AND {narrowing}{free}")


@cache
def _statement(*, staff: bool, fuzzy: bool, names: frozenset[str], after: bool, count: bool) -> Any:
    """The page (or, ``count``, the number of hits) for one shape of request. Only the constants above and the
    catalogue's SQL forms are written into the text; every value is a parameter."""
    query = "(SELECT query FROM q)"
    exact = (f"SELECT s.content_id, ts_rank(s.document, {query})::float8 AS rank FROM content_search_public s "  # noqa: S608
             f"WHERE s.organization_id = :organization_id AND s.document @@ {query}")
    if staff:
        exact += (f" UNION ALL SELECT s.content_id, ts_rank(s.document, {query})::float8 FROM content_search_staff s "  # noqa: S608
                  f"WHERE s.organization_id = :organization_id AND s.document @@ {query}")
    visible = _visible(names)
    hits = ("hits AS (SELECT * FROM found)" if not fuzzy else
            f"typo AS (SELECT {_SELECTED}, f.score::float8 AS rank "  # noqa: S608
            "FROM codex_search_fuzzy(:organization_id, :fuzzy_words, :staff) f JOIN content c ON c.id = f.content_id "
            f"WHERE {visible} AND numnode({query}) > 0 AND NOT EXISTS (SELECT 1 FROM found)), "
            "hits AS (SELECT * FROM found UNION ALL SELECT * FROM typo)")
    head = (
        "WITH q AS MATERIALIZED (SELECT codex_search_config(o.settings) AS cfg, "  # noqa: S608
        "websearch_to_tsquery(codex_search_config(o.settings), :words) AS query "
        "FROM organization o WHERE o.id = :organization_id), "
        f"exact AS ({exact}), "
        f"found AS (SELECT {_SELECTED}, e.rank FROM exact e JOIN content c ON c.id = e.content_id WHERE {visible}), "
        f"{hits} "
    )
    if count:
        return text(head + "SELECT count(*) FROM hits")  # noqa: S608
    keyset = "WHERE (h.rank, h.id) < (:after_rank, :after_id) " if after else ""
    # The snippet's text loses the marker characters first, so that only ts_headline's markers become <mark>.
    snippet = (f"ts_headline(q.cfg, translate(coalesce(nullif(page.description, ''), page.title), "
               f"'{service.START}{service.STOP}', ''), q.query, :headline_options)")
    statement = (head + f"SELECT page.*, {snippet} AS headline FROM (SELECT * FROM hits h {keyset}"  # noqa: S608
                 "ORDER BY h.rank DESC, h.id DESC LIMIT :limit) page CROSS JOIN q ORDER BY page.rank DESC, page.id DESC")
    return text(statement).columns(*_COLUMNS, column("rank", Float), column("headline", Text))


def _parameters(organization_id: uuid.UUID, words: str, staff: bool, narrow: filters.CatalogueFilter,
                free: bool | None) -> dict[str, Any]:
    values: dict[str, Any] = {"organization_id": organization_id, "words": words, "staff": staff,
                              "fuzzy_words": service.fuzzy_words(words),
                              "staff_org": organization_id if staff else None, **filters.parameters(narrow)}
    if free is not None:
        values[FREE] = free
    return values


async def search_page(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool, words: str, fuzzy: bool,
                      narrow: filters.CatalogueFilter, free: bool | None, first: int,
                      after: tuple[float, uuid.UUID] | None) -> Page[SearchRow]:
    """One page of hits, best first. ``staff``: the viewer is staff of the organization with CONTENT_READ (the
    catalogue's own test); ``fuzzy``: the typo fallback may answer (``service.typo_tolerant``); ``after``: the
    (rank, id) of the previous page's last hit."""
    values = _parameters(organization_id, words, staff, narrow, free)
    values.update(limit=first + 1, headline_options=service.HEADLINE_OPTIONS)
    if after is not None:
        values["after_rank"], values["after_id"] = after
    statement = _statement(staff=staff, fuzzy=fuzzy, names=frozenset(values), after=after is not None, count=False)
    rows = (await session.execute(statement, values)).all()
    width = len(_COLUMNS)
    items = [SearchRow(ContentRecord(*row[:width]), row[width], service.headline_html(row[width + 1]))
             for row in rows[:first]]
    return Page(items=items, cursors=[service.encode_cursor(item.rank, item.content.id) for item in items],
                has_next_page=len(rows) > first, has_previous_page=after is not None)


async def search_count(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool, words: str, fuzzy: bool,
                       narrow: filters.CatalogueFilter, free: bool | None) -> int:
    """How many hits ``search_page`` pages through."""
    values = _parameters(organization_id, words, staff, narrow, free)
    statement = _statement(staff=staff, fuzzy=fuzzy, names=frozenset(values), after=False, count=True)
    return int(await session.scalar(statement, values) or 0)
