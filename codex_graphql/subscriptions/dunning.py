"""Dunning after a failed renewal payment: the grace period of PAST_DUE subscriptions, and the reminder sent
before it ends. Services never commit.

The dunning email itself goes out at once, per failed invoice (``billing.invoice_payment_failed``). Then:

- **The grace period** is the organization's ``subscription_grace_days`` setting; a PAST_DUE subscription grants
  its tier until ``billing.access_until`` (the start of PAST_DUE plus the grace). ``regrace`` recomputes that
  for the organization's PAST_DUE subscriptions in the transaction that changes the setting, with the same
  formula, so a shorter grace ends access at once and a longer one extends it. The settings service calls
  ``lock_for_grace_change`` before it locks the organization row: webhook handlers lock their subscription
  row first and touch the organization row later (outbox rows reference it), so this order cannot deadlock.
- **The reminder** (``REMINDER_ACTOR``): the periodic ``dunning-reminders`` job (``send_reminders``; workers,
  and the API process in embedded mode) queues one email per PAST_DUE subscription whose access ends within
  ``DUNNING_REMINDER_WINDOW_HOURS`` (settings), once per past-due episode: the row is claimed by a
  conditional UPDATE (``dunning_reminder_sent_at`` still null, rows held elsewhere skipped) in the
  transaction that writes the job to the outbox, so concurrent runners and reruns queue it once.
  ``billing.apply`` clears the mark when the subscription leaves PAST_DUE, so the next episode is reminded
  again. The job's payload carries the claim's time: the actor sends nothing once the row has left that
  episode (recovered, canceled, or past due again later).

The job's work list is the organizations with reminders due, one statement under the platform scope
(``subscription``'s platform read policy and a partial index of the rows not yet reminded, migration 0027);
each organization's claim runs in its own scope.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.subscriptions import billing
from codex_graphql.subscriptions import dunning_repository as repository
from codex_graphql.subscriptions.models import Subscription, SubscriptionStatus

log = logging.getLogger(__name__)

REMINDER_ACTOR = "send_subscription_dunning_reminder"
INTERVAL_SECONDS = 900.0  # how often the reminder job runs (much shorter than the window)
CLAIM_BATCH = 200


async def lock_for_grace_change(session: AsyncSession, organization_id: uuid.UUID) -> list[Subscription]:
    """Before the organization's grace period changes: its PAST_DUE subscriptions, locked (see the module)."""
    return await repository.lock_for_grace_change(session, organization_id)


async def regrace(session: AsyncSession, rows: list[Subscription], grace_days: int) -> int:
    """Recompute ``access_until`` of the PAST_DUE ``rows`` (from ``lock_for_grace_change``) for ``grace_days``;
    returns how many changed."""
    changed = 0
    for row in rows:
        until = billing.access_until(row.status, row.current_period_end, row.cancel_at_period_end,
                                     row.past_due_since, grace_days)
        if until != row.access_until:
            row.access_until = until
            changed += 1
    if changed:
        await session.flush()
    return changed


async def claim_reminders(session: AsyncSession, organization_id: uuid.UUID, now: datetime,
                          window: timedelta, limit: int = CLAIM_BATCH) -> int:
    """Claim the organization's due reminders and queue one email each (same transaction); returns how many."""
    claimed = await repository.claim_reminders(session, organization_id, now, now + window, limit)
    for subscription_id, _ in claimed:
        events.enqueue(session, REMINDER_ACTOR, organization_id, subscription_id=str(subscription_id),
                       subscription_organization_id=str(organization_id), claimed_at=now.isoformat())
    return len(claimed)


async def send_reminders(db: Database, window: timedelta, now: datetime | None = None) -> int:
    """The periodic job: queue the reminders due at ``now``; returns how many this runner queued."""
    now = now or utcnow()
    queued = 0
    async with db.transaction(TenantScope.platform_wide()) as session:
        organizations = await repository.organizations_due(session, now, now + window)
    for organization_id in organizations:
        while True:
            async with db.transaction(TenantScope(organization_id=organization_id)) as session:
                claimed = await claim_reminders(session, organization_id, now, window)
            queued += claimed
            if claimed < CLAIM_BATCH:
                break
    if queued:
        log.info("dunning reminders queued", extra={"queued": queued})
    return queued


def still_due(row: Subscription | None, claimed_at: str, now: datetime | None = None) -> bool:
    """Whether the reminder claimed at ``claimed_at`` is still worth sending: the row is in the past-due
    episode that claim was made in, and its access has not ended yet."""
    return (row is not None and row.status is SubscriptionStatus.PAST_DUE
            and row.dunning_reminder_sent_at == datetime.fromisoformat(claimed_at)
            and row.access_until is not None and row.access_until > (now or utcnow()))


def access_end_text(until: datetime, timezone: str) -> str:
    """When access ends, for the email: the organization's local time, named (``8 December 2026 at 14:00
    (Europe/Paris)``); UTC when the stored zone is unknown."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    local = until.astimezone(zone)
    return f"{local.day} {local:%B %Y at %H:%M} ({timezone})"


__all__ = ["INTERVAL_SECONDS", "REMINDER_ACTOR", "access_end_text", "claim_reminders", "lock_for_grace_change", "regrace",
           "send_reminders", "still_due"]
