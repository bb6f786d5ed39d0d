"""A priced series (issue 16 item 2): sold as one BUNDLE item through the normal purchase path; its entitlement
covers every item of the series, the ones added after the purchase too (a source of access, no copied rows);
a refund ends it for every item at once; not on sale while the series is a draft or selling is off."""

from __future__ import annotations

from typing import Any

from codex_graphql.relay import decode_id
from tests.fastpath.test_fastpath_equivalence import fast_path
from tests.series.test_series import ADD, CREATE, UPDATE
from tests.support import commerce as commerce_support
from tests.support.commerce import REFUND, insert_content

shop = commerce_support.shop

SERIES = """query($id: ID!) { node(id: $id) { ... on Series { title forSale viewerOwns
  offer { id kind status priceCents listed viewerHasAccess } } } }"""
ACCESS = "query($id: ID!) { content(id: $id) { title viewerHasAccess } }"
CATALOGUE = """query { organization(slug: "shop") { contents(first: 50) { nodes { id title kind viewerHasAccess } } } }"""
DOWNLOAD = "query($id: ID!) { content(id: $id) { download { url used limit } } }"
PURCHASES = "query { viewer { purchases { nodes { id kind amountCents content { kind title } } } } }"


async def _series(shop_: Any, **fields: Any) -> dict[str, Any]:
    created = await shop_.gql.ok(CREATE, {"input": {"title": "Masterclass", **fields}}, shop_.owner.token)
    return created["createSeries"]["series"]


async def _offer(shop_: Any, series_id: str, token: str | None) -> dict[str, Any] | None:
    return (await shop_.gql.ok(SERIES, {"id": series_id}, token))["node"]


async def _has(shop_: Any, content_id: str, token: str) -> bool:
    return (await shop_.gql.ok(ACCESS, {"id": content_id}, token))["content"]["viewerHasAccess"]


async def test_buying_a_series_entitles_every_item_and_later_ones_until_a_refund(shop, db, admin_db):
    series = await _series(shop, published=True, priceCents=2500)
    await shop.gql.ok(ADD, {"input": {"seriesId": series["id"], "contentIds": [shop.paid]}}, shop.owner.token)
    outside = await insert_content(db, shop.org, shop.creator.user_id, "Not in the series", 700)
    buyer = await shop.factory.user(name="Series buyer")
    seen = await _offer(shop, series["id"], buyer.token)
    assert seen["forSale"] is True and seen["viewerOwns"] is False
    offer = seen["offer"]
    assert (offer["kind"], offer["status"], offer["priceCents"], offer["listed"]) == ("BUNDLE", "PUBLISHED", 2500, False)
    catalogue = (await shop.gql.ok(CATALOGUE, {}, None))["organization"]["contents"]["nodes"]
    assert offer["id"] not in [n["id"] for n in catalogue]  # never listed

    await shop.buy(buyer, offer["id"])
    assert (await _offer(shop, series["id"], buyer.token))["viewerOwns"] is True
    assert await _has(shop, shop.paid, buyer.token) is True
    assert await _has(shop, outside, buyer.token) is False
    assert await admin_db.fetchval("select count(*) from content_entitlement where user_id = $1",
                                   buyer.user_id) == 1  # one entitlement: the offer's, no copied rows
    # An item added after the purchase is covered at once; both execution paths agree.
    later = await insert_content(db, shop.org, shop.creator.user_id, "Added later", 900)
    await shop.gql.ok(ADD, {"input": {"seriesId": series["id"], "contentIds": [later]}}, shop.owner.token)
    assert await _has(shop, later, buyer.token) is True
    assert fast_path(shop.app).plan(CATALOGUE, None) is not None
    nodes = (await shop.gql.ok(CATALOGUE, {}, buyer.token))["organization"]["contents"]["nodes"]
    access = {n["title"]: n["viewerHasAccess"] for n in nodes}
    assert access["Added later"] is True and access["Paid film"] is True and access["Not in the series"] is False
    # Downloads count per item of the series, against the series' one entitlement.
    await admin_db.execute("update content set allow_downloads = true where id = any($1::uuid[])",
                           [decode_id(shop.paid, "Content"), decode_id(later, "Content")])
    for item in (shop.paid, later):
        download = (await shop.gql.ok(DOWNLOAD, {"id": item}, buyer.token))["content"]["download"]
        assert download["url"] and download["used"] == 1, download
    counters = await admin_db.fetch("select entitlement_id, content_id, used from download_counter order by content_id")
    assert len(counters) == 2 and len({c["entitlement_id"] for c in counters}) == 1
    bought = (await shop.gql.ok(PURCHASES, {}, buyer.token))["viewer"]["purchases"]["nodes"]
    assert [(p["amountCents"], p["content"]["kind"]) for p in bought] == [(2500, "BUNDLE")]

    # A buyer keeps an item of the series after it is unpublished, as with a bought item.
    await admin_db.execute("update content set status = 'READY' where id = $1", decode_id(later, "Content"))
    assert (await shop.gql.ok(ACCESS, {"id": later}, buyer.token))["content"]["title"] == "Added later"

    # A full refund revokes the one entitlement: every item at once.
    refunded = (await shop.gql(REFUND, {"input": {"purchaseId": bought[0]["id"], "idempotencyKey": "r1"}},
                               shop.owner.token))["data"]["refundPurchase"]
    assert refunded["errors"] == []
    assert await _has(shop, shop.paid, buyer.token) is False
    assert (await shop.gql.ok(ACCESS, {"id": later}, buyer.token))["content"] is None  # unpublished: gone too
    assert (await _offer(shop, series["id"], buyer.token))["viewerOwns"] is False


async def test_a_series_is_on_sale_only_while_published_with_selling_on(shop):
    owner = shop.owner.token
    series = await _series(shop, priceCents=1200)  # a DRAFT
    customer = await shop.factory.user(name="Early")
    assert await _offer(shop, series["id"], customer.token) is None  # the draft series is not theirs to see
    offer_id = (await _offer(shop, series["id"], owner))["offer"]["id"]
    refused = await shop.checkout(customer, offer_id)
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    await shop.gql.ok(UPDATE, {"input": {"seriesId": series["id"], "published": True}}, owner)
    assert (await _offer(shop, series["id"], customer.token))["offer"]["status"] == "PUBLISHED"
    await shop.gql.ok(UPDATE, {"input": {"seriesId": series["id"], "forSale": False}}, owner)
    seen = await _offer(shop, series["id"], customer.token)
    assert seen["forSale"] is False and seen["offer"] is None  # off sale: the offer is no longer public
    assert [e["code"] for e in (await shop.checkout(customer, offer_id))["errors"]] == ["NOT_FOUND"]
    # Selling without a price is refused; a new price and selling again put it back on sale.
    plain = await _series(shop, published=True)
    answer = (await shop.gql(UPDATE, {"input": {"seriesId": plain["id"], "forSale": True}}, owner))["data"]
    assert [(e["code"], e["field"]) for e in answer["updateSeries"]["errors"]] == [("INVALID_INPUT", ["input", "priceCents"])]
    await shop.gql.ok(UPDATE, {"input": {"seriesId": series["id"], "forSale": True, "priceCents": 1500}}, owner)
    seen = await _offer(shop, series["id"], customer.token)
    assert seen["forSale"] is True and seen["offer"]["priceCents"] == 1500


async def test_the_content_policy_reads_a_bought_series_for_the_verified_user_only(shop, db):
    """Migration 0037: the read policy's set of bought-series items comes from the authenticated scope; a forged
    ``codex.user_id`` (set_config, as an injected statement would) asks for nothing of anyone else."""
    from sqlalchemy import text

    from codex_graphql.db import TenantScope

    series = await _series(shop, published=True, priceCents=2500)
    await shop.gql.ok(ADD, {"input": {"seriesId": series["id"], "contentIds": [shop.paid]}}, shop.owner.token)
    buyer = await shop.factory.user(name="Series buyer")
    await shop.buy(buyer, (await _offer(shop, series["id"], buyer.token))["offer"]["id"])
    stranger = await shop.factory.user(name="Stranger")
    paid = decode_id(shop.paid, "Content")
    query = text("select coalesce(array_agg(i), '{}') from codex_series_bought_items() i")
    async with db.transaction(TenantScope(user_id=buyer.user_id)) as session:
        assert list((await session.execute(query)).scalar_one()) == [paid]
    async with db.transaction(TenantScope(user_id=stranger.user_id)) as session:
        assert list((await session.execute(query)).scalar_one()) == []
        await session.execute(text("select set_config('codex.user_id', :u, true)"), {"u": str(buyer.user_id)})
        assert list((await session.execute(query)).scalar_one()) == []
