"""Commerce actors: handle stored payment events; purchase confirmation and refund emails; the refunds and
checkout closings of paid bookings."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlencode

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.accounts import repository as accounts
from codex_graphql.commerce import repository, webhooks
from codex_graphql.commerce.grants import GRANT_INVITATION_ACTOR
from codex_graphql.commerce.routes import receipt_link_for
from codex_graphql.commerce.service import PURCHASE_EMAIL_ACTOR
from codex_graphql.db import TenantScope
from codex_graphql.mail import Mail, templates
from codex_graphql.offerings import paid as paid_bookings
from codex_graphql.org_settings import service as org_settings
from codex_graphql.organizations import repository as organizations
from codex_graphql.subscriptions import billing_repository as subscriptions
from codex_graphql.subscriptions import dunning
from codex_graphql.subscriptions import repository as tiers
from codex_graphql.subscriptions.billing import DUNNING_ACTOR
from workers.mail_jobs import send_then_record
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)


@dramatiq.actor(actor_name=webhooks.HANDLE_ACTOR, max_retries=10, min_backoff=1_000, max_backoff=600_000, time_limit=60_000)
async def handle_payment_event(job_id: str, event_id: str) -> None:
    """Retries webhook handling that failed inline; a no-op once the event is processed."""
    await webhooks.handle(runtime().db, event_id, runtime().payments)


async def _provider_receipt(rt: Runtime, charge_id: str | None, payment_intent_id: str) -> str | None:
    """The payment provider's own receipt when it has one; the app's signed page otherwise."""
    try:
        return await rt.payments.receipt_url(charge_id, payment_intent_id)
    except Exception:
        log.warning("could not fetch the provider's receipt URL", extra={"payment_intent": payment_intent_id})
        return None


@dramatiq.actor(actor_name=PURCHASE_EMAIL_ACTOR, max_retries=8, min_backoff=1_000, max_backoff=300_000, time_limit=60_000)
async def send_purchase_email(job_id: str, kind: str, purchase_id: str, purchase_organization_id: str) -> None:
    """Purchase confirmation or refund notice. The provider's receipt URL is fetched with no transaction
    open (a short read first), and kept with the job's claim once the mail is sent."""
    rt = runtime()
    organization_id = uuid.UUID(purchase_organization_id)
    scope = TenantScope(organization_id=organization_id)
    async with rt.db.transaction(scope) as session:
        if await events.claimed(session, PURCHASE_EMAIL_ACTOR, job_id):
            return
        details = await repository.receipt_details(session, organization_id, uuid.UUID(purchase_id))
    if details is None:
        return
    receipt_url = details[0].receipt_url
    if receipt_url is None and details[0].payment_intent_id:
        receipt_url = await _provider_receipt(rt, details[0].charge_id, details[0].payment_intent_id)

    async def build(session: AsyncSession) -> Mail | None:
        found = await repository.receipt_details(session, organization_id, uuid.UUID(purchase_id))
        if found is None:
            return None
        purchase, title, organization_name = found
        user = await accounts.user_by_id(session, purchase.user_id)
        if user is None:
            return None
        if purchase.receipt_url is None and receipt_url is not None:
            purchase.receipt_url = receipt_url
        link = purchase.receipt_url or receipt_link_for(rt.settings, purchase.id, organization_id)
        amount = f"{purchase.amount_cents / 100:.2f} {purchase.currency}"
        if kind == "refund":
            return templates.refund_notice(user.email, user.name, title, organization_name, amount, link)
        if kind == "partial_refund":
            refunded = f"{purchase.refunded_amount_cents / 100:.2f} {purchase.currency}"
            net = f"{(purchase.amount_cents - purchase.refunded_amount_cents) / 100:.2f} {purchase.currency}"
            return templates.partial_refund_notice(user.email, user.name, title, organization_name, refunded, amount,
                                                   net, link)
        return templates.purchase_confirmation(user.email, user.name, title, organization_name, amount, link)

    await send_then_record(rt, scope, PURCHASE_EMAIL_ACTOR, job_id, build)


@dramatiq.actor(actor_name=GRANT_INVITATION_ACTOR, max_retries=8, min_backoff=1_000, max_backoff=300_000, time_limit=60_000)
async def send_grant_invitation(job_id: str, pending_grant_id: str, pending_grant_organization_id: str) -> None:
    """Tell an address without a verified account that access waits for it (nothing once claimed or revoked)."""
    rt = runtime()
    organization_id = uuid.UUID(pending_grant_organization_id)

    async def build(session: AsyncSession) -> Mail | None:
        details = await repository.pending_grant_details(session, organization_id, uuid.UUID(pending_grant_id))
        if details is None:
            return None
        grant, title, organization_name = details
        if grant.claimed_at is not None or grant.revoked_at is not None:
            return None
        link = f"{rt.settings.link_base}/account/register?{urlencode({'email': grant.email})}"
        return templates.grant_invitation(grant.email, title, organization_name, link)

    await send_then_record(rt, TenantScope(organization_id=organization_id), GRANT_INVITATION_ACTOR, job_id, build)


@dramatiq.actor(actor_name=DUNNING_ACTOR, max_retries=8, min_backoff=1_000, max_backoff=300_000, time_limit=60_000)
async def send_subscription_dunning_email(job_id: str, subscription_id: str, subscription_organization_id: str,
                                          invoice_id: str) -> None:
    """A renewal payment failed: tell the customer at once, with a link to the provider's billing portal (made
    with no transaction open, after a short read)."""
    rt = runtime()
    organization_id = uuid.UUID(subscription_organization_id)
    scope = TenantScope(organization_id=organization_id)
    async with rt.db.transaction(scope) as session:
        if await events.claimed(session, DUNNING_ACTOR, job_id):
            return
        row = await subscriptions.lock(session, organization_id, uuid.UUID(subscription_id))
        customer_id = row.stripe_customer_id if row is not None else None
    if customer_id is None:
        return
    portal = await rt.payments.create_billing_portal_session(customer_id, rt.settings.public_base_url)

    async def build(session: AsyncSession) -> Mail | None:
        found = await subscriptions.lock(session, organization_id, uuid.UUID(subscription_id))
        user = await accounts.user_by_id(session, found.user_id) if found else None
        tier = await tiers.in_organization_by_id(session, organization_id, found.tier_id) if found else None
        organization = await organizations.by_id(session, organization_id)
        if found is None or user is None or tier is None or organization is None:
            return None
        grace = await org_settings.subscription_grace_days(session, organization_id)
        return templates.subscription_payment_failed(user.email, user.name, tier.name, organization.name, grace, portal)

    await send_then_record(rt, scope, DUNNING_ACTOR, job_id, build)


@dramatiq.actor(actor_name=dunning.REMINDER_ACTOR, max_retries=8, min_backoff=1_000, max_backoff=300_000,
                time_limit=60_000)
async def send_subscription_dunning_reminder(job_id: str, subscription_id: str, subscription_organization_id: str,
                                             claimed_at: str) -> None:
    """The grace period of a PAST_DUE subscription ends soon: say when, with a link to the provider's billing
    portal (made with no transaction open, after a short read). Nothing once the subscription has left the
    past-due episode the reminder was claimed in, or its access has ended."""
    rt = runtime()
    organization_id = uuid.UUID(subscription_organization_id)
    scope = TenantScope(organization_id=organization_id)
    async with rt.db.transaction(scope) as session:
        if await events.claimed(session, dunning.REMINDER_ACTOR, job_id):
            return
        row = await subscriptions.lock(session, organization_id, uuid.UUID(subscription_id))
        customer_id = row.stripe_customer_id if row is not None and dunning.still_due(row, claimed_at) else None
    if customer_id is None:
        return
    portal = await rt.payments.create_billing_portal_session(customer_id, rt.settings.public_base_url)

    async def build(session: AsyncSession) -> Mail | None:
        found = await subscriptions.lock(session, organization_id, uuid.UUID(subscription_id))
        if found is None or found.access_until is None or not dunning.still_due(found, claimed_at):
            return None
        user = await accounts.user_by_id(session, found.user_id)
        tier = await tiers.in_organization_by_id(session, organization_id, found.tier_id)
        organization = await organizations.by_id(session, organization_id)
        if user is None or tier is None or organization is None:
            return None
        ends = dunning.access_end_text(found.access_until, organization.timezone)
        return templates.subscription_access_ending(user.email, user.name, tier.name, organization.name, ends, portal)

    await send_then_record(rt, scope, dunning.REMINDER_ACTOR, job_id, build)


@dramatiq.actor(actor_name=paid_bookings.REFUND_ACTOR, max_retries=10, min_backoff=1_000, max_backoff=600_000,
                time_limit=60_000)
async def booking_refund(job_id: str, booking_id: str, booking_organization_id: str, reason: str) -> None:
    """Ids in; refunds a cancelled (or paid-too-late) booking's purchase in full, once however often it runs (the
    refund's key follows from the booking)."""
    rt = runtime()
    await paid_bookings.refund(rt.db, rt.payments, uuid.UUID(booking_organization_id), uuid.UUID(booking_id), reason)


@dramatiq.actor(actor_name=paid_bookings.EXPIRE_CHECKOUT_ACTOR, max_retries=10, min_backoff=1_000,
                max_backoff=600_000, time_limit=60_000)
async def booking_checkout_expire(job_id: str, booking_id: str, booking_organization_id: str) -> None:
    """Ids in; closes the provider's checkout of a booking let go before it was paid (safe to run twice)."""
    rt = runtime()
    await paid_bookings.expire_checkout(rt.db, rt.payments, uuid.UUID(booking_organization_id),
                                        uuid.UUID(booking_id))
