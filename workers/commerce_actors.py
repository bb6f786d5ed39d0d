"""Commerce actors: handle stored payment events; purchase confirmation and refund emails."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlencode

import dramatiq

from codex_graphql import events
from codex_graphql.accounts import repository as accounts
from codex_graphql.commerce import repository, webhooks
from codex_graphql.commerce.grants import GRANT_INVITATION_ACTOR
from codex_graphql.commerce.routes import receipt_link_for
from codex_graphql.commerce.service import PURCHASE_EMAIL_ACTOR
from codex_graphql.db import TenantScope
from codex_graphql.mail import templates
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)


@dramatiq.actor(actor_name=webhooks.HANDLE_ACTOR, max_retries=10, min_backoff=1_000, max_backoff=600_000, time_limit=60_000)
async def handle_payment_event(job_id: str, event_id: str) -> None:
    """Retries webhook handling that failed inline; a no-op once the event is processed."""
    await webhooks.handle(runtime().db, event_id)


async def _provider_receipt(rt: Runtime, charge_id: str | None, payment_intent_id: str) -> str | None:
    """The payment provider's own receipt when it has one; the app's signed page otherwise."""
    try:
        return await rt.payments.receipt_url(charge_id, payment_intent_id)
    except Exception:
        log.warning("could not fetch the provider's receipt URL", extra={"payment_intent": payment_intent_id})
        return None


@dramatiq.actor(actor_name=PURCHASE_EMAIL_ACTOR, max_retries=8, min_backoff=1_000, max_backoff=300_000, time_limit=60_000)
async def send_purchase_email(job_id: str, kind: str, purchase_id: str, purchase_organization_id: str) -> None:
    rt = runtime()
    organization_id = uuid.UUID(purchase_organization_id)
    async with rt.db.transaction(TenantScope(organization_id=organization_id)) as session:
        if not await events.claim_once(session, PURCHASE_EMAIL_ACTOR, job_id):
            return
        details = await repository.receipt_details(session, organization_id, uuid.UUID(purchase_id))
        if details is None:
            return
        purchase, title, organization_name = details
        user = await accounts.user_by_id(session, purchase.user_id)
        if user is None:
            return
        if purchase.receipt_url is None and purchase.payment_intent_id:
            purchase.receipt_url = await _provider_receipt(rt, purchase.charge_id, purchase.payment_intent_id)
        link = purchase.receipt_url or receipt_link_for(rt.settings, purchase.id, organization_id)
        amount = f"{purchase.amount_cents / 100:.2f} {purchase.currency}"
        if kind == "refund":
            mail = templates.refund_notice(user.email, user.name, title, organization_name, amount, link)
        elif kind == "partial_refund":
            refunded = f"{purchase.refunded_amount_cents / 100:.2f} {purchase.currency}"
            net = f"{(purchase.amount_cents - purchase.refunded_amount_cents) / 100:.2f} {purchase.currency}"
            mail = templates.partial_refund_notice(user.email, user.name, title, organization_name, refunded, amount,
                                                   net, link)
        else:
            mail = templates.purchase_confirmation(user.email, user.name, title, organization_name, amount, link)
        await rt.mailer.send(mail)


@dramatiq.actor(actor_name=GRANT_INVITATION_ACTOR, max_retries=8, min_backoff=1_000, max_backoff=300_000, time_limit=60_000)
async def send_grant_invitation(job_id: str, pending_grant_id: str, pending_grant_organization_id: str) -> None:
    """Tell an address without a verified account that access waits for it (nothing once claimed or revoked)."""
    rt = runtime()
    organization_id = uuid.UUID(pending_grant_organization_id)
    async with rt.db.transaction(TenantScope(organization_id=organization_id)) as session:
        if not await events.claim_once(session, GRANT_INVITATION_ACTOR, job_id):
            return
        details = await repository.pending_grant_details(session, organization_id, uuid.UUID(pending_grant_id))
        if details is None:
            return
        grant, title, organization_name = details
        if grant.claimed_at is not None or grant.revoked_at is not None:
            return
        link = f"{rt.settings.link_base}/account/register?{urlencode({'email': grant.email})}"
        await rt.mailer.send(templates.grant_invitation(grant.email, title, organization_name, link))
