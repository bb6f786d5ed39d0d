"""Per-request batch loaders of series: each item's place (series, position, neighbours the viewer may see) and
series by id, one statement per page of items."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from codex_graphql.batching import ContextLoader
from codex_graphql.content import access
from codex_graphql.series import repository
from codex_graphql.series.models import Series

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class PlaceLoader(ContextLoader[uuid.UUID, tuple[Any, ...] | None]):
    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[tuple[Any, ...] | None]:
        found = await repository.places(self.ctx.db, keys, access.staff_organization(self.ctx.viewer))
        return [found.get(key) for key in keys]


class SeriesLoader(ContextLoader[uuid.UUID, Series | None]):
    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[Series | None]:
        found = await repository.by_ids(self.ctx.db, keys)
        return [found.get(key) for key in keys]


def places(ctx: Context) -> PlaceLoader:
    return ctx.loaders.series_places


def series(ctx: Context) -> SeriesLoader:
    return ctx.loaders.series_by_id
