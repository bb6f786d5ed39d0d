"""Downloads through a subscription: the same download path as purchases (no subscription-specific check). A
subscriber downloads a covered item up to the organization's limit, counted exactly once under concurrent requests
on a counter of the subscription and the item; not an item outside the tier; nothing more once the subscription
ends. A subscriber who also holds an entitlement to the item is counted on the entitlement, which outlives the
subscription."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from codex_graphql.authz import Viewer
from codex_graphql.content import downloads
from codex_graphql.content.models import Content
from codex_graphql.db import TenantScope
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.relay import decode_id, to_global_id
from tests.subscriptions.support import StripeShop, category, created, subscribed, wire_webhooks
from tests.support.commerce import insert_content
from tests.support.reviews import entitle, set_item, set_settings

REQUEST = """mutation($input: RequestDownloadInput!) { requestDownload(input: $input) {
  errors { code field message } download { url used limit remaining } } }"""
FIELD = "query($id: ID!) { content(id: $id) { download { url used limit remaining } } }"


async def _shelf(shop: StripeShop, db: Any, admin_db: Any, limit: int) -> tuple[dict[str, Any], uuid.UUID, uuid.UUID]:
    """A published tier granting category Yoga; an item in Yoga and one outside it, both downloadable."""
    yoga = await category(shop.gql, shop.token, "Yoga")
    tier = await created(shop.gql, shop.token, published=True, trialDays=0, categoryIds=[yoga])
    creator = shop.actors.staff_with.user_id
    items = []
    for title in ("Sun salutation", "Cooking"):
        item = decode_id(await insert_content(db, shop.actors.org, creator, title, 900), "Content")
        assert item is not None
        await set_item(db, shop.actors.org, item, allow_downloads=True)
        items.append(item)
    inside, outside = items
    await admin_db.execute("insert into content_category (content_id, category_id, organization_id) values ($1, $2, $3)",
                           inside, decode_id(yoga, "Category"), shop.actors.org)
    assert (await set_settings(shop.gql, shop.actors.staff_with, downloadLimit=limit))["downloadLimit"] == limit
    wire_webhooks(shop)
    return tier, inside, outside


def _gid(item: uuid.UUID) -> str:
    return to_global_id("Content", item)


async def _request(shop: StripeShop, item: uuid.UUID) -> dict[str, Any]:
    body = await shop.gql(REQUEST, {"input": {"contentId": _gid(item)}}, shop.actors.customer.token)
    return body["data"]["requestDownload"]


async def _counters(admin_db: Any) -> list[tuple[Any, ...]]:
    rows = await admin_db.fetch("select content_id, entitlement_id, subscription_id, used from download_counter "
                                "order by created_at")
    return [tuple(row) for row in rows]


def _codes(result: dict[str, Any]) -> list[str]:
    return [error["code"] for error in result["errors"]]


async def _subscription_row(admin_db: Any, user_id: uuid.UUID) -> uuid.UUID:
    return await admin_db.fetchval("select id from subscription where user_id = $1 and access_until > now()", user_id)


def _stripe_subscription(events: list[dict[str, Any]]) -> str:
    return next(e for e in events if e["type"] == "customer.subscription.created")["data"]["object"]["id"]


async def test_a_subscriber_downloads_a_covered_item_up_to_the_limit_under_concurrency(stripe_shop: StripeShop, db,
                                                                                       admin_db):
    shop = stripe_shop
    tier, inside, outside = await _shelf(shop, db, admin_db, limit=3)
    assert _codes(await _request(shop, inside)) == ["NOT_ALLOWED"]  # not subscribed yet
    await subscribed(shop, tier["id"])

    results = await asyncio.gather(*(_request(shop, inside) for _ in range(10)))
    granted = [r for r in results if r["errors"] == []]
    refused = [r for r in results if r["errors"]]
    assert sorted(r["download"]["used"] for r in granted) == [1, 2, 3]
    assert all(r["download"]["url"] and r["download"]["limit"] == 3 for r in granted)
    assert len(refused) == 7 and {c for r in refused for c in _codes(r)} == {"DOWNLOAD_LIMIT_REACHED"}
    assert all(r["download"] is None for r in refused)
    subscription = await _subscription_row(admin_db, shop.actors.customer.user_id)
    assert await _counters(admin_db) == [(inside, None, subscription, 3)]

    # The field reports the used-up allowance without counting; the item outside the tier is refused.
    field = (await shop.gql.ok(FIELD, {"id": _gid(inside)}, shop.actors.customer.token))["content"]["download"]
    assert (field["used"], field["limit"], field["remaining"]) == (3, 3, 0)
    assert _codes(await _request(shop, outside)) == ["NOT_ALLOWED"]
    assert await _counters(admin_db) == [(inside, None, subscription, 3)]


async def test_a_subscriber_loses_downloads_when_the_subscription_ends(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    tier, inside, _ = await _shelf(shop, db, admin_db, limit=5)
    events = await subscribed(shop, tier["id"])
    first = (await shop.gql.ok(FIELD, {"id": _gid(inside)}, shop.actors.customer.token))["content"]["download"]
    assert first["url"] and (first["used"], first["remaining"]) == (1, 4)
    assert (await _request(shop, inside))["download"]["used"] == 2

    ended = shop.stripe.end(_stripe_subscription(events))
    assert {r.status_code for r in await shop.stripe.send(ended)} == {200}
    assert _codes(await _request(shop, inside)) == ["NOT_ALLOWED"]
    body = await shop.gql(FIELD, {"id": _gid(inside)}, shop.actors.customer.token)
    assert body["data"]["content"]["download"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    [(_, entitlement, subscription, used)] = await _counters(admin_db)
    assert (entitlement, used) == (None, 2) and subscription is not None


async def test_an_entitlement_is_counted_before_a_subscription_and_outlives_it(stripe_shop: StripeShop, db,
                                                                                admin_db):
    shop = stripe_shop
    tier, inside, _ = await _shelf(shop, db, admin_db, limit=2)
    events = await subscribed(shop, tier["id"])
    entitlement = await entitle(db, shop.actors.org, inside, shop.actors.customer)
    assert (await _request(shop, inside))["download"]["used"] == 1
    assert await _counters(admin_db) == [(inside, entitlement, None, 1)]

    ended = shop.stripe.end(_stripe_subscription(events))
    assert {r.status_code for r in await shop.stripe.send(ended)} == {200}
    assert (await _request(shop, inside))["download"]["used"] == 2
    assert _codes(await _request(shop, inside)) == ["DOWNLOAD_LIMIT_REACHED"]
    assert await _counters(admin_db) == [(inside, entitlement, None, 2)]


async def test_access_ending_between_the_check_and_the_count_is_refused_not_counted(stripe_shop: StripeShop, db,
                                                                                   admin_db):
    """The resolver saw the viewer entitled (``entitled=True``), then the subscription ended before the counter
    was taken: no source admits them any more, so the download is refused as without access."""
    shop = stripe_shop
    _, inside, _ = await _shelf(shop, db, admin_db, limit=2)
    viewer = Viewer(user_id=shop.actors.customer.user_id)
    storage = shop.app.state.runtime["services"].storage
    async with db.transaction(TenantScope(user_id=viewer.user_id)) as session:
        content = await session.get(Content, inside)
        assert content is not None
        with pytest.raises(DomainError) as refused:
            await downloads.issue(session, storage, viewer, content, True, reuse_window=False)
    assert [error.code for error in refused.value.errors] == [ErrorCode.NOT_ALLOWED]
    assert await _counters(admin_db) == []
