"""Events of a subscription's life for integrators (``subscriptionEvents``), written to the outbox in the
transaction that makes the change, so an event exists exactly when its change committed.

Each event is tied to a change actually applied to the row, under the row's lock (``billing_repository.lock``):

- STARTED: the row leaves INCOMPLETE for a status that grants the tier (TRIALING, ACTIVE, PAST_DUE);
- PAST_DUE: the row becomes PAST_DUE from any other status;
- CANCELED: the row becomes CANCELED (final: it happens once);
- RENEWED: a paid invoice that starts a new period (not the first invoice of the subscription, not a
  proration), once per invoice (a ``processed_message`` claim keyed by the invoice id).

A replayed or late webhook whose state is not newer changes nothing (``billing.apply`` returns "stale") or
re-applies the status the row already has; neither is a transition, so neither emits.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.subscriptions.models import LIVE_STATUSES, Subscription, SubscriptionStatus

STARTED_EVENT = "subscription.started"
RENEWED_EVENT = "subscription.renewed"
PAST_DUE_EVENT = "subscription.past_due"
CANCELED_EVENT = "subscription.canceled"
RENEWAL_CONSUMER = "subscription.renewed"  # processed_message: one RENEWED per invoice id
_INVOICES = uuid.UUID("6f1d8a36-5a0e-4c55-9d53-2f0b6e7b9a41")  # uuid5 namespace of provider invoice ids


def transition_events(before: SubscriptionStatus, after: SubscriptionStatus) -> list[str]:
    """The events of a status change from ``before`` to ``after`` (none when it stays the same)."""
    if before is after:
        return []
    found = []
    if before is SubscriptionStatus.INCOMPLETE and after in LIVE_STATUSES:
        found.append(STARTED_EVENT)
    if after is SubscriptionStatus.PAST_DUE:
        found.append(PAST_DUE_EVENT)
    if after is SubscriptionStatus.CANCELED:
        found.append(CANCELED_EVENT)
    return found


def announce(session: AsyncSession, row: Subscription, event_type: str, invoice_id: str | None = None) -> None:
    payload = {"subscriptionId": str(row.id), "userId": str(row.user_id), "tierId": str(row.tier_id),
               "status": row.status.value}
    if invoice_id is not None:
        payload["invoiceId"] = invoice_id
    events.emit(session, event_type, payload, row.organization_id)


def announce_transition(session: AsyncSession, row: Subscription, before: SubscriptionStatus) -> None:
    for event_type in transition_events(before, row.status):
        announce(session, row, event_type)


async def announce_renewal(session: AsyncSession, row: Subscription, invoice_id: str) -> bool:
    """RENEWED for a paid renewal invoice, the first time this invoice is seen (False after)."""
    if not await events.claim_once(session, RENEWAL_CONSUMER, uuid.uuid5(_INVOICES, invoice_id)):
        return False
    announce(session, row, RENEWED_EVENT, invoice_id)
    return True
