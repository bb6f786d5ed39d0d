"""Per-request batch loader of tiers' subscriber counts (one statement for a page of tiers)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader
from codex_graphql.subscriptions import billing_repository

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class SubscriberCountLoader(KeyedLoader[uuid.UUID, int]):
    """TRIALING, ACTIVE and PAST_DUE subscriptions per tier of the active organization (the field's guard
    admits staff of the tier's organization only, acting in it)."""

    per = "organization"
    missing = 0
    query = staticmethod(billing_repository.subscriber_counts)


def subscriber_counts(ctx: Context) -> SubscriberCountLoader:
    return ctx.loaders.subscriptions_subscriber_counts
