"""The earnings ledger through the real purchase path (startCheckout, the Stripe stand-in, the signed
completion webhook) and the real refund path (refundPurchase, partial and full): each sale and refund piece
writes one entry per party, divided by earnings/split.py under the terms of the sale; parts add up cent for
cent; a replayed webhook writes nothing twice; the creators' summary matches the ledger; terms changed after
a sale do not change its refunds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.earnings.service import set_platform_fee
from codex_graphql.relay import decode_id, to_global_id
from tests.support import Person
from tests.support.commerce import Shop, shop  # noqa: F401  (the fixture)

SPLIT = """mutation($input: SetContentRevenueSplitInput!) { setContentRevenueSplit(input: $input) {
  errors { code field message } content { id revenueSplit { creatorSharePercent effectiveCreatorSharePercent
  contributors { sharePercent user { id name } } } } } }"""
SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { defaultCreatorSharePercent } } }"""
REFUND = """mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) {
  errors { code field message } purchase { id status refundedAmountCents } } }"""
MY_PURCHASES = "{ viewer { purchases(first: 5) { nodes { id amountCents } } } }"


@pytest.fixture
async def platform_fee(db) -> AsyncIterator[Any]:
    """Set the platform fee for a test; the one platform row goes back to 0 after it."""
    async def set_fee(percent: int) -> int:
        return await set_platform_fee(db, percent)
    yield set_fee
    await set_platform_fee(db, 0)


async def entries(admin_db: Any, purchase_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await admin_db.fetch("select kind, party, user_id, amount_cents, weight, refund_id from earning_entry "
                                "where purchase_id = $1 order by created_at, party, user_id", purchase_id)
    return [dict(row) for row in rows]


def by_party(rows: list[dict[str, Any]], kind: str | None = None) -> dict[tuple[str, uuid.UUID | None], int]:
    found: dict[tuple[str, uuid.UUID | None], int] = {}
    for row in rows:
        if kind is None or row["kind"] == kind:
            key = (row["party"], row["user_id"])
            found[key] = found.get(key, 0) + row["amount_cents"]
    return found


async def split_shop(shop: Shop, platform_fee: Any) -> Person:  # noqa: F811
    """10% platform fee, creators 70% by default, a co-creator with 30% of it on the paid item."""
    await platform_fee(10)
    co_creator = await shop.factory.user(name="Cora Cocreator")
    await shop.factory.member(shop.org, co_creator, OrgRole.CREATOR)
    changed = await shop.gql.ok(SETTINGS, {"input": {"defaultCreatorSharePercent": 70}}, shop.owner.token)
    assert changed["updateOrganizationSettings"] == {"errors": [], "settings": {"defaultCreatorSharePercent": 70}}
    split = await shop.gql.ok(SPLIT, {"input": {"contentId": shop.paid, "contributors": [
        {"userId": to_global_id("User", co_creator.user_id), "sharePercent": 30}]}}, shop.owner.token)
    assert split["setContentRevenueSplit"]["errors"] == []
    assert split["setContentRevenueSplit"]["content"]["revenueSplit"] == {
        "creatorSharePercent": None, "effectiveCreatorSharePercent": 70,
        "contributors": [{"sharePercent": 30, "user": {"id": to_global_id("User", co_creator.user_id),
                                                        "name": "Cora Cocreator"}}]}
    return co_creator


async def test_a_sale_and_its_refunds_divide_cent_for_cent(shop, admin_db, platform_fee):  # noqa: F811
    co_creator = await split_shop(shop, platform_fee)
    customer = await shop.factory.user()
    event = await shop.buy(customer)
    await shop.deliver(event)  # a replayed completion writes nothing twice
    purchase_gid = (await shop.gql.ok(MY_PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"][0]["id"]
    purchase_id = decode_id(purchase_gid, "Purchase")
    creator, cora = shop.creator.user_id, co_creator.user_id
    sale = by_party(await entries(admin_db, purchase_id), "SALE")
    # 1999 cents: platform 199.9 -> 199; Cora 1999 * .9 * .7 * .3 = 377.811 -> 377; the creator * .7 = 881.559 -> 881
    assert sale == {("PLATFORM", None): 199, ("CREATOR", cora): 377, ("CREATOR", creator): 881,
                    ("ORGANIZATION", None): 542}
    assert await admin_db.fetchval("select creator_share_cents from purchase where id = $1", purchase_id) == 1258

    # Terms changed after the sale do not change its refunds.
    await shop.gql.ok(SPLIT, {"input": {"contentId": shop.paid, "creatorSharePercent": 10, "contributors": []}},
                      shop.owner.token)
    for amount in (500, 333, None):  # two partial refunds, then the rest
        body = await shop.gql.ok(REFUND, {"input": {"purchaseId": purchase_gid, "idempotencyKey": uuid.uuid4().hex,
                                                    **({"amountCents": amount} if amount else {})}}, shop.owner.token)
        assert body["refundPurchase"]["errors"] == [], body
        rows = await entries(admin_db, purchase_id)
        pieces = [r for r in rows if r["kind"] == "REFUND"]
        by_refund: dict[uuid.UUID, int] = {}
        for row in pieces:
            by_refund[row["refund_id"]] = by_refund.get(row["refund_id"], 0) + row["amount_cents"]
        refunded = await admin_db.fetch("select id, net_cents from purchase_refund where purchase_id = $1 and "
                                        "status = 'SUCCEEDED'", purchase_id)
        assert by_refund == {r["id"]: -r["net_cents"] for r in refunded}  # each piece adds up to its refund
    back = by_party(await entries(admin_db, purchase_id), "REFUND")
    assert back == {party: -cents for party, cents in sale.items()}  # refunded in full: every cent taken back
    creators_refunded = await admin_db.fetchval("select creator_refunded_cents from purchase where id = $1", purchase_id)
    assert creators_refunded == 1258

    summary = {row["user_id"]: dict(row) for row in await admin_db.fetch(
        "select user_id, sales, earned_cents, refunded_cents from creator_earning_summary where organization_id = $1",
        shop.org)}
    assert summary == {creator: {"user_id": creator, "sales": 1, "earned_cents": 881, "refunded_cents": 881},
                       cora: {"user_id": cora, "sales": 1, "earned_cents": 377, "refunded_cents": 377}}


async def test_the_ledger_is_append_only_for_the_app(shop, db, admin_db, platform_fee):  # noqa: F811
    await split_shop(shop, platform_fee)
    customer = await shop.factory.user()
    await shop.buy(customer)
    privileges = {row["privilege_type"] for row in await admin_db.fetch(
        "select privilege_type from information_schema.role_table_grants where table_name = 'earning_entry' "
        "and grantee = 'codex_app'")}
    assert privileges == {"SELECT", "INSERT"}
    summary = {row["privilege_type"] for row in await admin_db.fetch(
        "select privilege_type from information_schema.role_table_grants where table_name = "
        "'creator_earning_summary' and grantee = 'codex_app'")}
    assert summary == {"SELECT"}


async def test_co_creators_shares_over_100_are_refused_at_commit_too(shop, admin_db):  # noqa: F811
    content_id = decode_id(shop.paid, "Content")
    async with admin_db.transaction():
        await admin_db.execute("insert into content_contributor (content_id, user_id, organization_id, share_percent) "
                               "values ($1, $2, $3, 60)", content_id, shop.creator.user_id, shop.org)
    with pytest.raises(Exception, match="at most 100"):
        async with admin_db.transaction():
            await admin_db.execute("insert into content_contributor (content_id, user_id, organization_id, "
                                   "share_percent) values ($1, $2, $3, 41)", content_id, shop.owner.user_id, shop.org)
    assert await admin_db.fetchval("select sum(share_percent) from content_contributor where content_id = $1",
                                   content_id) == 60
