"""Per-request batch loader of scheduled publication times (one statement per page of items)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader
from codex_graphql.content import scheduling_repository as repository

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class ScheduleLoader(KeyedLoader[uuid.UUID, tuple[datetime, str] | None]):
    """An item's scheduled publication time and its organization's time zone; None when not scheduled. Read in
    the viewer's active organization (the fields are for its staff)."""

    per = "organization"
    query = staticmethod(repository.schedules_of)


def schedules(ctx: Context) -> ScheduleLoader:
    return ctx.loaders.content_schedules
