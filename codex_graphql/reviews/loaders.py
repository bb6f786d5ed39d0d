"""Per-request batch loaders: rating summaries, the viewer's own reviews, and review pages (one
statement per batch of items, whatever the page size)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import GroupedLoader, KeyedLoader
from codex_graphql.reviews import repository
from codex_graphql.reviews.models import Review, ReviewStatus

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders

PageKey = tuple[uuid.UUID, tuple[ReviewStatus, ...], int, str | None]
CountKey = tuple[uuid.UUID, tuple[ReviewStatus, ...]]


class SummaryLoader(KeyedLoader[uuid.UUID, tuple[int, int]]):
    """(count, sum) of the ratings per item."""

    missing = (0, 0)
    query = staticmethod(repository.summaries)


class OwnReviewLoader(KeyedLoader[uuid.UUID, Review | None]):
    """The signed-in viewer's review per item."""

    per = "user"
    query = staticmethod(repository.own_reviews)


class PageLoader(GroupedLoader[PageKey, list[Review]]):
    """Keys sharing (statuses, first, after) are loaded together with one windowed statement."""

    missing: list[Review] = []
    query = staticmethod(repository.pages)


class CountLoader(GroupedLoader[CountKey, int]):
    """Keys sharing their statuses are counted together with one statement."""

    missing = 0
    query = staticmethod(repository.counts)


def summaries(ctx: Context) -> SummaryLoader:
    return ctx.loaders.reviews_summaries


def own_reviews(ctx: Context) -> OwnReviewLoader:
    return ctx.loaders.reviews_own


def pages(ctx: Context) -> PageLoader:
    return ctx.loaders.reviews_pages


def counts(ctx: Context) -> CountLoader:
    return ctx.loaders.reviews_counts
