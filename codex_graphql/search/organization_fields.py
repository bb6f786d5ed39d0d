"""The search domain's field of ``Organization``: ``search``, declared here and attached by schema assembly
(codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import filters
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.relay import Connection, build_connection, check_first
from codex_graphql.search import repository, service
from codex_graphql.search.types import SearchFilter, SearchHit


@strawberry.type(description="Search's fields of `Organization` (never served as a type of its own).")
class OrganizationSearch:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @strawberry.field(description=(
        "Full-text search of the organization's content: titles, tags, creators' names, descriptions and "
        "articles' text, in the organization's `searchLanguage` (stemming and ignored words), best match first. "
        "It finds exactly what `contents` lists to the same viewer: PUBLISHED, listed, live items for everyone; "
        "every live item for staff with CONTENT_READ in this (active) organization. A short query "
        f"(up to {service.SHORT_WORDS} plain words) that matches nothing is retried with typo tolerance (similar "
        "words in titles, tags and creators' names)."))
    async def search(
        self, info: strawberry.Info,
        query: Annotated[str, strawberry.argument(description=(
            "What to look for, as in a web search engine: words (all must match), \"quoted phrases\", `or`, "
            f"`-excluded`. At most {service.MAX_QUERY_CHARACTERS} characters once control characters and repeated "
            "spaces are dropped; an empty query is a BAD_USER_INPUT error. Operators of PostgreSQL's tsquery "
            "syntax are plain characters here; a query of only ignored words (`the`) finds nothing."))],
        first: FirstArg = None, after: AfterArg = None,
        filter: Annotated[SearchFilter | None, strawberry.argument(
            description="Narrow the hits by kind, tag, category, price or (staff only) status.")] = None,
    ) -> Connection[SearchHit]:
        ctx: Context = info.context
        words = service.normalize_query(query)
        size = check_first(first)
        position = service.decode_cursor(after) if after else None
        staff = ctx.viewer.can(Permission.CONTENT_READ, self.organization_id)
        narrow = (filters.normalize(filter.kind, filter.tag, None, filter.status, filter.category) if filter
                  else filters.CatalogueFilter())
        free = filter.free if filter else None
        fuzzy = service.typo_tolerant(words)
        page = await repository.search_page(ctx.db, self.organization_id, staff=staff, words=words, fuzzy=fuzzy,
                                            narrow=narrow, free=free, first=size, after=position)
        return build_connection(page, SearchHit.from_row, lambda: repository.search_count(
            ctx.db, self.organization_id, staff=staff, words=words, fuzzy=fuzzy, narrow=narrow, free=free))
