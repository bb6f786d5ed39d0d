"""Content's loader-backed fields answered for several items at once (batched.py): a catalogue page, a
library, a purchase history ask every item the same fields, and one batch answers them all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.batched import load_for
from codex_graphql.content import loaders, service

if TYPE_CHECKING:
    from codex_graphql.content.types import Content
    from codex_graphql.context import Context


async def creators(ctx: Context, items: Sequence[Content]) -> list[User | None]:
    """Each item's creator (one ``User`` object per creator: a page by one creator shares it)."""
    ids = list(dict.fromkeys(item.row.creator_id for item in items))
    users = await load_for(account_loaders.users(ctx), ids)
    found = {key: User.from_model(user) if user else None for key, user in zip(ids, users, strict=True)}
    return [found[item.row.creator_id] for item in items]


async def access(ctx: Context, items: Sequence[Content]) -> list[bool]:
    """Whether the viewer may play each item (service.can_play with the viewer's entitlements)."""
    entitled = await load_for(loaders.entitlements(ctx), [item.row.id for item in items])
    viewer = ctx.viewer
    return [service.can_play(viewer, item.row, found) for item, found in zip(items, entitled, strict=True)]


async def playback_positions(ctx: Context, items: Sequence[Content]) -> list[float | None]:
    """Where the signed-in viewer stopped in each item they may play (None elsewhere, and when never played)."""
    viewer = ctx.viewer
    if viewer.user_id is None:
        return [None] * len(items)
    entitled = await load_for(loaders.entitlements(ctx), [item.row.id for item in items])
    playable = list(dict.fromkeys(item.row.id for item, found in zip(items, entitled, strict=True)
                                  if service.can_play(viewer, item.row, found)))
    positions = dict(zip(playable, await load_for(loaders.positions(ctx), playable), strict=True)) if playable else {}
    return [positions.get(item.row.id) for item in items]


async def thumbnail_urls(ctx: Context, items: Sequence[Content]) -> list[str | None]:
    """Each item's smallest thumbnail, signed; None for an item without one."""
    storage = ctx.services.storage
    urls: list[str | None] = []
    for item in items:
        thumbnails = item.row.thumbnails
        if not thumbnails:
            urls.append(None)
            continue
        smallest = min(thumbnails, key=lambda t: t["width"])
        urls.append((await storage.presign_get(smallest["key"], service.URL_TTL_SECONDS)).url)
    return urls


__all__ = ["access", "creators", "playback_positions", "thumbnail_urls"]
