"""Per-request batch loaders: rating summaries, the viewer's own reviews, and review pages (one
statement per batch of items, whatever the page size)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from aiodataloader import DataLoader

from codex_graphql.context import Context
from codex_graphql.reviews import repository
from codex_graphql.reviews.models import Review, ReviewStatus

PageKey = tuple[uuid.UUID, tuple[ReviewStatus, ...], int, str | None]
CountKey = tuple[uuid.UUID, tuple[ReviewStatus, ...]]


class SummaryLoader(DataLoader[uuid.UUID, tuple[int, int]]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[tuple[int, int]]:
        found = await repository.summaries(self.ctx.db, list(keys))
        return [found.get(k, (0, 0)) for k in keys]


class OwnReviewLoader(DataLoader[uuid.UUID, Review | None]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[Review | None]:
        user_id = self.ctx.viewer.user_id
        if user_id is None:
            return [None] * len(keys)
        found = await repository.own_reviews(self.ctx.db, user_id, list(keys))
        return [found.get(k) for k in keys]


class PageLoader(DataLoader[PageKey, list[Review]]):
    """Keys sharing (statuses, first, after) are loaded together with one windowed statement."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[PageKey]) -> list[list[Review]]:
        groups: dict[tuple[Any, ...], list[uuid.UUID]] = defaultdict(list)
        for content_id, statuses, first, after in keys:
            groups[(statuses, first, after)].append(content_id)
        results: dict[PageKey, list[Review]] = {}
        for (statuses, first, after), content_ids in groups.items():
            found = await repository.pages(self.ctx.db, content_ids, statuses, first, after)
            for content_id in content_ids:
                results[(content_id, statuses, first, after)] = found.get(content_id, [])
        return [results[k] for k in keys]


class CountLoader(DataLoader[CountKey, int]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[CountKey]) -> list[int]:
        groups: dict[tuple[ReviewStatus, ...], list[uuid.UUID]] = defaultdict(list)
        for content_id, statuses in keys:
            groups[statuses].append(content_id)
        results: dict[CountKey, int] = {}
        for statuses, content_ids in groups.items():
            found = await repository.counts(self.ctx.db, content_ids, statuses)
            for content_id in content_ids:
                results[(content_id, statuses)] = found.get(content_id, 0)
        return [results[k] for k in keys]


def summaries(ctx: Context) -> SummaryLoader:
    return ctx.loader("reviews.summaries", lambda: SummaryLoader(ctx))


def own_reviews(ctx: Context) -> OwnReviewLoader:
    return ctx.loader("reviews.own", lambda: OwnReviewLoader(ctx))


def pages(ctx: Context) -> PageLoader:
    return ctx.loader("reviews.pages", lambda: PageLoader(ctx))


def counts(ctx: Context) -> CountLoader:
    return ctx.loader("reviews.counts", lambda: CountLoader(ctx))
