"""Per-request batch loader of sessions' join URLs (one statement per batch, RLS decides who gets one)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader
from codex_graphql.conferencing import repository

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class JoinUrlLoader(KeyedLoader[uuid.UUID, str | None]):
    """Sessions' join URLs by session id: their organization's staff's, and a confirmed participant's
    (``offering_meeting``'s ``participant_read`` policy); None for everyone else and before the meeting exists."""

    query = staticmethod(repository.join_urls_of)


def join_urls(ctx: Context) -> JoinUrlLoader:
    return ctx.loaders.conferencing_join_urls
