"""Per-request batch loaders: the categories of a page of items, and the listed-item count of a list of
categories (one statement per batch, whatever the page size)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import GroupedLoader, KeyedLoader
from codex_graphql.categories import repository
from codex_graphql.categories.models import Category

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders

CountKey = tuple[uuid.UUID, uuid.UUID, bool]  # (category, its organization, the viewer is staff there)


class ContentCategoriesLoader(KeyedLoader[uuid.UUID, list[Category]]):
    """An item's categories, in their order."""

    missing: list[Category] = []
    query = staticmethod(repository.categories_of)


class ListedCountLoader(GroupedLoader[CountKey, int]):
    """How many items of the category the organization's list shows the viewer; keys sharing the
    organization and the viewer's standing are counted together."""

    missing = 0
    query = staticmethod(repository.listed_counts)


def content_categories(ctx: Context) -> ContentCategoriesLoader:
    return ctx.loaders.categories_of_content


def listed_counts(ctx: Context) -> ListedCountLoader:
    return ctx.loaders.categories_listed_counts
