"""Who sees creators' figures: ``viewer { creatorDashboard }`` shows each signed-in person only their own (anonymous:
no viewer; customers, staff and owners without creator rows: no organizations; creator A never sees creator B's
figures), and ``Organization.creatorEarnings`` (now read from the ledger's summary) shows every creator to staff
with PURCHASES_READ, only their own row to a creator, and nothing to anyone else (the authorization matrix)."""

from __future__ import annotations

import uuid
from typing import Any

from codex_graphql.authz import OrgRole
from codex_graphql.relay import decode_id
from tests.earnings.test_creator_dashboard import (  # noqa: F401  (fixtures)
    DASHBOARD,
    Market,
    buy,
    dashboard_of,
    market,
    platform_fee,
    refund,
    shop,
)
from tests.support import Actors, assert_authz_matrix, bare

EARNINGS = """query($s: String!) { organization(slug: $s) { creatorEarnings { creator { name } currency purchases
  grossCents shareCents earnedCents refundedCents poolCents pendingPayoutCents paidOutCents balanceCents } } }"""
PURCHASES = "{ viewer { purchases(first: 10) { nodes { id content { id } } } } }"


async def sold(market: Market, admin_db: Any) -> None:  # noqa: F811
    """Sales of every item (one refunded in part) and a paid payout to Cleo after them."""
    first, second = market.customers[0], market.customers[1]
    for name in market.items:
        await buy(market, first, name, 0)
    await buy(market, second, "film", 120)
    purchase = next(n["id"] for n in (await market.shop.gql.ok(PURCHASES, token=second.token))["viewer"]["purchases"]
                    ["nodes"])
    await refund(market, "film", purchase, 700)
    await admin_db.execute(
        "insert into payout (id, organization_id, user_id, currency, amount_cents, status, period_start, transfer_id, "
        "paid_at) values (gen_random_uuid(), $1, $2, 'USD', 1000, 'PAID', date '2026-11-01', 'tr_x', now())",
        market.shop.org, market.cleo.user_id)


async def ledger_earnings(admin_db: Any, organization_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """``creatorEarnings`` computed from the ledger rows and payouts (by creator name)."""
    rows = await admin_db.fetch(
        "select u.name, e.kind, e.currency, e.amount_cents, e.basis_cents from earning_entry e "
        "join user_account u on u.id = e.user_id where e.party = 'CREATOR' and e.organization_id = $1", organization_id)
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = found.setdefault(row["name"], {"creator": {"name": row["name"]}, "currency": row["currency"],
                                               "purchases": 0, "grossCents": 0, "earnedCents": 0, "refundedCents": 0,
                                               "poolCents": 0, "pendingPayoutCents": 0, "paidOutCents": 0})
        if row["kind"] == "SALE":
            entry["purchases"] += 1
            entry["grossCents"] += row["basis_cents"]
            entry["earnedCents"] += row["amount_cents"]
        elif row["kind"] == "SUBSCRIPTION":
            entry["poolCents"] += row["amount_cents"]
        else:  # a refund or dispute piece: its basis (negative) is the gross it returned
            entry["refundedCents"] -= row["amount_cents"]
            entry["grossCents"] += row["basis_cents"]
    for row in await admin_db.fetch("select u.name, p.status, p.amount_cents from payout p join user_account u on "
                                    "u.id = p.user_id where p.organization_id = $1", organization_id):
        found[row["name"]]["paidOutCents" if row["status"] == "PAID" else "pendingPayoutCents"] += row["amount_cents"]
    for entry in found.values():
        entry["shareCents"] = entry["earnedCents"] - entry["refundedCents"] + entry["poolCents"]
        entry["balanceCents"] = entry["shareCents"] - entry["pendingPayoutCents"] - entry["paidOutCents"]
    return found


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["creator"]["name"]: row for row in rows}


async def test_creator_earnings_matrix_and_a_creator_sees_only_their_own_row(market, admin_db):  # noqa: F811
    await sold(market, admin_db)
    studio = market.shop
    member = await studio.factory.user(name="Mo Member")
    await studio.factory.member(studio.org, member, OrgRole.MEMBER)
    rival_owner = await studio.factory.user(name="Rita Rival")
    rival = await studio.factory.organization(rival_owner, slug="rival")
    actors = Actors(org=studio.org, org_slug="shop", other_org=rival, customer=market.customers[0],
                    other_staff=rival_owner, staff_without=member, staff_with=studio.owner)

    async def snapshot() -> Any:
        return [tuple(r) for r in await admin_db.fetch("select * from creator_earning_summary order by 1, 2, 3")]

    results = await assert_authz_matrix(studio.gql, actors, EARNINGS, {"s": "shop"},
                                        path=["organization", "creatorEarnings"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    everyone = results["staff_with_permission"]["data"]["organization"]["creatorEarnings"]
    expected = await ledger_earnings(admin_db, studio.org)
    assert by_name(everyone) == expected and set(expected) == {"Cleo Creator", "Bo Creator"}
    assert [row["shareCents"] for row in everyone] == sorted((row["shareCents"] for row in everyone), reverse=True)
    cleo = expected["Cleo Creator"]
    assert cleo["refundedCents"] > 0 and cleo["paidOutCents"] == 1000 and cleo["purchases"] == 3  # film twice, reel (co-created)
    assert cleo["balanceCents"] == cleo["shareCents"] - 1000

    # A creator sees only their own row, in the organization they act in.
    for person, name in ((market.cleo, "Cleo Creator"), (market.bo, "Bo Creator")):
        own = await studio.gql.ok(EARNINGS, {"s": "shop"}, person.token, headers={"X-Codex-Organization": "shop"})
        assert own["organization"]["creatorEarnings"] == [expected[name]]
        second = await studio.gql.ok(EARNINGS, {"s": "second"}, person.token, headers={"X-Codex-Organization": "second"})
        assert [row["creator"]["name"] for row in second["organization"]["creatorEarnings"]] == [name]
        # ... and another organization's figures only once it is the active one.
        other = await studio.gql(EARNINGS, {"s": "second"}, person.token, headers={"X-Codex-Organization": "shop"})
        assert [e["extensions"]["code"] for e in other["errors"]] == ["FORBIDDEN"]
        assert other["data"]["organization"]["creatorEarnings"] is None
    # The second studio's owner sees both creators there, and nothing of the studio.
    owner2 = await studio.gql.ok(EARNINGS, {"s": "second"}, market.owner2.token, headers={"X-Codex-Organization": "second"})
    assert by_name(owner2["organization"]["creatorEarnings"]) == await ledger_earnings(admin_db, market.second)
    refused = await studio.gql(EARNINGS, {"s": "shop"}, market.owner2.token, headers={"X-Codex-Organization": "second"})
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    # A creator with no sales yet sees an empty list, not someone else's row.
    newcomer = await studio.factory.user(name="Nia New")
    await studio.factory.member(studio.org, newcomer, OrgRole.CREATOR)
    empty = await studio.gql.ok(EARNINGS, {"s": "shop"}, newcomer.token, headers={"X-Codex-Organization": "shop"})
    assert empty["organization"]["creatorEarnings"] == []


async def test_the_dashboard_shows_each_person_only_their_own_figures(market, admin_db):  # noqa: F811
    await sold(market, admin_db)
    studio = market.shop
    # Anonymous callers have no viewer.
    assert bare(await studio.gql(DASHBOARD, {})) == {"data": {"viewer": None}}
    member = await studio.factory.user(name="Mo Member")
    await studio.factory.member(studio.org, member, OrgRole.MEMBER)
    rival_owner = await studio.factory.user(name="Rita Rival")
    await studio.factory.organization(rival_owner, slug="rival")
    # A customer, a member, staff of another organization and owners (who hold every permission but have no
    # creator rows) have no organizations on their dashboard.
    for person in (market.customers[0], member, rival_owner):
        assert (await dashboard_of(market, person))["organizations"] == [], person
    for person, slug in ((studio.owner, "shop"), (market.owner2, "second")):
        body = await studio.gql.ok(DASHBOARD, {}, person.token, headers={"X-Codex-Organization": slug})
        assert body["viewer"]["creatorDashboard"]["organizations"] == [], slug

    # Creator A never sees creator B's figures: every item on Cleo's dashboard is one she creates or co-creates,
    # and her totals are her ledger rows only (the active organization, whose staff may read every creator's
    # summary rows, changes nothing).
    cleo_items = {r[0] for r in await admin_db.fetch(
        "select id from content where creator_id = $1 union select content_id from content_contributor "
        "where user_id = $1", market.cleo.user_id)}
    for headers in ({}, {"X-Codex-Organization": "shop"}, {"X-Codex-Organization": "second"}):
        data = (await studio.gql.ok(DASHBOARD, {}, market.cleo.token, headers=headers))["viewer"]["creatorDashboard"]
        seen = {decode_id(i["contentId"], "Content") for o in data["organizations"] for i in o["items"]}
        assert seen == cleo_items and decode_id(market.items["solo"], "Content") not in seen
        earned = {o["organization"]["slug"]: o["totals"][0]["earnedCents"] for o in data["organizations"]}
        for slug, org in (("shop", studio.org), ("second", market.second)):
            own = await admin_db.fetchval("select sum(amount_cents) from earning_entry where kind = 'SALE' and "
                                          "party = 'CREATOR' and user_id = $1 and organization_id = $2",
                                          market.cleo.user_id, org)
            assert earned[slug] == own
