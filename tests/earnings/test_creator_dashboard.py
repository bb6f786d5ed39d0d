"""``viewer { creatorDashboard }`` through the API, on real sales: purchases completed through the Stripe
stand-in (signed webhooks) and partial and full refunds through ``refundPurchase``, in two organizations with
two creators who co-create each other's items, a 10 % platform fee and different creators' shares. The
dashboard's figures must equal a direct computation over the ledger (``earning_entry``), the plays
(``content_view``), the completions (``playback_position``) and the payouts, for every range; a range filters
by UTC day; bad ranges are BAD_USER_INPUT; the statement count is the same for one item in one organization as
for many in two."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.relay import decode_id, to_global_id
from tests.earnings.test_ledger import platform_fee  # noqa: F401  (the fixture)
from tests.support import Person, statements
from tests.support.commerce import Shop, insert_content, shop  # noqa: F401  (the fixture)

DASHBOARD = """query($from: Date, $to: Date) { viewer { creatorDashboard(from: $from, to: $to) { from to
  organizations { organization { slug name }
    totals { currency sales grossCents earnedCents refundedCents poolCents netCents balanceCents pendingPayoutCents
             paidOutCents }
    items { contentId content { id title } plays completions completionRate
            earnings { currency sales grossCents earnedCents refundedCents poolCents netCents } } } } } }"""
SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { defaultCreatorSharePercent } } }"""
SPLIT = """mutation($input: SetContentRevenueSplitInput!) { setContentRevenueSplit(input: $input) {
  errors { code field message } content { id } } }"""
REFUND = """mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) {
  errors { code field message } purchase { id status refundedAmountCents } } }"""
PURCHASES = "{ viewer { purchases(first: 50) { nodes { id amountCents content { id } } } } }"
PLAY = "query($id: ID!) { content(id: $id) { playback { url } } }"
SAVE = """mutation($id: ID!, $p: Float!) { savePlaybackPosition(input: {contentId: $id, positionSeconds: $p}) {
  errors { code field } positionSeconds } }"""

TODAY = datetime.now(UTC).date()
PAST = TODAY - timedelta(days=40)  # outside the default range (the last 30 days)


@dataclass
class Market:
    shop: Shop
    second: uuid.UUID
    owner2: Person
    cleo: Person
    bo: Person
    customers: list[Person]
    items: dict[str, str]  # name -> Content global id
    org_of: dict[str, uuid.UUID]  # name -> organization
    headers: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)

    def staff_token(self, item: str) -> str:
        return self.shop.owner.token if self.org_of[item] == self.shop.org else self.owner2.token


async def two_studios(shop: Shop, platform_fee: Any) -> Market:  # noqa: F811
    """The shop (creators' share 70 %) and a second studio (60 %), both with the creators Cleo and Bo; every item
    but one has a co-creator."""
    await platform_fee(10)
    factory = shop.factory
    cleo = shop.creator
    bo = await factory.user(name="Bo Creator")
    await factory.member(shop.org, bo, OrgRole.CREATOR)
    owner2 = await factory.user(name="Olga Owner")
    second = await factory.organization(owner2, slug="second", name="Second Studio")
    for person in (cleo, bo):
        await factory.member(second, person, OrgRole.CREATOR)
    headers = {shop.org: {"X-Codex-Organization": "shop"}, second: {"X-Codex-Organization": "second"}}
    for token, org, percent in ((shop.owner.token, shop.org, 70), (owner2.token, second, 60)):
        await shop.gql.ok(SETTINGS, {"input": {"defaultCreatorSharePercent": percent}}, token, headers=headers[org])
    items = {"film": shop.paid,
             "reel": await insert_content(factory.db, shop.org, bo.user_id, "Bo reel", 1250),
             "studio": await insert_content(factory.db, second, cleo.user_id, "Cleo studio", 800),
             "solo": await insert_content(factory.db, second, bo.user_id, "Bo solo", 500)}
    org_of = {"film": shop.org, "reel": shop.org, "studio": second, "solo": second}
    splits = {"film": (None, [(bo, 30)]), "reel": (80, [(cleo, 40)]), "studio": (None, [(bo, 50)]), "solo": (None, [])}
    for name, (share, contributors) in splits.items():
        token = shop.owner.token if org_of[name] == shop.org else owner2.token
        await shop.gql.ok(SPLIT, {"input": {"contentId": items[name], "creatorSharePercent": share, "contributors": [
            {"userId": p.global_id, "sharePercent": percent} for p, percent in contributors]}}, token,
            headers=headers[org_of[name]])
    customers = [await factory.user(name=f"Customer {n}") for n in range(4)]
    return Market(shop=shop, second=second, owner2=owner2, cleo=cleo, bo=bo, customers=customers, items=items,
                  org_of=org_of, headers=headers)


@pytest.fixture
async def market(shop, platform_fee) -> Market:  # noqa: F811
    return await two_studios(shop, platform_fee)


async def buy(market: Market, customer: Person, item: str, tax: int) -> None:
    started = await market.shop.checkout(customer, market.items[item])
    assert started["errors"] == [], started
    event = market.shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1], tax=tax)
    assert (await market.shop.deliver(event)).status_code == 200


async def refund(market: Market, item: str, purchase: str, amount: int | None) -> None:
    variables: dict[str, Any] = {"purchaseId": purchase, "idempotencyKey": uuid.uuid4().hex}
    if amount is not None:
        variables["amountCents"] = amount
    body = await market.shop.gql.ok(REFUND, {"input": variables}, market.staff_token(item),
                                    headers=market.headers[market.org_of[item]])
    assert body["refundPurchase"]["errors"] == [], body


async def generated_sales(market: Market, seed: int) -> list[tuple[Person, str]]:
    """A seeded mix: 11 of the 16 (customer, item) purchases, some taxed; about half refunded in one or two
    partial pieces, some in full; every buyer plays what they bought, half of them to the end."""
    rng = random.Random(seed)
    names = list(market.items)
    bought = rng.sample([(c, name) for c in market.customers for name in names], 11)
    for customer, name in bought:
        await buy(market, customer, name, rng.choice([0, 0, 80, 151]))
    for customer in market.customers:
        nodes = (await market.shop.gql.ok(PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"]
        for node in nodes:
            name = next((n for n, gid in market.items.items() if gid == node["content"]["id"]), None)
            if name is None:
                continue  # bought outside the mix
            left = node["amountCents"]
            for _ in range(rng.choice([0, 0, 1, 2])):
                amount = rng.choice([None, rng.randint(1, max(1, left - 1))])
                if amount is not None and amount >= left:
                    amount = None
                await refund(market, name, node["id"], amount)
                if amount is None:
                    break
                left -= amount
    for n, (customer, name) in enumerate(bought):
        played = await market.shop.gql(PLAY, {"id": market.items[name]}, customer.token)
        if played["data"]["content"]["playback"] is None:
            continue  # fully refunded: no access any more
        assert played["data"]["content"]["playback"]["url"]
        if n % 2 == 0:
            saved = await market.shop.gql.ok(SAVE, {"id": market.items[name], "p": 55.0}, customer.token)
            assert saved["savePlaybackPosition"]["errors"] == []
    return bought


async def back_dated(market: Market, admin_db: Any) -> None:
    """Ledger rows and a play of 40 days ago (the triggers file them by ``created_at``), and payouts."""
    at = datetime.combine(PAST, time(12), tzinfo=UTC)
    film, solo = decode_id(market.items["film"], "Content"), decode_id(market.items["solo"], "Content")
    shop_org, cleo, bo = market.shop.org, market.cleo.user_id, market.bo.user_id
    insert = ("insert into earning_entry (id, organization_id, content_id, kind, party, user_id, currency, amount_cents, "
              "weight, basis_cents, period_start, created_at) values (gen_random_uuid(), $1, $2, $3, 'CREATOR', $4, "
              "'USD', $5, $6, $7, $8, $9)")
    await admin_db.execute(insert, shop_org, film, "SALE", cleo, 500, 500000, 1000, None, at)
    await admin_db.execute(insert, shop_org, film, "REFUND", cleo, -120, None, -240, None, at + timedelta(days=1))
    await admin_db.execute(insert, shop_org, film, "SUBSCRIPTION", cleo, 300, None, 3000, PAST, at)
    await admin_db.execute(insert, market.second, solo, "SUBSCRIPTION", bo, 250, None, 2500, PAST, at)
    await admin_db.execute("insert into content_view (content_id, user_id, hour, organization_id, created_at) "
                           "values ($1, $2, $3, $4, $3)", film, market.customers[0].user_id, at, shop_org)
    payout = ("insert into payout (id, organization_id, user_id, currency, amount_cents, status, period_start, "
              "transfer_id, paid_at) values (gen_random_uuid(), $1, $2, 'USD', $3, $4, $5, $6, $7)")
    await admin_db.execute(payout, shop_org, cleo, 200, "PAID", PAST.replace(day=1), "tr_1", at)
    await admin_db.execute(payout, market.second, bo, 100, "PENDING", PAST.replace(day=1), None, None)


# -- the direct computation ----------------------------------------------------------------------------


def _money() -> dict[str, int]:
    return {"sales": 0, "grossCents": 0, "earnedCents": 0, "refundedCents": 0, "poolCents": 0}


def _add(figures: dict[str, int], row: Any) -> None:
    if row["kind"] == "SALE":
        figures["sales"] += 1
        figures["grossCents"] += row["basis_cents"] or 0
        figures["earnedCents"] += row["amount_cents"]
    elif row["kind"] == "SUBSCRIPTION":
        figures["poolCents"] += row["amount_cents"]
    else:
        figures["refundedCents"] -= row["amount_cents"]


def _net(figures: dict[str, int]) -> dict[str, int]:
    return {**figures, "netCents": figures["earnedCents"] - figures["refundedCents"] + figures["poolCents"]}


async def expected_dashboard(admin_db: Any, user_id: uuid.UUID, start: date, end: date) -> dict[str, Any]:
    """The creator's dashboard computed from the ledger, views, positions and payouts (not the summaries)."""
    entries = await admin_db.fetch(
        "select organization_id, content_id, kind, currency, amount_cents, basis_cents, "
        "coalesce(period_start, (created_at at time zone 'UTC')::date) as day from earning_entry "
        "where party = 'CREATOR' and user_id = $1",
        user_id)
    orgs = {r[0] for r in await admin_db.fetch(
        "select organization_id from organization_membership where user_id = $1 and role = 'CREATOR' union "
        "select organization_id from content_contributor where user_id = $1", user_id)}
    orgs |= {r["organization_id"] for r in entries}
    slugs = {r["id"]: r["slug"] for r in await admin_db.fetch("select id, slug from organization")}
    payouts = await admin_db.fetch("select organization_id, currency, status, amount_cents from payout "
                                   "where user_id = $1", user_id)
    result: dict[str, Any] = {slugs[o]: {"totals": {}, "items": {}} for o in orgs}
    balances: dict[tuple[uuid.UUID, str], dict[str, int]] = {}
    for row in entries:
        key = (row["organization_id"], row["currency"])
        balance = balances.setdefault(key, {"all": 0, "pendingPayoutCents": 0, "paidOutCents": 0, "range": _money()})
        balance["all"] += row["amount_cents"]
        if start <= row["day"] <= end:
            _add(balance["range"], row)
    for row in payouts:
        key = (row["organization_id"], row["currency"])
        balance = balances.setdefault(key, {"all": 0, "pendingPayoutCents": 0, "paidOutCents": 0, "range": _money()})
        if row["status"] == "PENDING":
            balance["pendingPayoutCents"] += row["amount_cents"]
        elif row["status"] == "PAID":
            balance["paidOutCents"] += row["amount_cents"]
    for (org, currency), balance in balances.items():
        result[slugs[org]]["totals"][currency] = {
            **_net(balance["range"]), "balanceCents": balance["all"] - balance["pendingPayoutCents"]
            - balance["paidOutCents"], "pendingPayoutCents": balance["pendingPayoutCents"],
            "paidOutCents": balance["paidOutCents"]}
    mine = await admin_db.fetch(
        "select organization_id, id from content where deleted_at is null and (creator_id = $1 or id in "
        "(select content_id from content_contributor where user_id = $1))", user_id)
    items: dict[tuple[uuid.UUID, uuid.UUID], dict[str, dict[str, int]]] = {
        (r[0], r[1]): {} for r in mine if r[0] in orgs}
    for row in entries:
        if row["content_id"] is not None and start <= row["day"] <= end:
            money = items.setdefault((row["organization_id"], row["content_id"]), {})
            _add(money.setdefault(row["currency"], _money()), row)
    for (org, content_id), money in items.items():
        plays = await admin_db.fetchval(
            "select count(*) from content_view where content_id = $1 and (created_at at time zone 'UTC')::date "
            "between $2 and $3", content_id, start, end)
        # Every completion of these tests happened today (the trigger files it under the day it happened).
        completions = 0 if not start <= TODAY <= end else await admin_db.fetchval(
            "select count(*) from playback_position p join content c on c.id = p.content_id "
            "where p.content_id = $1 and p.position_seconds >= 0.9 * c.duration_seconds", content_id)
        result[slugs[org]]["items"][to_global_id("Content", content_id)] = {
            "plays": plays, "completions": completions, "completionRate": completions / plays if plays else None,
            "earnings": {currency: _net(m) for currency, m in money.items()}}
    return result


def served(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The API's dashboard in the shape of ``expected_dashboard``."""
    return {o["organization"]["slug"]: {
        "totals": {t["currency"]: {k: v for k, v in t.items() if k != "currency"} for t in o["totals"]},
        "items": {i["contentId"]: {
            "plays": i["plays"], "completions": i["completions"], "completionRate": i["completionRate"],
            "earnings": {e["currency"]: {k: v for k, v in e.items() if k != "currency"} for e in i["earnings"]}}
            for i in o["items"]}} for o in dashboard["organizations"]}


async def dashboard_of(market: Market, person: Person, start: date | None = None,
                       end: date | None = None) -> dict[str, Any]:
    variables = {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None}
    return (await market.shop.gql.ok(DASHBOARD, variables, person.token))["viewer"]["creatorDashboard"]


# -- tests ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 11])
async def test_the_dashboard_equals_the_ledger_for_every_creator_and_range(market, admin_db, seed):
    await generated_sales(market, seed)
    await back_dated(market, admin_db)
    assert await admin_db.fetchval("select count(*) from purchase_refund where status = 'SUCCEEDED'") > 0
    ranges: list[tuple[date | None, date | None]] = [
        (None, None), (TODAY - timedelta(days=45), TODAY), (PAST, PAST), (PAST, PAST + timedelta(days=1)),
        (TODAY - timedelta(days=100), TODAY - timedelta(days=90)), (TODAY - timedelta(days=365), TODAY)]
    for person in (market.cleo, market.bo):
        for start, end in ranges:
            got = await dashboard_of(market, person, start, end)
            first, last = start or TODAY - timedelta(days=29), end or TODAY
            assert (got["from"], got["to"]) == (first.isoformat(), last.isoformat())
            assert served(got) == await expected_dashboard(admin_db, person.user_id, first, last), (person, start)
            assert [o["organization"]["name"] for o in got["organizations"]] == ["Second Studio", "Test Org"]
            for organization in got["organizations"]:
                keys = [(-sum(e["netCents"] for e in i["earnings"]), -i["plays"]) for i in organization["items"]]
                assert keys == sorted(keys)

    # The figures are not all zero: sales and refunds of today, the back-dated rows only in their range.
    cleo = served(await dashboard_of(market, market.cleo))
    assert cleo["shop"]["totals"]["USD"]["sales"] > 0 and cleo["shop"]["totals"]["USD"]["paidOutCents"] == 200
    past = served(await dashboard_of(market, market.cleo, PAST, PAST + timedelta(days=1)))
    assert past["shop"]["totals"]["USD"] | {"balanceCents": 0} == {
        "sales": 1, "grossCents": 1000, "earnedCents": 500, "refundedCents": 120, "poolCents": 300, "netCents": 680,
        "balanceCents": 0, "pendingPayoutCents": 0, "paidOutCents": 200}
    assert past["shop"]["items"][market.items["film"]]["plays"] == 1
    bo = served(await dashboard_of(market, market.bo, PAST, PAST))
    assert bo["second"]["totals"]["USD"]["poolCents"] == 250 and bo["second"]["totals"]["USD"]["pendingPayoutCents"] == 100


async def test_co_creators_each_see_their_part_of_one_sale(market, admin_db):
    customer = market.customers[0]
    await buy(market, customer, "film", 0)  # 1999: fee 199, creators 70 % of the rest, Bo 30 % of that
    await market.shop.gql.ok(PLAY, {"id": market.items["film"]}, customer.token)
    await market.shop.gql.ok(SAVE, {"id": market.items["film"], "p": 59.0}, customer.token)
    cleo, bo = served(await dashboard_of(market, market.cleo)), served(await dashboard_of(market, market.bo))
    film = market.items["film"]
    # Cleo: 1999 * .9 * .7 * .7 = 881.559 -> 881; Bo: 1999 * .9 * .7 * .3 = 377.811 -> 377 (earnings/split.py).
    assert cleo["shop"]["items"][film] == {"plays": 1, "completions": 1, "completionRate": 1.0, "earnings": {"USD": {
        "sales": 1, "grossCents": 1999, "earnedCents": 881, "refundedCents": 0, "poolCents": 0, "netCents": 881}}}
    assert bo["shop"]["items"][film]["earnings"]["USD"]["earnedCents"] == 377
    assert bo["shop"]["items"][film]["plays"] == 1
    # Each sees the item they create alone (no sales yet) with zeros, and never the other's figures.
    assert cleo["second"]["items"][market.items["studio"]] == {"plays": 0, "completions": 0, "completionRate": None,
                                                               "earnings": {}}
    assert market.items["solo"] not in cleo["second"]["items"]
    assert bo["second"]["items"][market.items["solo"]]["earnings"] == {}
    assert cleo["shop"]["totals"]["USD"]["balanceCents"] == 881 and bo["shop"]["totals"]["USD"]["balanceCents"] == 377
    # A full refund takes the creators' parts back on the day of the refund; the content stays visible.
    purchase = (await market.shop.gql.ok(PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"][0]["id"]
    await refund(market, "film", purchase, None)
    after = (await dashboard_of(market, market.cleo))["organizations"]
    shop_items = next(o for o in after if o["organization"]["slug"] == "shop")["items"]
    entry = next(i for i in shop_items if i["contentId"] == film)
    assert entry["content"] == {"id": film, "title": "Paid film"}
    assert entry["earnings"][0] | {"currency": None} == {"currency": None, "sales": 1, "grossCents": 1999,
                                                         "earnedCents": 881, "refundedCents": 881, "poolCents": 0,
                                                         "netCents": 0}


async def test_ranges_default_and_bad_ranges_are_refused(market):
    body = await dashboard_of(market, market.cleo)
    assert (body["from"], body["to"]) == ((TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat())
    longest = await dashboard_of(market, market.cleo, TODAY - timedelta(days=365), TODAY)
    assert longest["from"] == (TODAY - timedelta(days=365)).isoformat()
    only_from = await dashboard_of(market, market.cleo, TODAY - timedelta(days=3))
    assert (only_from["from"], only_from["to"]) == ((TODAY - timedelta(days=3)).isoformat(), TODAY.isoformat())
    for start, end in ((TODAY, TODAY - timedelta(days=1)), (TODAY - timedelta(days=366), TODAY),
                       (date(2000, 1, 1), date(2026, 1, 1))):
        body = await market.shop.gql(DASHBOARD, {"from": start.isoformat(), "to": end.isoformat()}, market.cleo.token)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
        assert body["data"] is None or body["data"]["viewer"] is None
    refused = await market.shop.gql(DASHBOARD, {"from": "yesterday"}, market.cleo.token)
    assert refused["errors"] and refused.get("data") is None


async def counted(market: Market, person: Person) -> tuple[int, dict[str, Any]]:
    async with statements(market.shop.app) as seen:
        data = await market.shop.gql.ok(DASHBOARD, {"from": None, "to": None}, person.token)
    # The dashboard's own statements: its totals and its items, then one batch each for organizations and items.
    assert sum(s.startswith("WITH orgs AS") for s in seen) == 2, seen
    assert sum(s.startswith("SELECT organization.") for s in seen) == 1, seen
    assert sum(s.startswith("SELECT content.") for s in seen) == 1, seen
    return len(seen), data["viewer"]["creatorDashboard"]


async def test_the_statement_count_is_flat(market, admin_db):
    # One creator with one item in one organization ...
    solo = await market.shop.factory.user(name="Sol Single")
    await market.shop.factory.member(market.shop.org, solo, OrgRole.CREATOR)
    single = await insert_content(market.shop.factory.db, market.shop.org, solo.user_id, "Single", 300)
    await market.shop.buy(market.customers[0], single)
    few, small = await counted(market, solo)
    assert [len(o["items"]) for o in small["organizations"]] == [1]
    # ... and one with many items in two organizations, sold on many days (back-dated ledger rows and plays).
    await generated_sales(market, 5)
    for n in range(8):
        extra = await insert_content(market.shop.factory.db, market.second if n % 2 else market.shop.org,
                                     market.cleo.user_id, f"Extra {n}", 100 + n)
        at = datetime.combine(TODAY - timedelta(days=n), time(9), tzinfo=UTC)
        org = market.second if n % 2 else market.shop.org
        await admin_db.execute(
            "insert into earning_entry (id, organization_id, content_id, kind, party, user_id, currency, amount_cents, "
            "basis_cents, period_start, created_at) values (gen_random_uuid(), $1, $2, 'SUBSCRIPTION', 'CREATOR', $3, "
            "$4, 10, 100, $5, $6)", org, decode_id(extra, "Content"), market.cleo.user_id, "EUR" if n % 3 else "USD",
            date(2020, 1, 1) + timedelta(days=n), at)
        await admin_db.execute("insert into content_view (content_id, user_id, hour, organization_id, created_at) "
                               "values ($1, $2, $3, $4, $3)", decode_id(extra, "Content"),
                               market.customers[1].user_id, at, org)
    many, large = await counted(market, market.cleo)
    assert sum(len(o["items"]) for o in large["organizations"]) >= 11 and len(large["organizations"]) == 2
    assert {t["currency"] for o in large["organizations"] for t in o["totals"]} == {"USD", "EUR"}
    assert all(i["content"] is not None for o in large["organizations"] for i in o["items"])
    assert many == few, (few, many)

