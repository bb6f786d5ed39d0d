"""Subscription actors: move a tier's subscribers to its current price (``migrateSubscriptionTierPrice``)."""

from __future__ import annotations

import uuid

import dramatiq

from codex_graphql.subscriptions import price_migration
from workers.runtime import runtime


@dramatiq.actor(actor_name=price_migration.MIGRATION_ACTOR, max_retries=8, min_backoff=5_000, max_backoff=600_000,
                time_limit=30 * 60_000)
async def migrate_subscription_tier_price(job_id: str, price_id: str, price_organization_id: str) -> None:
    """Ids in; safe to run twice (``price_migration`` module docstring). Raises after the last subscription when
    the provider could not be reached for some, so the job is retried for those (the others are done and are
    not listed again)."""
    rt = runtime()
    outcome = await price_migration.migrate(rt.db, rt.payments, uuid.UUID(price_organization_id), uuid.UUID(price_id))
    if outcome.failed:
        raise RuntimeError(f"price migration: the provider did not answer for {outcome.failed} subscription(s)")
