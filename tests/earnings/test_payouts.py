"""The payout job against real PostgreSQL and the Stripe stand-in (transfers counted at the stand-in): run twice,
one after the other or at once, it pays once; a balance below the organization's minimum waits; a declined transfer
is FAILED with the provider's reason and retried by the next run under a new idempotency key; a PENDING payout left
by a lost answer is found by its transfer group, one never made is made on resumption; creators whose account cannot receive transfers are skipped with
their balance kept; a refund after a payout leaves a negative balance that the next payout nets."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.earnings.payouts import period_start
from codex_graphql.org_settings.models import PayoutSchedule
from codex_graphql.relay import decode_id
from tests.earnings.payout_support import (
    DECEMBER,
    FEBRUARY,
    JANUARY,
    MY_PAYOUTS,
    REFUND,
    SETTINGS,
    balance,
    onboard,
    payouts_of,
    run,
    sell,
    without_hold,
)
from tests.support.commerce import Shop, shop  # noqa: F401  (the fixture)


@pytest.fixture(autouse=True)
async def _pay_at_once(request, shop: Shop):  # noqa: F811
    """Every test here pays sales made a moment ago (no hold), except the hold's own test."""
    if "keeps_the_hold" not in request.node.name:
        await without_hold(shop)


def transfer_keys(shop: Shop) -> list[str | None]:  # noqa: F811
    return [key for method, path, _, key in shop.stripe.requests if (method, path) == ("POST", "/v1/transfers")]


def test_payout_periods_start_on_monday_or_the_first_utc():
    assert period_start(PayoutSchedule.MONTHLY, datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == date(2026, 12, 1)
    assert period_start(PayoutSchedule.WEEKLY, datetime(2026, 12, 9, 12, tzinfo=UTC)) == date(2026, 12, 7)
    assert period_start(PayoutSchedule.WEEKLY, datetime(2026, 12, 7, 0, 0, tzinfo=UTC)) == date(2026, 12, 7)
    assert period_start(PayoutSchedule.WEEKLY, datetime(2026, 12, 6, 23, 59, tzinfo=UTC)) == date(2026, 11, 30)


async def test_a_payout_run_twice_pays_once(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    await sell(shop, 2)
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 3998
    first = await run(shop)
    assert (first.reserved, first.paid, first.failed, first.skipped) == (1, 1, 0, 0)
    second = await run(shop)
    assert (second.reserved, second.paid) == (0, 0)
    transfers = shop.stripe.transfers_to(account_id)
    assert [(t["amount"], t["currency"]) for t in transfers] == [(3998, "usd")]
    [payout] = await payouts_of(admin_db, shop.creator.user_id)
    assert (payout["status"], payout["amount_cents"], payout["period_start"], payout["attempt"]) == (
        "PAID", 3998, date(2026, 12, 1), 1)
    assert payout["transfer_id"] == transfers[0]["id"]
    assert transfers[0]["transfer_group"] == str(payout["id"])
    assert transfers[0]["metadata"]["payout_id"] == str(payout["id"])
    assert transfer_keys(shop) == [f"payout:{payout['id']}:1"]
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 0
    assert shop.stripe.available_balance["usd"] == 1_000_000 - 3998

    mine = (await shop.gql.ok(MY_PAYOUTS, token=shop.creator.token))["viewer"]
    assert mine["payouts"]["totalCount"] == 1
    node = mine["payouts"]["nodes"][0]
    assert (node["amountCents"], node["status"], node["periodStart"], node["organization"], node["failureCode"]) == (
        3998, "PAID", "2026-12-01", {"slug": "shop"}, None)
    assert decode_id(node["id"], "Payout") == payout["id"] and node["paidAt"] is not None
    assert mine["payoutBalances"] == [{"currency": "USD", "balanceCents": 0, "pendingPayoutCents": 0,
                                       "paidOutCents": 3998, "organization": {"slug": "shop"}}]

    # More sales in the same period wait for the next one (one payout per creator, currency and period).
    await sell(shop)
    assert (await run(shop)).paid == 0 and len(shop.stripe.transfers_to(account_id)) == 1
    assert (await run(shop, now=JANUARY)).paid == 1
    assert [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [3998, 1999]


async def test_concurrent_runs_pay_once(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    second = await shop.factory.user(name="Second Creator")
    await shop.factory.member(shop.org, second, OrgRole.CREATOR)
    other_account = await onboard(shop, second)
    await sell(shop, 3)
    await admin_db.execute("update content set creator_id = $1 where organization_id = $2", second.user_id, shop.org)
    await sell(shop)
    runs = await asyncio.gather(*(run(shop) for _ in range(4)))
    assert sum(r.paid for r in runs) == 2
    assert [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [3 * 1999]
    assert [t["amount"] for t in shop.stripe.transfers_to(other_account)] == [1999]
    assert len(shop.stripe.transfers) == 2
    assert [p["status"] for p in await payouts_of(admin_db, shop.creator.user_id)] == ["PAID"]
    assert [p["status"] for p in await payouts_of(admin_db, second.user_id)] == ["PAID"]
    assert await admin_db.fetchval("select sum(paid_out_cents) from creator_earning_summary") == 4 * 1999


async def test_a_balance_below_the_minimum_waits(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    changed = await shop.gql.ok(SETTINGS, {"input": {"payoutMinimumCents": 5000}}, shop.owner.token)
    assert changed["updateOrganizationSettings"]["settings"] == {"payoutSchedule": "MONTHLY", "payoutMinimumCents": 5000}
    await sell(shop, 2)
    assert (await run(shop)).reserved == 0
    assert shop.stripe.transfers_to(account_id) == [] and await payouts_of(admin_db, shop.creator.user_id) == []
    await sell(shop)  # 5997 now
    assert (await run(shop)).paid == 1
    assert [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [5997]


async def test_payout_settings_are_validated(shop: Shop):  # noqa: F811
    for bad in (-1, 10_000_001):
        body = await shop.gql(SETTINGS, {"input": {"payoutMinimumCents": bad}}, shop.owner.token)
        errors = body["data"]["updateOrganizationSettings"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["input", "payoutMinimumCents"])]
    body = await shop.gql(SETTINGS, {"input": {"payoutSchedule": None}}, shop.owner.token)
    assert body["data"]["updateOrganizationSettings"]["errors"][0]["field"] == ["input", "payoutSchedule"]
    weekly = await shop.gql.ok(SETTINGS, {"input": {"payoutSchedule": "WEEKLY", "payoutMinimumCents": 0}},
                               shop.owner.token)
    assert weekly["updateOrganizationSettings"]["settings"] == {"payoutSchedule": "WEEKLY", "payoutMinimumCents": 0}


async def test_weekly_organizations_pay_each_week(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    await shop.gql.ok(SETTINGS, {"input": {"payoutSchedule": "WEEKLY"}}, shop.owner.token)
    account_id = await onboard(shop, shop.creator)
    await sell(shop)
    assert (await run(shop, now=datetime(2026, 12, 9, tzinfo=UTC))).paid == 1
    await sell(shop)
    assert (await run(shop, now=datetime(2026, 12, 13, tzinfo=UTC))).paid == 0  # the same week
    assert (await run(shop, now=datetime(2026, 12, 14, tzinfo=UTC))).paid == 1
    assert [p["period_start"] for p in await payouts_of(admin_db, shop.creator.user_id)] == [
        date(2026, 12, 7), date(2026, 12, 14)]
    assert len(shop.stripe.transfers_to(account_id)) == 2


async def test_a_declined_transfer_fails_with_the_reason_and_is_retried_with_a_new_key(shop: Shop, admin_db):  # noqa: F811
    account_id = await onboard(shop, shop.creator)
    await sell(shop)
    shop.stripe.available_balance["usd"] = 100  # the platform's balance cannot cover it
    assert (await run(shop)).failed == 1
    [payout] = await payouts_of(admin_db, shop.creator.user_id)
    assert (payout["status"], payout["failure_code"], payout["attempt"]) == ("FAILED", "balance_insufficient", 1)
    assert "insufficient available funds" in payout["failure_reason"]
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 1999  # back in the balance
    mine = (await shop.gql.ok(MY_PAYOUTS, token=shop.creator.token))["viewer"]["payouts"]["nodes"]
    assert (mine[0]["status"], mine[0]["failureCode"]) == ("FAILED", "balance_insufficient")

    assert (await run(shop)).failed == 1  # still no funds: attempt 2, a new key (the first one keeps its refusal)
    shop.stripe.available_balance["usd"] = 10_000
    assert (await run(shop)).paid == 1
    [payout] = await payouts_of(admin_db, shop.creator.user_id)
    assert (payout["status"], payout["attempt"], payout["failure_code"], payout["failure_reason"]) == (
        "PAID", 3, None, None)
    assert transfer_keys(shop) == [f"payout:{payout['id']}:{n}" for n in (1, 2, 3)]
    assert [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [1999]
    assert await run(shop) and len(shop.stripe.transfers) == 1


async def test_an_account_without_transfers_is_skipped_and_keeps_its_balance(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    await shop.stripe.require_more(account_id, ["individual.verification.document"])  # transfers inactive
    nobody = await shop.factory.user()
    await shop.factory.member(shop.org, nobody, OrgRole.CREATOR)  # never onboarded
    await sell(shop)
    await admin_db.execute("update content set creator_id = $1 where organization_id = $2", nobody.user_id, shop.org)
    await sell(shop)
    first = await run(shop)
    assert (first.reserved, first.skipped) == (0, 2)
    assert shop.stripe.requests and transfer_keys(shop) == []
    assert await admin_db.fetchval("select count(*) from payout") == 0
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 1999
    await shop.stripe.complete_onboarding(account_id)  # the requirements met: transfers active again
    assert (await run(shop)).paid == 1 and [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [1999]


async def run_losing_the_answer(shop: Shop, monkeypatch, *, transfer_made: bool) -> Any:  # noqa: F811
    """One payout run whose transfer call gets no answer: the stand-in made the transfer and the connection dropped
    (``transfer_made``), or the request never left. The provider's own call is back in place afterwards."""
    provider = shop.app.state.runtime["services"].payments
    real = provider.create_transfer

    async def unanswered(**kwargs):
        if transfer_made:
            await real(**kwargs)
            raise ConnectionResetError("the connection dropped before the answer arrived")
        raise ConnectionRefusedError("the request never left")

    monkeypatch.setattr(provider, "create_transfer", unanswered)
    try:
        return await run(shop)
    finally:
        monkeypatch.setattr(provider, "create_transfer", real)


async def test_a_lost_answer_leaves_the_payout_pending_and_the_next_run_finds_and_records_it(
        shop: Shop, admin_db, monkeypatch):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    await sell(shop)
    lost = await run_losing_the_answer(shop, monkeypatch, transfer_made=True)
    assert (lost.reserved, lost.paid, lost.unknown) == (1, 0, 1)
    [payout] = await payouts_of(admin_db, shop.creator.user_id)
    assert payout["status"] == "PENDING"
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 0  # reserved: not paid twice meanwhile
    resumed = await run(shop)
    assert (resumed.reserved, resumed.paid) == (1, 1)
    # Resumed: looked up by its group first and found, so it is recorded without a second transfer request.
    assert transfer_keys(shop) == [f"payout:{payout['id']}:1"]
    assert ("GET", "/v1/transfers") in [(method, path) for method, path, _, _ in shop.stripe.requests]
    [transfer] = shop.stripe.transfers_to(account_id)
    assert transfer["amount"] == 1999
    assert (await payouts_of(admin_db, shop.creator.user_id))[0]["transfer_id"] == transfer["id"]


async def test_a_payout_whose_transfer_was_never_made_is_made_when_resumed(shop: Shop, admin_db,  # noqa: F811
                                                                          monkeypatch):
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    await sell(shop)
    lost = await run_losing_the_answer(shop, monkeypatch, transfer_made=False)
    assert lost.unknown == 1 and shop.stripe.transfers_to(account_id) == []
    assert (await run(shop)).paid == 1
    [payout] = await payouts_of(admin_db, shop.creator.user_id)
    [transfer] = shop.stripe.transfers_to(account_id)
    assert (payout["status"], payout["transfer_id"], transfer["amount"]) == ("PAID", transfer["id"], 1999)


async def test_a_payout_whose_answer_was_lost_is_found_by_its_group_once_the_key_is_forgotten(
        shop: Shop, admin_db, monkeypatch):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    await sell(shop)
    assert (await run_losing_the_answer(shop, monkeypatch, transfer_made=True)).unknown == 1
    shop.stripe.idempotent.clear()  # more than 24 hours later: Stripe no longer knows the key
    resumed = await run(shop)
    assert (resumed.reserved, resumed.paid) == (1, 1)
    [transfer] = shop.stripe.transfers_to(account_id)  # found by its group, not made a second time
    [payout] = await payouts_of(admin_db, shop.creator.user_id)
    assert (payout["status"], payout["transfer_id"], transfer["transfer_group"]) == ("PAID", transfer["id"],
                                                                                    str(payout["id"]))
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 0
    assert (await run(shop)).reserved == 0  # nothing left to pay


async def test_a_refund_after_a_payout_is_carried_as_a_negative_balance_and_netted(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    customer = await shop.factory.user()
    await shop.buy(customer)
    assert (await run(shop)).paid == 1
    purchase = await admin_db.fetchval("select id from purchase where user_id = $1", customer.user_id)
    from codex_graphql.relay import to_global_id

    refunded = await shop.gql.ok(REFUND, {"input": {"purchaseId": to_global_id("Purchase", purchase),
                                                    "idempotencyKey": uuid.uuid4().hex}}, shop.owner.token)
    assert refunded["refundPurchase"]["purchase"]["status"] == "REFUNDED"
    assert await balance(admin_db, shop.org, shop.creator.user_id) == -1999  # carried, never lost
    balances = (await shop.gql.ok(MY_PAYOUTS, token=shop.creator.token))["viewer"]["payoutBalances"]
    assert balances[0]["balanceCents"] == -1999
    await sell(shop)
    assert (await run(shop, now=JANUARY)).reserved == 0  # 0 now: nothing to pay
    await sell(shop, 2)
    assert (await run(shop, now=FEBRUARY)).paid == 1
    # Four sales, one refunded after it was paid out: 3 x 1999 transferred in all, cent for cent.
    assert [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [1999, 3998]
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 0
    assert DECEMBER < JANUARY < FEBRUARY


async def test_only_the_named_organization_runs(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    await onboard(shop, shop.creator)
    await sell(shop)
    assert (await run(shop, slug="someone-else")).organizations == 0
    assert await admin_db.fetchval("select count(*) from payout") == 0
    only = await run(shop, slug="shop")
    assert (only.organizations, only.paid) == (1, 1)


async def test_a_payout_keeps_the_hold_on_earnings_younger_than_payout_hold_days(shop: Shop, admin_db):  # noqa: F811
    shop.stripe.available_balance["usd"] = 1_000_000
    account_id = await onboard(shop, shop.creator)
    bad = await shop.gql(SETTINGS, {"input": {"payoutHoldDays": 91}}, shop.owner.token)
    assert [e["code"] for e in bad["data"]["updateOrganizationSettings"]["errors"]] == ["INVALID_INPUT"]
    await sell(shop, 2)
    # Nothing is payable yet: both sales are younger than the default 7-day hold.
    assert (await run(shop)).reserved == 0 and shop.stripe.transfers_to(account_id) == []
    # The first sale is 8 days old now: its part is paid, the second sale's stays held.
    first = await admin_db.fetchval("select purchase_id from earning_entry where party = 'CREATOR' "
                                    "order by created_at limit 1")
    await admin_db.execute("update earning_entry set created_at = now() - interval '8 days' where purchase_id = $1",
                           first)
    assert (await run(shop)).paid == 1
    assert [t["amount"] for t in shop.stripe.transfers_to(account_id)] == [1999]
    assert await balance(admin_db, shop.org, shop.creator.user_id) == 1999  # the held sale, paid in a later period
