"""Per-request batch loader of items' HLS processing progress (one statement per page of items)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader
from codex_graphql.media import repository
from codex_graphql.media.models import ContentProcessing

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class ProcessingLoader(KeyedLoader[uuid.UUID, ContentProcessing | None]):
    """An item's processing row; None when its file never went through the HLS ladder. Read in the viewer's
    active organization (the field is for its staff)."""

    per = "organization"
    query = staticmethod(repository.processing_of)


def processing(ctx: Context) -> ProcessingLoader:
    return ctx.loaders.content_processing
