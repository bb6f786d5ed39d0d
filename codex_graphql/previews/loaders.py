"""Per-request batch loader: the preview links of a page of the active organization's items (one statement per
batch, whatever the page size)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from codex_graphql.batching import GroupedLoader
from codex_graphql.db import utcnow
from codex_graphql.previews import repository
from codex_graphql.previews.models import ContentPreviewLink

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders

LISTED = 50  # links per item, newest first
LinksKey = tuple[uuid.UUID, bool]  # (item, include inactive links)


class PreviewLinksLoader(GroupedLoader[LinksKey, list[ContentPreviewLink]]):
    """An item's newest links (live ones only, or every one), in the active organization."""

    per = "organization"
    missing: list[ContentPreviewLink] = []

    async def query(self, db: Any, organization_id: uuid.UUID, content_ids: list[uuid.UUID],
                    include_inactive: bool) -> dict[uuid.UUID, list[ContentPreviewLink]]:
        return await repository.links_of(db, organization_id, content_ids, include_inactive, utcnow(), LISTED)


def links(ctx: Context) -> PreviewLinksLoader:
    return ctx.loaders.preview_links
