"""startCreatorPayoutOnboarding and the ``account.updated`` webhook, through the ASGI app and the Stripe stand-in
(real HTTP, signed events): one connected account per person whatever the number of parallel calls, reused after;
the provider called with no transaction open; bad URLs refused with nothing created; the authorization matrix;
``account.updated`` turning transfers on and off, never regressing on a replayed event, and ignored (stored) for an
unknown account; the local demo provider onboarding through its own page."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stripe

from codex_graphql.authz import OrgRole
from codex_graphql.earnings import payout_jobs
from tests.commerce.test_no_network_in_transactions import Watch, quiet
from tests.earnings.payout_support import ACCOUNT, ONBOARD, connect_webhooks, onboard, onboarding_input
from tests.support import assert_authz_matrix, make_actors
from tests.support.commerce import Shop, shop  # noqa: F401  (the fixture)

PATH = ["startCreatorPayoutOnboarding"]


async def test_parallel_onboarding_creates_one_account_and_later_calls_reuse_it(shop: Shop, admin_db):  # noqa: F811
    await quiet(shop.app)
    watch = Watch(admin_db)
    shop.stripe.during_request = watch
    creator = shop.creator
    answers = await asyncio.gather(*(shop.gql(ONBOARD, onboarding_input(shop.org), creator.token) for _ in range(5)))
    payloads = [answer["data"]["startCreatorPayoutOnboarding"] for answer in answers]
    assert all(p["errors"] == [] for p in payloads), payloads
    assert len(shop.stripe.accounts) == 1
    account_id, account = next(iter(shop.stripe.accounts.items()))
    assert account["type"] == "express" and account["capabilities"] == {"transfers": "inactive"}
    assert account["metadata"] == {"user_id": str(creator.user_id)}  # one account per person, for every organization
    assert account["email"] == creator.email
    rows = await admin_db.fetch("select user_id, provider, account_id, transfers_active from creator_payout_account")
    assert [tuple(r) for r in rows] == [(creator.user_id, "stripe", account_id, False)]
    assert {p["account"]["transfersActive"] for p in payloads} == {False}
    assert all(p["onboardingUrl"].startswith(f"https://connect.stripe.com/setup/e/{account_id}/") for p in payloads)
    keys = {key for method, path, _, key in shop.stripe.requests if path == "/v1/accounts" and method == "POST"}
    assert keys == {f"creator-payout-account:{creator.user_id}"}  # one key per person, whatever the organization
    links = [link for link in shop.stripe.account_links if link["account"] == account_id]
    assert len(links) == 5 and {link["return_url"] for link in links} == {"http://testserver/payouts/done"}

    creates = sum(1 for method, path, *_ in shop.stripe.requests if (method, path) == ("POST", "/v1/accounts"))
    again = (await shop.gql.ok(ONBOARD, onboarding_input(shop.org), creator.token))["startCreatorPayoutOnboarding"]
    assert again["onboardingUrl"].startswith(f"https://connect.stripe.com/setup/e/{account_id}/")
    assert sum(1 for method, path, *_ in shop.stripe.requests if (method, path) == ("POST", "/v1/accounts")) == creates
    assert len(shop.stripe.accounts) == 1 and await admin_db.fetchval("select count(*) from creator_payout_account") == 1
    # No call found a transaction of the app open (the one sequential call is the clean measure).
    assert watch.calls("POST /v1/account_links")[-1] == []
    assert (await shop.gql.ok(ACCOUNT, token=creator.token))["viewer"]["payoutAccount"]["requirements"][:1] == [
        "business_profile.mcc"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"returnUrl": "/payouts/done"}, "returnUrl"),
    ({"returnUrl": "ftp://testserver/payouts"}, "returnUrl"),
    ({"refreshUrl": "https://evil.example/steal"}, "refreshUrl"),
    ({"refreshUrl": "http://testserver/" + "a" * 2100}, "refreshUrl"),
    ({"returnUrl": "http://[::1"}, "returnUrl"),
])
async def test_bad_urls_are_typed_errors_and_create_nothing(shop: Shop, admin_db, changes, field):  # noqa: F811
    body = await shop.gql(ONBOARD, onboarding_input(shop.org, **changes), shop.creator.token)
    payload = body["data"]["startCreatorPayoutOnboarding"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["input", field])]
    assert payload["account"] is None and payload["onboardingUrl"] is None
    assert shop.stripe.accounts == {} and shop.stripe.requests == []
    assert await admin_db.fetchval("select count(*) from creator_payout_account") == 0


async def test_an_unknown_organization_id_is_not_found(shop: Shop, admin_db):  # noqa: F811
    body = await shop.gql(ONBOARD, {"input": {**onboarding_input(shop.org)["input"], "organizationId": "nonsense"}},
                          shop.creator.token)
    payload = body["data"]["startCreatorPayoutOnboarding"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "organizationId"])]
    assert shop.stripe.accounts == {}


async def test_onboarding_authorization_matrix(shop: Shop, admin_db):  # noqa: F811
    actors = await make_actors(shop.factory, with_role=OrgRole.CREATOR, without_role=OrgRole.MEMBER)

    async def snapshot() -> Any:
        return (await admin_db.fetchval("select count(*) from creator_payout_account"), len(shop.stripe.accounts))

    await assert_authz_matrix(shop.gql, actors, ONBOARD, onboarding_input(actors.org), path=[*PATH, "account"],
                              allowed={"staff_with_permission"}, snapshot=snapshot)
    assert await snapshot() == (1, 1)
    # An owner (who creates too) may; staff of another organization naming this one may not.
    owner = await shop.gql.ok(ONBOARD, onboarding_input(shop.org), shop.owner.token)
    assert owner["startCreatorPayoutOnboarding"]["account"]["transfersActive"] is False
    refused = await shop.gql(ONBOARD, onboarding_input(actors.org), actors.other_staff.token,
                             headers={"x-codex-organization": str(actors.org)})
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}
    assert await snapshot() == (2, 2)


async def test_account_updated_turns_transfers_on_and_off_and_never_regresses(shop: Shop, admin_db):  # noqa: F811
    account_id = await onboard(shop, shop.creator)  # complete_onboarding's signed event went through the webhook
    onboarded = [e for e in shop.stripe.events if e["type"] == "account.updated"][-1]
    stored = await admin_db.fetchrow("select outcome, processed_at from stripe_event where id = $1", onboarded["id"])
    assert stored["outcome"] == "payout_account_updated" and stored["processed_at"] is not None
    row = await admin_db.fetchrow("select * from creator_payout_account where account_id = $1", account_id)
    assert (row["details_submitted"], row["payouts_enabled"], row["transfers_active"], row["disabled_reason"]) == (
        True, True, True, None)

    await shop.stripe.require_more(account_id, ["individual.verification.document", "external_account"])
    account = (await shop.gql.ok(ACCOUNT, token=shop.creator.token))["viewer"]["payoutAccount"]
    assert account == {"detailsSubmitted": True, "payoutsEnabled": False, "transfersActive": False,
                       "requirements": ["individual.verification.document", "external_account"],
                       "disabledReason": "requirements.past_due"}

    # The onboarding event again, under a new id (Stripe resends; events arrive out of order): the account's
    # current state is read from the provider, so nothing goes back to "enabled".
    late = {**onboarded, "id": onboarded["id"] + "_late"}
    assert (await shop.deliver(late)).status_code == 200
    assert (await shop.gql.ok(ACCOUNT, token=shop.creator.token))["viewer"]["payoutAccount"] == account
    assert (await shop.deliver(onboarded)).status_code == 200  # a replay of the same event: stored once
    assert await admin_db.fetchval("select count(*) from stripe_event where id = $1", onboarded["id"]) == 1


async def test_an_account_the_provider_no_longer_lets_us_read_cannot_receive_transfers(shop: Shop,  # noqa: F811
                                                                                       admin_db):
    account_id = await onboard(shop, shop.creator)
    stale = [e for e in shop.stripe.events if e["type"] == "account.updated"][-1]  # says: transfers active
    del shop.stripe.accounts[account_id]  # disconnected: reading it is refused from now on
    late = {**stale, "id": stale["id"] + "_after_disconnect"}
    assert (await shop.deliver(late)).status_code == 200
    assert (await shop.gql.ok(ACCOUNT, token=shop.creator.token))["viewer"]["payoutAccount"] | {"requirements": []} == {
        "detailsSubmitted": True, "payoutsEnabled": False, "transfersActive": False, "requirements": [],
        "disabledReason": "platform.unreadable"}


async def test_account_updated_for_an_unknown_account_is_stored_and_ignored(shop: Shop, admin_db):  # noqa: F811
    connect_webhooks(shop)
    services = shop.app.state.runtime["services"]
    # An account this server never recorded (made straight at the stand-in), then onboarded there.
    made = await services.payments.create_connected_account(email=None, country=None, metadata={}, idempotency_key="x")
    event = await shop.stripe.complete_onboarding(made.account_id)
    row = await admin_db.fetchrow("select type, outcome, processed_at from stripe_event where id = $1", event["id"])
    assert (row["type"], row["outcome"]) == ("account.updated", "ignored") and row["processed_at"] is not None
    assert await admin_db.fetchval("select count(*) from creator_payout_account") == 0
    missing = shop.stripe.event("account.updated", {"id": "acct_nobody", "object": "account"})
    assert (await shop.deliver(missing)).status_code == 200  # the provider does not know it either: still ignored
    assert await admin_db.fetchval("select outcome from stripe_event where id = $1", missing["id"]) == "ignored"


async def test_a_connect_event_signed_with_the_connect_secret_is_accepted(shop: Shop, settings, admin_db):  # noqa: F811
    from codex_graphql.payments.stripe import StripeProvider

    provider = StripeProvider("sk_test_codex", "whsec_platform", shop.stripe.base_url,
                              connect_webhook_secret="whsec_connect")
    payload, signature = shop.stripe.signed(shop.stripe.event("account.updated", {"id": "acct_1"}), secret="whsec_connect")
    assert provider.verify_webhook(payload, signature)["type"] == "account.updated"
    from codex_graphql.payments import WebhookError

    with pytest.raises(WebhookError):
        StripeProvider("sk_test_codex", "whsec_platform", shop.stripe.base_url).verify_webhook(payload, signature)
    with pytest.raises(WebhookError):
        provider.verify_webhook(*shop.stripe.signed(shop.stripe.event("x", {"id": "y"}), secret="whsec_other"))


async def test_the_local_provider_onboards_through_its_own_page_and_pays(app, gql, http, factory, admin_db):
    owner = await factory.user()
    org = await factory.organization(owner)
    creator = await factory.user()
    await factory.member(org, creator, OrgRole.CREATOR)
    started = (await gql.ok(ONBOARD, onboarding_input(org), creator.token))["startCreatorPayoutOnboarding"]
    url = started["onboardingUrl"]
    assert url.startswith("http://testserver/local/connect/onboard/acct_local_")
    done = await http.post(url.removeprefix("http://testserver"))
    assert done.status_code == 303 and done.headers["location"] == "http://testserver/payouts/done"
    account = (await gql.ok(ACCOUNT, token=creator.token))["viewer"]["payoutAccount"]
    assert account == {"detailsSubmitted": True, "payoutsEnabled": True, "transfersActive": True, "requirements": [],
                       "disabledReason": None}
    assert await admin_db.fetchval("select outcome from stripe_event") == "payout_account_updated"
    # The demo's payout: an earning in the ledger, then the job's transfer (always made by the local provider).
    # (recorded 8 days ago: past the default 7-day payout hold)
    await admin_db.execute("insert into earning_entry (id, organization_id, kind, party, user_id, currency, amount_cents, "
                           "weight, created_at) values (gen_random_uuid(), $1, 'SALE', 'CREATOR', $2, 'USD', 2500, "
                           "1000000, now() - interval '8 days')", org, creator.user_id)
    services = app.state.runtime["services"]
    assert (await payout_jobs.run_payouts(services.db, services.payments)).paid == 1
    paid = await admin_db.fetchrow("select status, amount_cents, transfer_id from payout")
    assert (paid["status"], paid["amount_cents"]) == ("PAID", 2500) and paid["transfer_id"].startswith("tr_local_")


async def test_when_the_provider_cannot_be_read_the_event_waits_for_the_job(shop: Shop, admin_db):  # noqa: F811
    from codex_graphql.commerce import webhooks

    connect_webhooks(shop)
    started = await shop.gql.ok(ONBOARD, onboarding_input(shop.org), shop.creator.token)
    assert started["startCreatorPayoutOnboarding"]["account"]["transfersActive"] is False
    account_id = next(iter(shop.stripe.accounts))
    shop.stripe.webhook_url = None  # the event is made now and delivered below, while Stripe's API is down
    event = await shop.stripe.complete_onboarding(account_id)
    shop.stripe.fail_status = 500
    assert (await shop.deliver(event)).status_code == 200  # stored, with a retry job: Stripe stops resending
    row = await admin_db.fetchrow("select outcome, processed_at from stripe_event where id = $1", event["id"])
    assert (row["outcome"], row["processed_at"]) == (None, None)
    assert await admin_db.fetchval("select transfers_active from creator_payout_account") is False
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'handle_payment_event'") == 1
    services = shop.app.state.runtime["services"]
    with pytest.raises(stripe.APIError):  # the job's first try: still down (Dramatiq retries it)
        await webhooks.handle(services.db, event["id"], services.payments)
    shop.stripe.fail_status = None
    assert await webhooks.handle(services.db, event["id"], services.payments) == "payout_account_updated"
    assert await admin_db.fetchval("select transfers_active from creator_payout_account") is True
    assert await webhooks.handle(services.db, event["id"], services.payments) == "payout_account_updated"  # done once


async def test_a_revoked_session_onboards_nothing(shop: Shop, admin_db):  # noqa: F811
    logout = await shop.gql.ok("mutation { logout(input: {}) { errors { code } } }", {}, shop.creator.token)
    assert logout["logout"]["errors"] == []
    answer = await shop.gql(ONBOARD, onboarding_input(shop.org), shop.creator.token)
    assert (answer["data"] or {}).get("startCreatorPayoutOnboarding") is None
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"UNAUTHENTICATED"}
    assert await admin_db.fetchval("select count(*) from creator_payout_account") == 0
    assert [path for method, path, _, _ in shop.stripe.requests if method == "POST"] == []  # Stripe never called
