"""SQL of dunning (``subscriptions.dunning``): the PAST_DUE subscriptions a change of the organization's grace
period recomputes, and the claim of the reminder sent before a grace period ends. Statements are scoped with
``in_organization``; the reminder job's list of organizations is read under the platform scope (``platform_read`` on
``subscription``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.subscriptions.models import Subscription, SubscriptionStatus


async def lock_for_grace_change(session: AsyncSession, organization_id: uuid.UUID) -> list[Subscription]:
    """Lock every subscription of the organization that is not CANCELED (in id order), then return the PAST_DUE
    ones. Locking the rows that may still become PAST_DUE too makes a webhook applying that change wait for
    the new grace period (it reads it after locking its row) or be waited for (its row is then recomputed)."""
    unended = in_organization(select(Subscription.id), Subscription, organization_id).where(
        Subscription.status != SubscriptionStatus.CANCELED).order_by(Subscription.id).with_for_update()
    await session.execute(unended)
    past_due = in_organization(select(Subscription), Subscription, organization_id).where(
        Subscription.status == SubscriptionStatus.PAST_DUE).order_by(Subscription.id)
    return list((await session.scalars(past_due)).all())


async def claim_reminders(session: AsyncSession, organization_id: uuid.UUID, now: datetime, ends_before: datetime,
                          limit: int) -> list[tuple[uuid.UUID, datetime]]:
    """Mark, and return as (id, access end), the organization's PAST_DUE subscriptions whose access ends in
    ``(now, ends_before]`` and that were not reminded in this past-due episode. Rows another transaction holds
    are skipped (never waited for: a later run takes them), and a row is claimed only while its mark is still
    null, so any number of concurrent runs claim each episode once."""
    due = in_organization(select(Subscription.id), Subscription, organization_id).where(
        Subscription.status == SubscriptionStatus.PAST_DUE, Subscription.dunning_reminder_sent_at.is_(None),
        Subscription.access_until > now, Subscription.access_until <= ends_before,
    ).order_by(Subscription.access_until, Subscription.id).limit(limit).with_for_update(skip_locked=True)
    statement = in_organization(update(Subscription), Subscription, organization_id).where(
        Subscription.id.in_(due.scalar_subquery()), Subscription.dunning_reminder_sent_at.is_(None),
    ).values(dunning_reminder_sent_at=now).returning(Subscription.id, Subscription.access_until)
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return [(row[0], row[1]) for row in result.all()]


async def organizations_due(session: AsyncSession, now: datetime, ends_before: datetime) -> list[uuid.UUID]:
    """Organizations with PAST_DUE subscriptions due a reminder (access ending in ``(now, ends_before]``, not yet
    reminded in this episode), in id order. Platform scope only (``platform_read``, migration 0027): the
    reminder job's work list, on a partial index of exactly the rows not yet reminded."""
    statement = select(Subscription.organization_id).where(
        Subscription.status == SubscriptionStatus.PAST_DUE, Subscription.dunning_reminder_sent_at.is_(None),
        Subscription.access_until > now, Subscription.access_until <= ends_before,
    ).distinct().order_by(Subscription.organization_id)
    return list((await session.scalars(statement)).all())
