"""Stripe Connect for creator payouts: the Stripe provider through the official library against the
stand-in (Express accounts, onboarding links, signed ``account.updated`` events, transfers and reversals
with Stripe's refusals), and the local provider, whose onboarding page is served by the app and delivers
the event through the app's own webhook path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codex_graphql.payments import ConnectRefused, TransferDeclined, WebhookError
from codex_graphql.payments import local_connect as local_connect_module
from codex_graphql.payments.factory import webhook_secret
from codex_graphql.payments.local import LocalProvider
from codex_graphql.payments.objects import connected_account
from codex_graphql.payments.stripe import StripeProvider
from tests.support.live_server import live_server
from tests.support.stripe_standin import StripeStandIn, running_standin
from tests.support.stripe_standin_connect import ONBOARDING_FIELDS

SECRET = "whsec_connect_test"


@pytest.fixture
async def stripe() -> AsyncIterator[tuple[StripeProvider, StripeStandIn]]:
    async with running_standin(SECRET) as standin:
        yield StripeProvider("sk_test_codex", SECRET, standin.base_url), standin


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[bytes, str | None]]]]:
    """A webhook endpoint that records each delivery's raw body and Stripe-Signature header."""
    deliveries: list[tuple[bytes, str | None]] = []

    async def hook(request: Request) -> JSONResponse:
        deliveries.append((await request.body(), request.headers.get("stripe-signature")))
        return JSONResponse({"received": True})

    async with live_server(Starlette(routes=[Route("/webhooks/stripe", hook, methods=["POST"])])) as address:
        yield f"http://{address}/webhooks/stripe", deliveries


async def _account(provider: StripeProvider | LocalProvider, key: str = "creator-1") -> str:
    account = await provider.create_connected_account(email="cat@example.com", country="us",
                                                      metadata={"creator_id": "c1"}, idempotency_key=key)
    return account.account_id


async def _payable(provider: StripeProvider, standin: StripeStandIn, key: str = "creator-1") -> str:
    account_id = await _account(provider, key)
    await standin.complete_onboarding(account_id)
    return account_id


async def _transfer(provider: StripeProvider | LocalProvider, destination: str, amount: int, key: str,
                    currency: str = "USD") -> Any:
    return await provider.create_transfer(destination=destination, amount_cents=amount, currency=currency,
                                          transfer_group="payout-run-7", metadata={"payout_id": key},
                                          idempotency_key=key)


# -- Stripe, through the official library against the stand-in ------------------------------------------
async def test_an_express_account_is_created_once_per_key_and_read_back(stripe):
    provider, standin = stripe
    created = await provider.create_connected_account(email="cat@example.com", country="us",
                                                      metadata={"creator_id": "c1"}, idempotency_key="acct-key")
    again = await provider.create_connected_account(email="cat@example.com", country="us",
                                                    metadata={"creator_id": "c1"}, idempotency_key="acct-key")
    assert again == created and list(standin.accounts) == [created.account_id]
    stored = standin.accounts[created.account_id]
    assert (stored["type"], stored["email"], stored["country"], stored["metadata"]) == (
        "express", "cat@example.com", "US", {"creator_id": "c1"})
    assert stored["capabilities"] == {"transfers": "inactive"}  # requested, not active before onboarding
    assert [key for method, path, _, key in standin.requests if path == "/v1/accounts"] == ["acct-key", "acct-key"]
    assert (created.payouts_enabled, created.details_submitted, created.transfers_active) == (False, False, False)
    assert created.requirements_due == tuple(ONBOARDING_FIELDS)
    assert created.disabled_reason == "requirements.past_due"
    assert await provider.retrieve_connected_account(created.account_id) == created
    with pytest.raises(ConnectRefused) as unknown:
        await provider.retrieve_connected_account("acct_missing")
    assert unknown.value.code == "account_invalid"  # Stripe's 403 for an account the platform cannot reach
    # No email and no country: neither is sent (Stripe then uses the platform's country).
    bare = await provider.create_connected_account(email=None, country=None, metadata={}, idempotency_key="bare")
    sent = [params for _, path, params, key in standin.requests if key == "bare"][0]
    assert "email" not in sent and "country" not in sent and bare.account_id != created.account_id


async def test_an_account_link_is_for_onboarding_and_expires_in_minutes(stripe):
    provider, standin = stripe
    account_id = await _account(provider)
    before = datetime.now(UTC)
    link = await provider.create_account_link(account_id, return_url="https://shop.example/payouts/done",
                                              refresh_url="https://shop.example/payouts/again")
    assert link.url.startswith(f"https://connect.stripe.com/setup/e/{account_id}/")
    assert before - timedelta(seconds=1) < link.expires_at - timedelta(minutes=5) <= datetime.now(UTC)
    made = standin.account_links[-1]
    assert (made["account"], made["type"], made["return_url"], made["refresh_url"]) == (
        account_id, "account_onboarding", "https://shop.example/payouts/done", "https://shop.example/payouts/again")
    with pytest.raises(ConnectRefused) as unknown:
        await provider.create_account_link("acct_missing", return_url="https://a.example", refresh_url="https://b.example")
    assert unknown.value.code == "resource_missing"


async def test_onboarding_and_new_requirements_arrive_as_signed_account_updated_events(stripe, receiver):
    provider, standin = stripe
    url, deliveries = receiver
    standin.webhook_url = url
    account_id = await _account(provider)
    sent = await standin.complete_onboarding(account_id)
    assert len(deliveries) == 1
    payload, signature = deliveries[0]
    event = provider.verify_webhook(payload, signature)
    assert (event["id"], event["type"], event["account"]) == (sent["id"], "account.updated", account_id)
    assert event["data"]["previous_attributes"]["payouts_enabled"] is False
    enabled = connected_account(event["data"]["object"])
    assert (enabled.account_id, enabled.payouts_enabled, enabled.details_submitted, enabled.transfers_active) == (
        account_id, True, True, True)
    assert (enabled.requirements_due, enabled.disabled_reason) == ((), None)
    assert await provider.retrieve_connected_account(account_id) == enabled
    with pytest.raises(WebhookError):  # signed with another secret: refused
        StripeProvider("sk_test_codex", "whsec_other", standin.base_url).verify_webhook(payload, signature)

    await standin.require_more(account_id, ["individual.verification.document", "external_account"])
    payload, signature = deliveries[1]
    restricted = connected_account(provider.verify_webhook(payload, signature)["data"]["object"])
    assert (restricted.payouts_enabled, restricted.transfers_active) == (False, False)
    assert restricted.requirements_due == ("individual.verification.document", "external_account")
    assert restricted.disabled_reason == "requirements.past_due"
    assert await provider.retrieve_connected_account(account_id) == restricted


def test_requirements_read_currently_due_then_past_due_once():
    account = {"id": "acct_1", "payouts_enabled": True, "details_submitted": True,
               "capabilities": {"transfers": "pending"},
               "requirements": {"currently_due": ["external_account", "business_type"],
                                "past_due": ["business_type", "tos_acceptance.date"], "disabled_reason": None}}
    read = connected_account(account)
    assert read.requirements_due == ("external_account", "business_type", "tos_acceptance.date")
    assert (read.payouts_enabled, read.transfers_active, read.disabled_reason) == (True, False, None)
    assert connected_account({"id": "acct_2"}).requirements_due == ()


async def test_a_transfer_is_made_once_per_key_from_the_platform_balance(stripe):
    provider, standin = stripe
    standin.available_balance["usd"] = 10_000
    account_id = await _payable(provider, standin)
    first = await _transfer(provider, account_id, 2_500, "payout-1")
    again = await _transfer(provider, account_id, 2_500, "payout-1")
    assert again == first and list(standin.transfers) == [first.transfer_id]
    assert (first.amount_cents, first.currency, first.reversed_cents, first.reversal_id) == (2_500, "USD", 0, None)
    assert standin.available_balance["usd"] == 7_500  # taken once
    stored = standin.transfers[first.transfer_id]
    assert (stored["destination"], stored["currency"], stored["transfer_group"], stored["metadata"]) == (
        account_id, "usd", "payout-run-7", {"payout_id": "payout-1"})
    assert [key for method, path, _, key in standin.requests if path == "/v1/transfers"] == ["payout-1", "payout-1"]
    assert [e["type"] for e in standin.events if e["type"].startswith("transfer.")] == ["transfer.created"]


async def test_transfers_are_declined_with_stripes_codes(stripe):
    provider, standin = stripe
    standin.available_balance["eur"] = 1_000
    account_id = await _payable(provider, standin)
    with pytest.raises(TransferDeclined) as poor:
        await _transfer(provider, account_id, 1_500, "payout-poor", currency="EUR")
    assert poor.value.code == "balance_insufficient" and standin.available_balance["eur"] == 1_000
    with pytest.raises(TransferDeclined) as other_currency:
        await _transfer(provider, account_id, 100, "payout-usd")
    assert other_currency.value.code == "balance_insufficient"  # the balance is per currency
    standin.available_balance["eur"] = 5_000
    with pytest.raises(TransferDeclined) as replayed:  # Stripe keeps the refusal under its key
        await _transfer(provider, account_id, 1_500, "payout-poor", currency="EUR")
    assert replayed.value.code == "balance_insufficient"
    assert (await _transfer(provider, account_id, 1_500, "payout-poor:2", currency="EUR")).amount_cents == 1_500

    waiting = await _account(provider, "creator-2")  # onboarding not finished
    with pytest.raises(TransferDeclined) as not_onboarded:
        await _transfer(provider, waiting, 100, "payout-2", currency="EUR")
    assert not_onboarded.value.code == "insufficient_capabilities_for_transfer"
    await standin.require_more(account_id, ["individual.verification.document"])
    with pytest.raises(TransferDeclined) as restricted:
        await _transfer(provider, account_id, 100, "payout-3", currency="EUR")
    assert restricted.value.code == "insufficient_capabilities_for_transfer"
    with pytest.raises(TransferDeclined) as unknown:
        await _transfer(provider, "acct_missing", 100, "payout-4", currency="EUR")
    assert unknown.value.code == "resource_missing" and "acct_missing" in unknown.value.message
    assert standin.available_balance["eur"] == 3_500 and len(standin.transfers) == 1


async def test_a_reversal_takes_part_back_once_per_key_and_never_more_than_remains(stripe):
    provider, standin = stripe
    standin.available_balance["usd"] = 3_000
    account_id = await _payable(provider, standin)
    transfer = await _transfer(provider, account_id, 3_000, "payout-1")
    partial = await provider.reverse_transfer(transfer.transfer_id, amount_cents=1_000, idempotency_key="refund-1")
    assert (partial.transfer_id, partial.amount_cents, partial.currency, partial.reversed_cents) == (
        transfer.transfer_id, 3_000, "USD", 1_000)
    assert partial.reversal_id is not None and partial.reversal_id.startswith("trr_")
    assert await provider.reverse_transfer(transfer.transfer_id, amount_cents=1_000, idempotency_key="refund-1") == partial
    assert standin.transfers[transfer.transfer_id]["reversals"]["total_count"] == 1
    assert standin.available_balance["usd"] == 1_000  # the reversal came back to the platform once
    with pytest.raises(TransferDeclined, match=r"remaining amount \(2000\)") as beyond:
        await provider.reverse_transfer(transfer.transfer_id, amount_cents=2_500, idempotency_key="refund-2")
    assert beyond.value.code is None and standin.transfers[transfer.transfer_id]["amount_reversed"] == 1_000
    rest = await provider.reverse_transfer(transfer.transfer_id, amount_cents=2_000, idempotency_key="refund-3")
    assert rest.reversed_cents == 3_000 and standin.transfers[transfer.transfer_id]["reversed"] is True
    with pytest.raises(TransferDeclined, match="fully reversed"):
        await provider.reverse_transfer(transfer.transfer_id, amount_cents=1, idempotency_key="refund-4")
    with pytest.raises(TransferDeclined) as unknown:
        await provider.reverse_transfer("tr_missing", amount_cents=1, idempotency_key="refund-5")
    assert unknown.value.code == "resource_missing"


# -- the local demo provider ------------------------------------------------------------------------------
def _local(state: Path | None = None) -> LocalProvider:
    return LocalProvider("http://testserver", "local-connect-secret", SECRET, "test", state_path=state)


async def test_local_accounts_links_and_transfers_behave_like_stripes(tmp_path):
    provider = _local(tmp_path / "local-billing.json")
    account_id = await _account(provider)
    assert account_id.startswith("acct_local_") and await _account(provider) == account_id
    assert await _account(provider, "creator-2") != account_id
    account = await provider.retrieve_connected_account(account_id)
    assert (account.payouts_enabled, account.transfers_active, account.disabled_reason) == (
        False, False, "requirements.past_due")
    link = await provider.create_account_link(account_id, return_url="http://testserver/payouts?done=1",
                                              refresh_url="http://testserver/payouts/again")
    parts = urlsplit(link.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://testserver/local/connect/onboard/{account_id}"
    assert parse_qs(parts.query)["return_url"] == ["http://testserver/payouts?done=1"]
    assert timedelta(minutes=4) < link.expires_at - datetime.now(UTC) <= timedelta(minutes=5)
    with pytest.raises(ConnectRefused):
        await provider.create_account_link("acct_local_missing", return_url="http://a", refresh_url="http://b")

    with pytest.raises(TransferDeclined) as early:
        await _transfer(provider, account_id, 900, "payout-early")
    assert early.value.code == "insufficient_capabilities_for_transfer"
    event = provider.verify_webhook(payload := provider.complete_onboarding(account_id), provider.signature(payload))
    assert event["type"] == "account.updated" and event["account"] == account_id
    assert connected_account(event["data"]["object"]).payouts_enabled is True
    with pytest.raises(TransferDeclined):  # the refusal stays with its key, as at Stripe
        await _transfer(provider, account_id, 900, "payout-early")
    transfer = await _transfer(provider, account_id, 900, "payout-1")
    assert transfer.transfer_id.startswith("tr_local_") and await _transfer(provider, account_id, 900, "payout-1") == transfer
    with pytest.raises(TransferDeclined) as unknown:
        await _transfer(provider, "acct_local_missing", 900, "payout-2")
    assert unknown.value.code == "resource_missing"

    partial = await provider.reverse_transfer(transfer.transfer_id, amount_cents=400, idempotency_key="refund-1")
    assert partial.reversed_cents == 400 and partial.reversal_id and partial.reversal_id.startswith("trr_local_")
    assert await provider.reverse_transfer(transfer.transfer_id, amount_cents=400, idempotency_key="refund-1") == partial
    with pytest.raises(TransferDeclined, match="remaining"):
        await provider.reverse_transfer(transfer.transfer_id, amount_cents=600, idempotency_key="refund-2")
    # Another process (the worker) sees the same accounts and transfers through the state file.
    other = _local(tmp_path / "local-billing.json")
    assert (await other.retrieve_connected_account(account_id)).payouts_enabled is True
    after = await other.reverse_transfer(transfer.transfer_id, amount_cents=500, idempotency_key="refund-3")
    assert after.reversed_cents == 900
    assert (await provider.reverse_transfer(transfer.transfer_id, amount_cents=400, idempotency_key="refund-1")
            ).reversed_cents == 900  # the first provider re-read what the other wrote


async def test_the_local_onboarding_page_enables_the_account_through_the_apps_webhook_path(
        app, http, settings, admin_db, monkeypatch):
    provider = app.state.runtime["services"].payments
    assert isinstance(provider, LocalProvider)
    account_id = await _account(provider)
    link = await provider.create_account_link(account_id, return_url="http://testserver/payouts/done",
                                              refresh_url="http://testserver/payouts/again")
    path = link.url.removeprefix("http://testserver")
    page = await http.get(path)
    assert page.status_code == 200 and 'id="complete"' in page.text and account_id in page.text
    assert not (await provider.retrieve_connected_account(account_id)).payouts_enabled  # looking changes nothing
    assert await admin_db.fetchval("select count(*) from stripe_event") == 0
    forged = path.replace("done", "evil")  # another return_url under the same signature
    assert (await http.post(forged)).status_code == 404

    done = await http.post(path)
    assert done.status_code == 303 and done.headers["location"] == "http://testserver/payouts/done"
    assert (await provider.retrieve_connected_account(account_id)).payouts_enabled
    rows = await admin_db.fetch("select id, type, payload, processed_at, outcome from stripe_event")
    # The webhook intake stores only what the provider's verify_webhook accepted.
    assert [(r["type"], r["outcome"]) for r in rows] == [("account.updated", "ignored")]
    assert rows[0]["processed_at"] is not None
    stored = rows[0]["payload"]
    event = orjson.loads(stored) if isinstance(stored, str) else stored
    assert event["account"] == account_id and connected_account(event["data"]["object"]).payouts_enabled
    assert (await http.post(path)).status_code == 303  # completed twice: the same event, stored once
    assert await admin_db.fetchval("select count(*) from stripe_event") == 1
    # A restarted dev server finds the account enabled in DATA_DIR.
    restarted = LocalProvider(settings.public_base_url, settings.secret_key, webhook_secret(settings),
                              settings.environment, state_path=settings.data_dir / "local-billing.json")
    assert (await restarted.retrieve_connected_account(account_id)).payouts_enabled

    monkeypatch.setattr(local_connect_module, "LINK_SECONDS", -1)
    expired = await provider.create_account_link(account_id, return_url="http://testserver/payouts/done",
                                                 refresh_url="http://testserver/payouts/again")
    assert expired.expires_at.timestamp() < time.time()
    stale = await http.get(expired.url.removeprefix("http://testserver"))
    assert stale.status_code == 303 and stale.headers["location"] == "http://testserver/payouts/again"
