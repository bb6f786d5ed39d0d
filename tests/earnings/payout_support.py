"""Shared steps of the payout tests: onboarding a creator at the Stripe stand-in through the API, delivering the
stand-in's signed Connect events to the app, running the payout job with the app's own services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from codex_graphql.earnings import payout_jobs
from tests.support import Person
from tests.support.commerce import Shop

ONBOARD = """mutation($input: StartCreatorPayoutOnboardingInput!) { startCreatorPayoutOnboarding(input: $input) {
  errors { code field message } onboardingUrl expiresAt
  account { detailsSubmitted payoutsEnabled transfersActive requirements disabledReason } } }"""
ACCOUNT = "{ viewer { payoutAccount { detailsSubmitted payoutsEnabled transfersActive requirements disabledReason } } }"
SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { payoutSchedule payoutMinimumCents } } }"""
REFUND = """mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) {
  errors { code field message } purchase { id status refundedAmountCents } } }"""
MY_PAYOUTS = """{ viewer { payouts(first: 20) { totalCount nodes { id amountCents currency status periodStart attempt
  paidAt failureCode failureReason organization { slug } user { id } } }
  payoutBalances { currency balanceCents pendingPayoutCents paidOutCents organization { slug } } } }"""
DECEMBER = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
FEBRUARY = datetime(2027, 2, 2, 12, 0, tzinfo=UTC)


def onboarding_input(org: uuid.UUID, **changes: Any) -> dict[str, Any]:
    from codex_graphql.relay import to_global_id

    return {"input": {"organizationId": to_global_id("Organization", org),
                      "returnUrl": "http://testserver/payouts/done", "refreshUrl": "http://testserver/payouts/again",
                      **changes}}


def connect_webhooks(shop: Shop) -> None:
    """The stand-in delivers its signed events (``account.updated``) to the app's webhook route."""
    shop.stripe.webhook_client = shop.http
    shop.stripe.webhook_url = "http://testserver/webhooks/stripe"


async def onboard(shop: Shop, person: Person, org: uuid.UUID | None = None) -> str:
    """The person starts onboarding through the API and completes it at the stand-in (its signed
    ``account.updated`` reaches the app); returns their connected account's id."""
    connect_webhooks(shop)
    started = await shop.gql(ONBOARD, onboarding_input(org or shop.org), person.token)
    assert started["data"]["startCreatorPayoutOnboarding"]["errors"] == [], started
    account_id = next(a["id"] for a in shop.stripe.accounts.values() if a["metadata"].get("user_id") == str(person.user_id))
    await shop.stripe.complete_onboarding(account_id)
    account = (await shop.gql.ok(ACCOUNT, token=person.token))["viewer"]["payoutAccount"]
    assert account["transfersActive"] is True, account
    return account_id


async def without_hold(shop: Shop) -> None:
    """The organization pays earnings at once (``payoutHoldDays`` 0, through the owner's settings mutation): these
    tests pay sales made a moment ago. test_payouts.py's hold test keeps the default."""
    answer = await shop.gql.ok(SETTINGS, {"input": {"payoutHoldDays": 0}}, shop.owner.token)
    assert answer["updateOrganizationSettings"]["errors"] == []


async def run(shop: Shop, now: datetime = DECEMBER, slug: str | None = None) -> payout_jobs.PayoutRun:
    services = shop.app.state.runtime["services"]
    return await payout_jobs.run_payouts(services.db, services.payments, now=now, organization_slug=slug)


async def sell(shop: Shop, times: int = 1) -> None:
    """``times`` customers buy the paid item (1999 cents, all of it the creator's: no fee, 100 % share)."""
    for _ in range(times):
        await shop.buy(await shop.factory.user())


async def payouts_of(admin_db: Any, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await admin_db.fetch("select id, amount_cents, currency, status, period_start, attempt, transfer_id, "
                                "failure_code, failure_reason from payout where user_id = $1 order by created_at", user_id)
    return [dict(row) for row in rows]


async def balance(admin_db: Any, org: uuid.UUID, user_id: uuid.UUID, currency: str = "USD") -> int:
    return int(await admin_db.fetchval(
        "select earned_cents - refunded_cents + pool_cents - pending_payout_cents - paid_out_cents "
        "from creator_earning_summary where organization_id = $1 and user_id = $2 and currency = $3",
        org, user_id, currency) or 0)
