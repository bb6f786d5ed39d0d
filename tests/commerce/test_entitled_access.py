"""Buyers keep what they paid for: an item unpublished or deleted after a purchase or grant stays
readable, playable and resumable for the entitled customer (until a full refund or a revoked grant),
and stays out of lists, search and ``node(id:)`` for everyone else. One rule (``content.access``),
applied by the resolvers, the compiled path and the row-level security policy on ``content``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id, to_global_id
from tests.support import Person
from tests.support.commerce import REFUND

ITEM = """query($id: ID!) { content(id: $id) { id title status viewerHasAccess playback { url expiresAt }
  playbackPosition } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Content { title } } }"
SAVE = """mutation($i: SavePlaybackPositionInput!) { savePlaybackPosition(input: $i) {
  errors { code field message } positionSeconds } }"""
HISTORY = "{ viewer { purchases(first: 10) { nodes { status contentTitle content { id title } } } } }"
CATALOGUE = """query($search: String) { organization(slug: "shop") {
  contents(first: 50, filter: {search: $search}) { totalCount nodes { id } } } }"""
STAFF_ACTION = """mutation($id: ID!) { %s(input: {contentId: $id}) { errors { code field message } } }"""
GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code field message } purchase { id } } }"""
REVOKE = """mutation($i: RevokeContentAccessInput!) { revokeContentAccess(input: $i) {
  errors { code field message } purchase { id status } } }"""


async def store_media(shop: Any, admin_db: Any, tmp_path: Any, title: str = "Paid film") -> None:
    key = await admin_db.fetchval("select storage_key from content where title = $1", title)
    media = tmp_path / "film.mp4"
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    await shop.app.state.runtime["services"].storage.upload_file(key, media, "video/mp4")


async def take_down(shop: Any, how: str) -> None:
    done = await shop.gql.ok(STAFF_ACTION % how, {"id": shop.paid}, shop.owner.token)
    assert done[how]["errors"] == []


async def catalogue_ids(shop: Any, token: str | None, search: str | None = None) -> set[str]:
    data = await shop.gql.ok(CATALOGUE, {"search": search}, token)
    return {n["id"] for n in data["organization"]["contents"]["nodes"]}


async def assert_hidden_from(shop: Any, token: str | None) -> None:
    """The item is nowhere for this caller: not by id, not as a node, not in lists or search."""
    item = await shop.gql(ITEM, {"id": shop.paid}, token)
    assert item["data"]["content"] is None, item
    node = await shop.gql(NODE, {"id": shop.paid}, token)
    assert node["data"]["node"] is None, node
    assert shop.paid not in await catalogue_ids(shop, token)
    assert shop.paid not in await catalogue_ids(shop, token, search="Paid")


async def assert_kept_by(shop: Any, buyer: Person) -> None:
    item = (await shop.gql.ok(ITEM, {"id": shop.paid}, buyer.token))["content"]
    assert item["id"] == shop.paid and item["title"] == "Paid film" and item["viewerHasAccess"] is True
    played = await shop.http.get(item["playback"]["url"])
    assert played.status_code == 200 and played.content.startswith(b"\x00\x00\x00\x18ftyp")
    saved = (await shop.gql.ok(SAVE, {"i": {"contentId": shop.paid, "positionSeconds": 12.5}}, buyer.token))
    assert saved["savePlaybackPosition"]["positionSeconds"] == 12.5
    again = (await shop.gql.ok(ITEM, {"id": shop.paid}, buyer.token))["content"]
    assert again["playbackPosition"] == 12.5
    node = (await shop.gql.ok(NODE, {"id": shop.paid}, buyer.token))["node"]
    assert node == {"id": shop.paid, "title": "Paid film"}
    history = (await shop.gql.ok(HISTORY, token=buyer.token))["viewer"]["purchases"]["nodes"]
    assert [p["content"] for p in history] == [{"id": shop.paid, "title": "Paid film"}]
    # Ownership never brings an unpublished or deleted item back into a list or a search.
    assert shop.paid not in await catalogue_ids(shop, buyer.token)
    assert shop.paid not in await catalogue_ids(shop, buyer.token, search="Paid")


@pytest.mark.parametrize("how", ["unpublishContent", "deleteContent"])
async def test_a_buyer_keeps_an_item_taken_down_after_the_purchase(shop, admin_db, tmp_path, how):
    await store_media(shop, admin_db, tmp_path)
    buyer = await shop.factory.user(name="Buyer")
    other = await shop.factory.user(name="Someone else")
    await shop.buy(buyer)
    await take_down(shop, how)

    await assert_kept_by(shop, buyer)
    await assert_hidden_from(shop, other.token)
    await assert_hidden_from(shop, None)
    other_org_owner = await shop.factory.user()
    await shop.factory.organization(other_org_owner, slug="elsewhere")
    await assert_hidden_from(shop, other_org_owner.token)
    # A customer who never bought it cannot play it or save a position either.
    refused = (await shop.gql(SAVE, {"i": {"contentId": shop.paid, "positionSeconds": 1}}, other.token))
    assert [e["code"] for e in refused["data"]["savePlaybackPosition"]["errors"]] == ["NOT_FOUND"]


async def test_staff_see_an_unpublished_item_but_not_a_deleted_one(shop, admin_db, tmp_path):
    await take_down(shop, "unpublishContent")
    staff = (await shop.gql.ok(ITEM, {"id": shop.paid}, shop.owner.token))["content"]
    assert staff["status"] == "READY"
    await take_down(shop, "deleteContent")
    assert (await shop.gql.ok(ITEM, {"id": shop.paid}, shop.owner.token))["content"] is None


async def test_a_full_refund_ends_access_to_a_taken_down_item(shop, admin_db, tmp_path):
    await store_media(shop, admin_db, tmp_path)
    buyer = await shop.factory.user(name="Buyer")
    await shop.buy(buyer)
    await take_down(shop, "unpublishContent")
    await assert_kept_by(shop, buyer)

    [purchase_id] = [r["id"] for r in await admin_db.fetch("select id from purchase")]
    refunded = await shop.gql.ok(REFUND, {"input": {"purchaseId": to_global_id("Purchase", purchase_id),
                                                    "reason": "customer asked",
                                                    "idempotencyKey": "refund-1"}}, shop.owner.token)
    assert refunded["refundPurchase"]["purchase"]["status"] == "REFUNDED"

    await assert_hidden_from(shop, buyer.token)
    history = (await shop.gql.ok(HISTORY, token=buyer.token))["viewer"]["purchases"]["nodes"]
    assert history == [{"status": "REFUNDED", "contentTitle": "Paid film", "content": None}]


async def test_a_revoked_grant_ends_access_to_a_deleted_item(shop, admin_db, tmp_path):
    await store_media(shop, admin_db, tmp_path)
    guest = await shop.factory.user(name="Guest")
    granted = await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": guest.global_id}}, shop.owner.token)
    await take_down(shop, "deleteContent")

    item = (await shop.gql.ok(ITEM, {"id": shop.paid}, guest.token))["content"]
    assert item["viewerHasAccess"] is True and item["playback"]["url"]

    revoked = await shop.gql.ok(REVOKE, {"i": {"purchaseId": granted["grantContentAccess"]["purchase"]["id"]}},
                                shop.owner.token)
    assert revoked["revokeContentAccess"]["purchase"]["status"] == "REFUNDED"
    await assert_hidden_from(shop, guest.token)


async def test_row_level_security_admits_exactly_the_entitled_user(shop, db, admin_db):
    """The policy itself, below the application: a query that forgets every filter."""
    buyer = await shop.factory.user()
    other = await shop.factory.user()
    await shop.buy(buyer)
    await take_down(shop, "deleteContent")
    content_id = decode_id(shop.paid, "Content")

    async def visible_to(person: Person) -> int:
        async with db.transaction(TenantScope(user_id=person.user_id)) as session:
            return int(await session.scalar(text("select count(*) from content where id = :id"), {"id": content_id}))

    assert await visible_to(buyer) == 1
    assert await visible_to(other) == 0
    await admin_db.execute("update content_entitlement set revoked_at = now()")
    assert await visible_to(buyer) == 0
