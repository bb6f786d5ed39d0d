"""Per-request batch loaders for the viewer's access and playback positions."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader
from codex_graphql.content import repository

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class EntitlementLoader(KeyedLoader[uuid.UUID, bool]):
    """True for the items the signed-in viewer is entitled to (the query answers a set of ids)."""

    per = "user"
    missing = False
    query = staticmethod(repository.entitled_content_ids)

    async def fetch(self, keys: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
        return dict.fromkeys(await super().fetch(keys), True)


class PositionLoader(KeyedLoader[uuid.UUID, float | None]):
    per = "user"
    query = staticmethod(repository.positions)


def entitlements(ctx: Context) -> EntitlementLoader:
    return ctx.loaders.content_entitlements


def positions(ctx: Context) -> PositionLoader:
    return ctx.loaders.content_positions
