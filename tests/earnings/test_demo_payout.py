"""The demo seed with the local payments provider: the demo creator is onboarded at the local provider (its
account link, its ``account.updated`` through the webhook path) and paid the demo sale's share once by the
payout job, as their own GraphQL views show; seeding again, or twice at once, pays nothing more."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from codex_graphql.db import Database
from codex_graphql.earnings.demo import DEMO_PAYOUT_MINIMUM_CENTS
from codex_graphql.org_settings.models import DEFAULT_PAYOUT_MINIMUM_CENTS
from codex_graphql.seed import (
    CREATOR_EMAIL,
    DEFAULT_DEMO_PASSWORD,
    DEMO_CATALOGUE,
    DEMO_PURCHASE_TITLE,
    SeedReport,
    seed_demo,
    seed_payout,
)
from codex_graphql.settings import Settings
from codex_graphql.storage.factory import build_storage
from tests.support import GraphQLClient

pytestmark = pytest.mark.timeout(110)

CREATOR_VIEW = """query {
  viewer {
    payoutAccount { detailsSubmitted payoutsEnabled transfersActive requirements disabledReason }
    payouts(first: 10) { totalCount nodes { status amountCents currency attempt paidAt failureCode } }
    payoutBalances { currency balanceCents pendingPayoutCents paidOutCents organization { slug } }
    creatorDashboard {
      organizations {
        organization { slug }
        totals { currency sales earnedCents refundedCents balanceCents pendingPayoutCents paidOutCents }
        items { content { title } earnings { sales earnedCents } }
      }
    }
  }
}"""
CREATOR_OPERATIONS = Path(__file__).resolve().parents[2] / "client-examples" / "operations" / "creator.graphql"
SALE_CENTS = next(item.price_cents for item in DEMO_CATALOGUE if item.title == DEMO_PURCHASE_TITLE)


async def seed(db: Database, settings: Settings) -> SeedReport:
    storage = build_storage(settings)
    try:
        return await seed_demo(db, storage=storage, settings=settings)
    finally:
        await storage.close()


async def creator_token(gql: GraphQLClient) -> str:
    login = await gql.ok("mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){token errors{code}}}",
                         {"e": CREATOR_EMAIL, "p": DEFAULT_DEMO_PASSWORD})
    return login["login"]["token"]


async def creator_view(gql: GraphQLClient) -> dict:
    return (await gql.ok(CREATOR_VIEW, token=await creator_token(gql)))["viewer"]


def local_transfers(settings: Settings) -> list[dict]:
    state = orjson.loads((settings.data_dir / "local-connect.json").read_bytes())
    return list(state["transfers"].values())


async def payout_state(admin_db) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [tuple(r) for r in await admin_db.fetch(
        "select p.id, p.status, p.amount_cents, p.attempt, p.transfer_id from payout p "
        "join user_account u on u.id = p.user_id where u.email = $1", CREATOR_EMAIL)]


async def test_the_demo_creator_sees_a_paid_payout_of_the_sale_and_seeding_again_pays_nothing(settings, db, admin_db,
                                                                                              gql):
    report = await seed(db, settings)
    assert report.problems == [] and not report.ffmpeg_missing
    assert [line for line in report.created if "payout" in line.lower()] == [
        "payout account of the demo creator (onboarding completed at the local provider)",
        f"payoutMinimumCents {DEMO_PAYOUT_MINIMUM_CENTS} of organization demo",
        "1 payout(s) PAID to demo creators (local transfers)"]

    viewer = await creator_view(gql)
    assert viewer["payoutAccount"] == {"detailsSubmitted": True, "payoutsEnabled": True, "transfersActive": True,
                                       "requirements": [], "disabledReason": None}
    [organization] = viewer["creatorDashboard"]["organizations"]
    assert organization["organization"]["slug"] == "demo"
    [totals] = organization["totals"]
    # The sale's whole net is the creator's share (no platform fee, the organization's default 100 %).
    assert (totals["currency"], totals["sales"], totals["earnedCents"], totals["refundedCents"]) == (
        "USD", 1, SALE_CENTS, 0)
    sold = [item for item in organization["items"] if item["earnings"]]
    assert [(i["content"]["title"], i["earnings"][0]["sales"], i["earnings"][0]["earnedCents"]) for i in sold] == [
        (DEMO_PURCHASE_TITLE, 1, SALE_CENTS)]
    # One PAID payout of the whole balance, which is now empty.
    assert viewer["payouts"]["totalCount"] == 1
    [payout] = viewer["payouts"]["nodes"]
    assert (payout["status"], payout["amountCents"], payout["currency"], payout["attempt"], payout["failureCode"]) == (
        "PAID", totals["earnedCents"], "USD", 1, None)
    assert payout["paidAt"]
    assert (totals["paidOutCents"], totals["pendingPayoutCents"], totals["balanceCents"]) == (payout["amountCents"], 0, 0)
    assert viewer["payoutBalances"] == [{"currency": "USD", "balanceCents": 0, "pendingPayoutCents": 0,
                                         "paidOutCents": payout["amountCents"], "organization": {"slug": "demo"}}]
    # The ledger agrees, and the local provider made the one transfer the payout records.
    assert await admin_db.fetchval(
        "select sum(e.amount_cents) from earning_entry e join user_account u on u.id = e.user_id "
        "where u.email = $1 and e.party = 'CREATOR'", CREATOR_EMAIL) == payout["amountCents"]
    [(_, _, _, _, transfer_id)] = await payout_state(admin_db)
    assert [(t["id"], t["amount"], t["currency"]) for t in local_transfers(settings)] == [
        (transfer_id, payout["amountCents"], "usd")]
    # Onboarding went through the webhook path; the minimum was changed through the settings service (audited).
    events = {r["type"]: r["outcome"] for r in await admin_db.fetch("select type, outcome from stripe_event")}
    assert events == {"checkout.session.completed": "purchase_created", "account.updated": "payout_account_updated"}
    assert await admin_db.fetchval("select count(*) from audit_log_entry where action = 'SETTINGS_CHANGED'") == 1

    before = (await payout_state(admin_db), local_transfers(settings),
              await admin_db.fetchval("select count(*) from stripe_event"),
              await admin_db.fetchval("select count(*) from audit_log_entry"))
    again = await seed(db, settings)
    assert again.created == [] and again.problems == []
    assert (await payout_state(admin_db), local_transfers(settings),
            await admin_db.fetchval("select count(*) from stripe_event"),
            await admin_db.fetchval("select count(*) from audit_log_entry")) == before
    assert (await creator_view(gql))["payouts"]["totalCount"] == 1

    # The client example's creator operations answer the same against the demo.
    token, document = await creator_token(gql), CREATOR_OPERATIONS.read_text()
    answers = {}
    for name in ("CreatorDashboard", "CreatorPayouts"):
        response = await gql.http.post("/graphql", headers={"authorization": f"Bearer {token}"},
                                       json={"query": document, "operationName": name, "variables": {}})
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        answers[name] = response.json()["data"]["viewer"]
    [listed] = answers["CreatorPayouts"]["payouts"]["nodes"]
    assert (listed["status"], listed["amountCents"], listed["organization"]["slug"]) == ("PAID", SALE_CENTS, "demo")
    assert answers["CreatorPayouts"]["payoutAccount"]["transfersActive"] is True
    [shown] = answers["CreatorDashboard"]["creatorDashboard"]["organizations"]
    assert [(t["sales"], t["earnedCents"], t["paidOutCents"]) for t in shown["totals"]] == [(1, SALE_CENTS, SALE_CENTS)]


async def test_the_payout_step_runs_only_with_the_local_provider_and_pays_once_when_run_twice_at_once(
        settings, db, admin_db):
    # With Stripe as the provider the seed onboards no one and pays nothing (the demo sale still happens:
    # the catalogue's purchase always uses the local checkout).
    report = await seed(db, settings.model_copy(update={"payments_provider": "stripe"}))
    assert report.problems == [] and not [line for line in report.created if "payout" in line.lower()]
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'PAID'") == 1
    assert await admin_db.fetchval("select count(*) from creator_payout_account") == 0
    assert await admin_db.fetchval("select count(*) from payout") == 0
    assert await admin_db.fetchval(
        "select settings->>'payout_minimum_cents' from organization where slug = 'demo'") is None  # the default
    assert not (settings.data_dir / "local-connect.json").exists()

    # Two seeds reaching the payout step at the same moment: one account, one onboarding, one payout.
    storage = build_storage(settings)
    try:
        reports = [SeedReport(organization_id=report.organization_id) for _ in range(2)]
        await asyncio.gather(*(seed_payout(db, storage, settings, r) for r in reports))
    finally:
        await storage.close()
    assert [r.problems for r in reports] == [[], []]
    assert sorted(line for r in reports for line in r.created if "PAID" in line) == [
        "1 payout(s) PAID to demo creators (local transfers)"]
    assert await admin_db.fetchval("select count(*) from creator_payout_account where transfers_active") == 1
    [(_, status, amount, attempt, transfer_id)] = await payout_state(admin_db)
    assert (status, amount, attempt) == ("PAID", SALE_CENTS, 1)
    assert [(t["id"], t["amount"]) for t in local_transfers(settings)] == [(transfer_id, SALE_CENTS)]
    assert await admin_db.fetchval("select count(*) from stripe_event where type = 'account.updated'") == 1
    assert await admin_db.fetchval("select count(*) from audit_log_entry where action = 'SETTINGS_CHANGED'") == 1
    assert await admin_db.fetchval("select (settings->>'payout_minimum_cents')::int from organization "
                                   "where slug = 'demo'") == DEMO_PAYOUT_MINIMUM_CENTS < DEFAULT_PAYOUT_MINIMUM_CENTS
