"""Organization.analytics and the trigger-maintained summaries: every number is recomputed in Python
from the purchase rows and compared, including a refund on a later day, tax, FREE and GRANT purchases,
a purchase near midnight UTC that belongs to the previous local day, and a timezone change."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from codex_graphql.analytics import service
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.relay import to_global_id
from tests.support import commerce as commerce_support
from tests.support.analytics import (
    ANALYTICS,
    add_purchase,
    expected_analytics,
    expected_summaries,
    purchase_rows,
    raw_id,
    refund,
    summaries,
)
from tests.support.commerce import REFUND, insert_content

shop = commerce_support.shop

JAN = {"from": "2026-01-09", "to": "2026-01-15"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def dash(factory, db, admin_db) -> dict[str, Any]:
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="dash")
    await admin_db.execute("update organization set timezone = 'America/New_York' where id = $1", org)
    film = raw_id(await insert_content(db, org, owner.user_id, "Film", 1999))
    course = raw_id(await insert_content(db, org, owner.user_id, "Course", 2000))
    short = raw_id(await insert_content(db, org, owner.user_id, "Short", 0))
    ann, ben, cy = [await factory.user(name=n) for n in ("Ann", "Ben", "Cy")]
    p = {}
    p["film"] = await add_purchase(db, org, ann.user_id, film, owner.user_id, at=at("2026-01-10T15:00:00"), amount=1999)
    # 03:30 UTC on the 11th is 22:30 on the 10th in New York: it belongs to the 10th.
    p["taxed"] = await add_purchase(db, org, ben.user_id, course, owner.user_id, at=at("2026-01-11T03:30:00"),
                                    amount=2400, tax=400)
    p["refunded"] = await add_purchase(db, org, cy.user_id, film, owner.user_id, at=at("2026-01-12T12:00:00"), amount=1999)
    # Refunded at 04:00 UTC on the 15th = 23:00 on the 14th in New York: counted on the 14th.
    await refund(db, org, p["refunded"], at("2026-01-15T04:00:00"))
    p["free"] = await add_purchase(db, org, ann.user_id, short, owner.user_id, at=at("2026-01-13T10:00:00"), kind="FREE")
    p["grant"] = await add_purchase(db, org, cy.user_id, course, owner.user_id, at=at("2026-01-14T10:00:00"), kind="GRANT")
    p["outside"] = await add_purchase(db, org, ben.user_id, film, owner.user_id, at=at("2026-01-20T10:00:00"), amount=1999)
    p["now"] = await add_purchase(db, org, ann.user_id, course, owner.user_id, at=utcnow() - timedelta(minutes=1),
                                  amount=2000, tax=150)
    # Another organization's sales never show up.
    rival = await factory.user(name="Rival")
    rival_org = await factory.organization(rival, slug="rival")
    rival_item = raw_id(await insert_content(db, rival_org, rival.user_id, "Rival film", 999))
    await add_purchase(db, rival_org, ann.user_id, rival_item, rival.user_id, at=at("2026-01-10T15:00:00"), amount=999)
    return {"owner": owner, "org": org, "purchases": p, "contents": {"film": film, "course": course, "short": short}}


def compare(data: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("totalRevenueCents", "revenueThisMonthCents", "customerCount", "purchaseCount", "refundCount",
                "revenueByDay"):
        assert data[key] == expected[key], key
    assert [(raw_id(t["content"]["id"]), t["purchases"], t["revenueCents"]) for t in data["topContent"]] == expected["top"]
    assert [raw_id(p["id"], "Purchase") for p in data["recentPurchases"]] == expected["recent"]


async def test_analytics_numbers_match_the_purchase_rows(dash, gql, admin_db):
    rows = await purchase_rows(admin_db, dash["org"])
    data = (await gql.ok(ANALYTICS, {"s": "dash", "r": JAN}, dash["owner"].token))["organization"]["analytics"]
    compare(data, expected_analytics(rows, "America/New_York", date(2026, 1, 9), date(2026, 1, 15), utcnow()))
    by_day = {d["day"]: d for d in data["revenueByDay"]}
    # Hand-checked: the taxed purchase (2400 incl. 400 tax) is on the local 10th, net of tax.
    assert by_day["2026-01-10"] == {"day": "2026-01-10", "revenueCents": 1999 + 2000, "purchases": 2, "refunds": 0}
    assert by_day["2026-01-11"]["purchases"] == 0
    # The refund subtracts on the local 14th, where the grant counts as a purchase with 0 revenue.
    assert by_day["2026-01-14"] == {"day": "2026-01-14", "revenueCents": -1999, "purchases": 1, "refunds": 1}
    assert data["totalRevenueCents"] == 1999 + 2000 + 1999 - 1999
    assert data["purchaseCount"] == 5 and data["refundCount"] == 1 and data["customerCount"] == 3
    assert (data["fromDay"], data["toDay"]) == ("2026-01-09", "2026-01-15")

    # Default range: the last 30 local days, which include the purchase made a minute ago.
    data = (await gql.ok(ANALYTICS, {"s": "dash"}, dash["owner"].token))["organization"]["analytics"]
    today = datetime.fromisoformat(data["toDay"]).date()
    compare(data, expected_analytics(rows, "America/New_York", today - timedelta(days=29), today, utcnow()))
    assert data["revenueThisMonthCents"] >= 1850


async def test_bad_ranges_are_refused(dash, gql):
    for bad in ({"from": "2026-01-15", "to": "2026-01-09"}, {"from": "2020-01-01", "to": "2026-01-01"}):
        body = await gql(ANALYTICS, {"s": "dash", "r": bad}, dash["owner"].token)
        assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


async def test_summaries_equal_a_rebuild_and_follow_a_timezone_change(dash, db, admin_db, gql):
    org = dash["org"]
    rows = await purchase_rows(admin_db, org)
    maintained = await summaries(admin_db, org)
    assert maintained == expected_summaries(rows, "America/New_York")
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await service.rebuild_summaries(session, org)
    assert await summaries(admin_db, org) == maintained

    # Tokyo is UTC+9: the purchase at 15:00 UTC on the 10th moves to the 11th, the taxed one to the 11th.
    await admin_db.execute("update organization set timezone = 'Asia/Tokyo' where id = $1", org)
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await service.rebuild_daily_rollups(session, org)
    assert await summaries(admin_db, org) == expected_summaries(rows, "Asia/Tokyo")
    data = (await gql.ok(ANALYTICS, {"s": "dash", "r": JAN}, dash["owner"].token))["organization"]["analytics"]
    compare(data, expected_analytics(rows, "Asia/Tokyo", date(2026, 1, 9), date(2026, 1, 15), utcnow()))

    # The rebuild runs as the tables' owner, so it checks the transaction's organization itself.
    other = uuid.uuid4()
    with pytest.raises(DBAPIError, match="not the organization of this transaction"):
        async with db.transaction(TenantScope(organization_id=other)) as session:
            await service.rebuild_daily_rollups(session, org)
    with pytest.raises(DBAPIError):
        async with db.transaction(TenantScope()) as session:
            await service.rebuild_summaries(session, org)
    assert await summaries(admin_db, org) == expected_summaries(rows, "Asia/Tokyo")


async def test_codex_app_cannot_write_the_summaries(dash, db):
    from sqlalchemy import text

    for statement in ("delete from customer_summary", "update content_sales_summary set revenue_cents = 0",
                      "insert into purchase_daily_stats (organization_id, day) values (:org, '2026-01-01')"):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.transaction(TenantScope(organization_id=dash["org"])) as session:
                await session.execute(text(statement), {"org": dash["org"]})


async def test_summaries_follow_real_checkouts_refunds_grants_and_claims(shop, admin_db):
    """Through the app: a paid checkout with tax, a plain one refunded by staff, a grant, a free claim."""
    grant = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) { errors { code } } }"""
    claim = """mutation($i: ClaimFreeContentInput!) { claimFreeContent(input: $i) { errors { code } } }"""
    ann = await shop.factory.user(name="Ann")
    ben = await shop.factory.user(name="Ben")
    started = await shop.checkout(ann)
    await shop.deliver(shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1], tax=300))
    await shop.buy(ben)
    ben_purchase = await admin_db.fetchval("select id from purchase where user_id = $1", ben.user_id)
    body = await shop.gql.ok(REFUND, {"input": {"purchaseId": to_global_id("Purchase", ben_purchase), "reason": "",
                                                 "idempotencyKey": "r1"}}, shop.owner.token)
    assert body["refundPurchase"]["purchase"]["status"] == "REFUNDED"
    await shop.gql.ok(grant, {"i": {"contentId": shop.paid, "userId": ben.global_id}}, shop.owner.token)
    await shop.gql.ok(claim, {"i": {"contentId": shop.free}}, ann.token)

    rows = await purchase_rows(admin_db, shop.org)
    assert sorted((r.kind, r.status, r.tax) for r in rows) == [
        ("FREE", "COMPLETED", 0), ("GRANT", "COMPLETED", 0), ("PAID", "COMPLETED", 300), ("PAID", "REFUNDED", 0)]
    assert await summaries(admin_db, shop.org) == expected_summaries(rows, "UTC")
    today = utcnow().date()
    data = (await shop.gql.ok(ANALYTICS, {"s": "shop", "r": {"from": today.isoformat(), "to": today.isoformat()}},
                              shop.owner.token))["organization"]["analytics"]
    compare(data, expected_analytics(rows, "UTC", today, today, utcnow()))
    assert data["totalRevenueCents"] == 1999 and data["purchaseCount"] == 4 and data["refundCount"] == 1
