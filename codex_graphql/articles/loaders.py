"""Per-request batch loader of article bodies (one statement for a page of items, whatever their organizations:
row-level security decides which rows the reader sees)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.articles import repository
from codex_graphql.articles.models import ArticleBody
from codex_graphql.batching import KeyedLoader

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class ArticleBodyLoader(KeyedLoader[uuid.UUID, ArticleBody | None]):
    query = staticmethod(repository.bodies)


def bodies(ctx: Context) -> ArticleBodyLoader:
    return ctx.loaders.articles_bodies
