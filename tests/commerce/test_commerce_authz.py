"""Who may see and change purchases: authorization matrices for the commerce mutations and restricted
fields, purchase visibility per caller, creator shares and revenue, and statement counts of the
purchase lists.

Callers are built around the shop's organization (tests/support/commerce.py): its OWNER has every
permission, a MEMBER has none of the commerce ones, a customer bought the paid item, and the owner of
a rival organization is "staff of another organization". Permission rules are evaluated against the
viewer's *active* organization; for the rival owner that is the rival organization, where mutations
pass the permission check and the organization-scoped lookup answers NOT_FOUND instead (asserted
separately from the matrices).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.db import utcnow
from codex_graphql.relay import to_global_id
from tests.support import Actors, Person, assert_authz_matrix, bare, statements
from tests.support.commerce import REFUND, Shop, insert_content

GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code field message } purchase { id kind status } } }"""
REVOKE = """mutation($i: RevokeContentAccessInput!) { revokeContentAccess(input: $i) {
  errors { code field message } purchase { id status refundedAt } } }"""
ORG_PURCHASES = """query($s: String!) { organization(slug: $s) { purchases(first: 10) { totalCount
  nodes { id status amountCents customer { name } customerEmail creatorShareCents } } } }"""
EARNINGS = """query($s: String!) { organization(slug: $s) { creatorEarnings {
  creator { name } purchases grossCents shareCents } } }"""
REVENUE = "query($id: ID!) { content(id: $id) { title revenueCents } }"
NODE = """query($id: ID!) { node(id: $id) { id ... on Purchase { status amountCents contentTitle
  customer { name } customerEmail creatorShareCents } } }"""
NODE_PUBLIC = "query($id: ID!) { node(id: $id) { id ... on Purchase { status amountCents contentTitle } } }"
MY_PURCHASES = "{ viewer { purchases(first: 10) { nodes { id status } } } }"


@dataclass
class Market:
    shop: Shop
    actors: Actors
    member: Person
    rival_owner: Person
    rival: uuid.UUID
    buyer: Person  # bought the paid item; also the matrix's "customer"
    purchase: str  # global id of the buyer's PAID purchase


@dataclass
class Only(Actors):
    """Matrix callers minus some whose outcome is a payload error, asserted on its own."""

    skip: tuple[str, ...] = ()

    def tokens(self) -> dict[str, str | None]:
        return {name: token for name, token in super().tokens().items() if name not in self.skip}


def without(actors: Actors, *names: str) -> Only:
    return Only(**vars(actors), skip=names)


@pytest.fixture
async def market(shop, admin_db) -> Market:
    member = await shop.factory.user(name="Mo Member")
    await shop.factory.member(shop.org, member, OrgRole.MEMBER)
    rival_owner = await shop.factory.user(name="Rita Rival")
    rival = await shop.factory.organization(rival_owner, slug="rival")
    buyer = await shop.factory.user(name="Bea Buyer", email="bea@example.com")
    await shop.buy(buyer)
    purchase_id = await admin_db.fetchval("select id from purchase where user_id = $1", buyer.user_id)
    actors = Actors(org=shop.org, org_slug="shop", other_org=rival, customer=buyer, other_staff=rival_owner,
                    staff_without=member, staff_with=shop.owner)
    return Market(shop=shop, actors=actors, member=member, rival_owner=rival_owner, rival=rival, buyer=buyer,
                  purchase=to_global_id("Purchase", purchase_id))


def commerce_state(admin_db: Any, shop: Shop) -> Any:
    async def snapshot() -> dict[str, Any]:
        return {
            "purchases": [tuple(r) for r in await admin_db.fetch(
                "select id, kind, status, refunded_at, refund_requested_at, refund_reason, note from purchase order by id")],
            "entitlements": [tuple(r) for r in await admin_db.fetch(
                "select user_id, content_id, source, revoked_at from content_entitlement order by id")],
            "outbox": await admin_db.fetchval("select count(*) from outbox_message"),
            "idempotency": await admin_db.fetchval("select count(*) from idempotency_record"),
            "provider_refunds": len(shop.stripe.refunds),
        }

    return snapshot


def payload_codes(body: dict[str, Any], field: str) -> list[str]:
    assert "errors" not in body, body
    return [e["code"] for e in body["data"][field]["errors"]]


# --- mutations ------------------------------------------------------------------------------------


async def test_refund_purchase_matrix(market, admin_db):
    shop, actors = market.shop, market.actors
    snapshot = commerce_state(admin_db, shop)
    variables = {"input": {"purchaseId": market.purchase, "reason": "requested_by_customer", "idempotencyKey": "m1"}}
    before = await snapshot()
    # Staff of another organization pass the permission check in their own (active) organization;
    # the purchase is not found there.
    rival = await shop.gql(REFUND, variables, market.rival_owner.token)
    assert payload_codes(rival, "refundPurchase") == ["NOT_FOUND"] and rival["data"]["refundPurchase"]["purchase"] is None
    # A creator manages content but does not refund.
    creator = await shop.gql(REFUND, variables, shop.creator.token)
    assert [e["extensions"]["code"] for e in creator["errors"]] == ["FORBIDDEN"]
    assert await snapshot() == before

    results = await assert_authz_matrix(shop.gql, without(actors, "other_org_staff"), REFUND, variables,
                                        path=["refundPurchase", "purchase"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    refunded = results["staff_with_permission"]["data"]["refundPurchase"]
    assert refunded["errors"] == [] and refunded["purchase"]["status"] == "REFUNDED"
    assert len(shop.stripe.refunds) == 1
    assert await shop.has_access(market.buyer) is False


async def test_grant_content_access_matrix(market, admin_db):
    shop, actors = market.shop, market.actors
    guest = await shop.factory.user(name="Gus Guest")
    snapshot = commerce_state(admin_db, shop)
    variables = {"i": {"contentId": shop.paid, "userId": guest.global_id, "note": "festival jury"}}
    before = await snapshot()
    rival = await shop.gql(GRANT, variables, market.rival_owner.token)
    assert payload_codes(rival, "grantContentAccess") == ["NOT_FOUND"]
    assert await snapshot() == before

    results = await assert_authz_matrix(shop.gql, without(actors, "other_org_staff"), GRANT, variables,
                                        path=["grantContentAccess", "purchase"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    granted = results["staff_with_permission"]["data"]["grantContentAccess"]
    assert granted["errors"] == [] and granted["purchase"]["kind"] == "GRANT"
    assert await shop.has_access(guest) is True


async def test_revoke_content_access_matrix(market, admin_db):
    shop, actors = market.shop, market.actors
    guest = await shop.factory.user(name="Gus Guest")
    granted = (await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": guest.global_id}},
                                 shop.owner.token))["grantContentAccess"]["purchase"]
    snapshot = commerce_state(admin_db, shop)
    variables = {"i": {"purchaseId": granted["id"]}}
    before = await snapshot()
    rival = await shop.gql(REVOKE, variables, market.rival_owner.token)
    assert payload_codes(rival, "revokeContentAccess") == ["NOT_FOUND"]
    assert await snapshot() == before
    assert await shop.has_access(guest) is True

    results = await assert_authz_matrix(shop.gql, without(actors, "other_org_staff"), REVOKE, variables,
                                        path=["revokeContentAccess", "purchase"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    revoked = results["staff_with_permission"]["data"]["revokeContentAccess"]["purchase"]
    assert revoked["status"] == "REFUNDED" and revoked["refundedAt"] is not None
    assert await shop.has_access(guest) is False


# --- restricted fields ----------------------------------------------------------------------------


async def test_purchase_lists_earnings_and_revenue_matrices(market, admin_db):
    shop, actors = market.shop, market.actors
    snapshot = commerce_state(admin_db, shop)
    listed = await assert_authz_matrix(shop.gql, actors, ORG_PURCHASES, {"s": "shop"}, path=["organization", "purchases"],
                                       allowed={"staff_with_permission"}, snapshot=snapshot)
    purchases = listed["staff_with_permission"]["data"]["organization"]["purchases"]
    assert purchases["totalCount"] == 1
    assert purchases["nodes"] == [{"id": market.purchase, "status": "COMPLETED", "amountCents": 1999,
                                   "customer": {"name": "Bea Buyer"}, "customerEmail": "bea@example.com",
                                   "creatorShareCents": 1999}]

    earned = await assert_authz_matrix(shop.gql, actors, EARNINGS, {"s": "shop"}, path=["organization", "creatorEarnings"],
                                       allowed={"staff_with_permission"}, snapshot=snapshot)
    assert earned["staff_with_permission"]["data"]["organization"]["creatorEarnings"] == [
        {"creator": {"name": "Cleo Creator"}, "purchases": 1, "grossCents": 1999, "shareCents": 1999}]

    revenue = await assert_authz_matrix(shop.gql, actors, REVENUE, {"id": shop.paid}, path=["content", "revenueCents"],
                                        allowed={"staff_with_permission"}, snapshot=snapshot)
    assert revenue["staff_with_permission"]["data"]["content"] == {"title": "Paid film", "revenueCents": 1999}
    # Refused callers still see the public part of the item.
    assert revenue["customer"]["data"]["content"] == {"title": "Paid film", "revenueCents": None}
    # The rival's own revenue field shows nothing of this shop's sales.
    rival_content = await insert_content(shop.factory.db, market.rival, market.rival_owner.user_id, "Rival film", 500)
    own = await shop.gql.ok(REVENUE, {"id": rival_content}, market.rival_owner.token)
    assert own["content"]["revenueCents"] == 0


async def test_purchase_visibility_and_restricted_purchase_fields(market, admin_db):
    shop, actors = market.shop, market.actors
    # The buyer sees their purchase in their list and through node(id:) ...
    mine = (await shop.gql.ok(MY_PURCHASES, token=market.buyer.token))["viewer"]["purchases"]["nodes"]
    assert mine == [{"id": market.purchase, "status": "COMPLETED"}]
    own = await shop.gql.ok(NODE_PUBLIC, {"id": market.purchase}, market.buyer.token)
    assert own["node"] == {"id": market.purchase, "status": "COMPLETED", "amountCents": 1999, "contentTitle": "Paid film"}
    # ... but not who bought it, the email on file or the creator's share (PURCHASES_READ): FORBIDDEN for
    # the buyer, data for staff with the permission.
    results = await assert_authz_matrix(
        shop.gql, without(actors, "anonymous", "other_org_staff", "staff_without_permission"), NODE,
        {"id": market.purchase}, path=["node", "customer"], allowed={"staff_with_permission"},
        snapshot=commerce_state(admin_db, shop))
    refused = results["customer"]
    assert sorted(e["path"][-1] for e in refused["errors"]) == ["creatorShareCents", "customer", "customerEmail"]
    assert refused["data"]["node"] == {"id": market.purchase, "status": "COMPLETED", "amountCents": 1999,
                                       "contentTitle": "Paid film", "customer": None, "customerEmail": None,
                                       "creatorShareCents": None}
    assert results["staff_with_permission"]["data"]["node"] | {"id": None} == {
        "id": None, "status": "COMPLETED", "amountCents": 1999, "contentTitle": "Paid film",
        "customer": {"name": "Bea Buyer"}, "customerEmail": "bea@example.com", "creatorShareCents": 1999}

    # Everyone else gets null from node(id:): nothing leaks, not even that the purchase exists.
    other_customer = await shop.factory.user()
    for name, token in {"anonymous": None, "other customer": other_customer.token,
                        "other organization's staff": market.rival_owner.token,
                        "staff without PURCHASES_READ": market.member.token, "creator": shop.creator.token}.items():
        body = await shop.gql(NODE, {"id": market.purchase}, token)
        assert bare(body) == {"data": {"node": None}}, (name, body)

    # A staff member without PURCHASES_READ who holds a purchase of their own sees it, minus the
    # restricted fields.
    await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": market.member.global_id}}, shop.owner.token)
    body = await shop.gql("{ viewer { purchases(first: 5) { nodes { kind customer { name } customerEmail } } } }",
                          token=market.member.token)
    assert body["data"]["viewer"]["purchases"]["nodes"] == [{"kind": "GRANT", "customer": None, "customerEmail": None}]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"} and len(body["errors"]) == 2


async def test_permissions_follow_the_active_organization(market):
    shop = market.shop
    # The rival owner also becomes ADMIN of the shop; their first organization stays active.
    await shop.factory.member(shop.org, market.rival_owner, OrgRole.ADMIN)
    token = await shop.factory.login(market.rival_owner.email)
    refused = await shop.gql(ORG_PURCHASES, {"s": "shop"}, token)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    assert "active organization" in refused["errors"][0]["message"]
    assert refused["data"]["organization"]["purchases"] is None
    assert (await shop.gql(NODE, {"id": market.purchase}, token))["data"]["node"] is None
    # With the shop active (per request), the same person reads them.
    header = {"X-Codex-Organization": "shop"}
    listed = await shop.gql.ok(ORG_PURCHASES, {"s": "shop"}, token, headers=header)
    assert [n["id"] for n in listed["organization"]["purchases"]["nodes"]] == [market.purchase]
    node = await shop.gql.ok(NODE, {"id": market.purchase}, token, headers=header)
    assert node["node"]["customerEmail"] == "bea@example.com"
    # ... and the rival organization's fields are now the ones refused.
    rival = await shop.gql(ORG_PURCHASES, {"s": "rival"}, token, headers=header)
    assert [e["extensions"]["code"] for e in rival["errors"]] == ["FORBIDDEN"]


# --- creator share and revenue --------------------------------------------------------------------


async def test_creator_share_and_revenue_are_net_of_tax_and_refunds(shop, admin_db, db):
    await admin_db.execute("update organization set creator_share_percent = 70 where id = $1", shop.org)
    second = await insert_content(db, shop.org, shop.owner.user_id, "Second film", 1250)

    async def buy(customer: Person, content: str, tax: int) -> None:
        started = await shop.checkout(customer, content)
        assert started["errors"] == [], started
        event = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1], tax=tax)
        assert (await shop.deliver(event)).status_code == 200

    ann, ben = await shop.factory.user(), await shop.factory.user()
    await buy(ann, shop.paid, tax=160)  # 1999 + 160 tax
    await buy(ben, shop.paid, tax=0)  # 1999, refunded below
    await buy(ann, second, tax=100)  # 1250 + 100 tax
    refund_id = await admin_db.fetchval("select id from purchase where user_id = $1", ben.user_id)
    refunded = await shop.gql(REFUND, {"input": {"purchaseId": to_global_id("Purchase", refund_id),
                                                 "idempotencyKey": "share"}}, shop.owner.token)
    assert refunded["data"]["refundPurchase"]["errors"] == []

    rows = await admin_db.fetch("select amount_cents, tax_cents, status from purchase")
    assert sorted((r["amount_cents"], r["tax_cents"], r["status"]) for r in rows) == [
        (1350, 100, "COMPLETED"), (1999, 0, "REFUNDED"), (2159, 160, "COMPLETED")]
    # Independently: revenue is amount minus tax over completed purchases; the share is 70 %, rounded down.
    # creatorEarnings reads the ledger: every sale counts in `purchases`; `grossCents` and `shareCents` are net of
    # the refund.
    sales = {"Cleo Creator": [(2159, 160, False), (1999, 0, True)], "Test User": [(1350, 100, False)]}
    expected = sorted(
        ({"creator": {"name": name}, "purchases": len(items),
          "grossCents": sum(a - t for a, t, refunded in items if not refunded),
          "shareCents": sum((a - t) * 70 // 100 for a, t, refunded in items if not refunded)}
         for name, items in sales.items()),
        key=lambda e: e["creator"]["name"])
    assert expected[0]["shareCents"] == 1399 and expected[1]["shareCents"] == 875

    earnings = (await shop.gql.ok(EARNINGS, {"s": "shop"}, shop.owner.token))["organization"]["creatorEarnings"]
    assert sorted(earnings, key=lambda e: e["creator"]["name"]) == expected
    paid = (await shop.gql.ok(REVENUE, {"id": shop.paid}, shop.owner.token))["content"]["revenueCents"]
    other = (await shop.gql.ok(REVENUE, {"id": second}, shop.owner.token))["content"]["revenueCents"]
    assert (paid, other) == (2159 - 160, 1350 - 100)
    listed = (await shop.gql.ok(ORG_PURCHASES, {"s": "shop"}, shop.owner.token))["organization"]["purchases"]["nodes"]
    assert sorted(n["creatorShareCents"] for n in listed) == sorted([1999 * 70 // 100, 1999 * 70 // 100, 1250 * 70 // 100])


# --- statement counts -----------------------------------------------------------------------------


async def insert_purchases(admin_db: Any, org: uuid.UUID, rows: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]],
                           *, with_email: bool) -> None:
    """Raw purchase rows (user, content, creator, title), a minute apart."""
    base = utcnow() - timedelta(days=1)
    await admin_db.executemany(
        "insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status, "
        "amount_cents, tax_cents, currency, creator_share_cents, customer_email, created_at, updated_at) "
        "values ($1, $2, $3, $4, $5, $6, 'PAID', 'COMPLETED', 500, 0, 'USD', 500, $7, $8, $8)",
        [(uuid.uuid4(), org, user, content, creator, title, f"c{n}@example.com" if with_email and n % 2 else None,
          base + timedelta(minutes=n)) for n, (user, content, creator, title) in enumerate(rows)],
    )


STATEMENTS: list[str] = []


async def counted(shop: Shop, query: str, variables: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
    async with statements(shop.app) as seen:
        data = await shop.gql.ok(query, variables, token)
    STATEMENTS[:] = seen
    return len(seen), data


VIEWER_PAGE = """query($n: Int!) { viewer { purchases(first: $n) { nodes { id status amountCents contentTitle receiptUrl
  content { title } organization { slug } } } } }"""
ORG_PAGE = """query($n: Int!) { organization(slug: "shop") { purchases(first: $n) { nodes { id status amountCents
  customer { name } customerEmail } } } }"""


async def test_viewer_purchases_cost_the_same_for_5_and_20(shop, admin_db, db):
    rival_owner = await shop.factory.user()
    rival = await shop.factory.organization(rival_owner, slug="rival")
    customer = await shop.factory.user()
    items = {shop.org: [], rival: []}
    for org, creator in ((shop.org, shop.creator.user_id), (rival, rival_owner.user_id)):
        for n in range(4):
            await insert_content(db, org, creator, f"Item {n} of {org}", 300 + n)
            items[org].append((uuid.UUID(await admin_db.fetchval(
                "select id::text from content where title = $1", f"Item {n} of {org}")), creator, f"Item {n}"))
    for org in (shop.org, rival):
        await insert_purchases(admin_db, org, [(customer.user_id, c, creator, t) for c, creator, t in items[org] * 3],
                               with_email=False)
    await shop.gql.ok(VIEWER_PAGE, {"n": 1}, customer.token)  # warm the session cache

    small, five = await counted(shop, VIEWER_PAGE, {"n": 5}, customer.token)
    large, twenty = await counted(shop, VIEWER_PAGE, {"n": 20}, customer.token)
    assert len(five["viewer"]["purchases"]["nodes"]) == 5
    nodes = twenty["viewer"]["purchases"]["nodes"]
    assert len(nodes) == 20 and {n["organization"]["slug"] for n in nodes} == {"shop", "rival"}
    assert all(n["content"]["title"].startswith("Item ") and n["receiptUrl"].startswith("http://testserver/receipts/")
               for n in nodes)
    assert small == large, (small, large)
    assert large <= 7, STATEMENTS  # session check (2), transaction scope, viewer, page, contents, organizations


async def test_organization_purchases_cost_the_same_for_5_and_20(shop, admin_db):
    customers = [await shop.factory.user(name=f"Customer {n}") for n in range(6)]
    content_id = uuid.UUID(await admin_db.fetchval("select id::text from content where title = 'Paid film'"))
    await insert_purchases(admin_db, shop.org, [(customers[n % 6].user_id, content_id, shop.creator.user_id, "Paid film")
                                                for n in range(24)], with_email=True)
    await shop.gql.ok(ORG_PAGE, {"n": 1}, shop.owner.token)

    small, five = await counted(shop, ORG_PAGE, {"n": 5}, shop.owner.token)
    large, twenty = await counted(shop, ORG_PAGE, {"n": 20}, shop.owner.token)
    assert len(five["organization"]["purchases"]["nodes"]) == 5
    nodes = twenty["organization"]["purchases"]["nodes"]
    assert len(nodes) == 20 and {n["customer"]["name"] for n in nodes} == {f"Customer {n}" for n in range(6)}
    by_email = {n["customerEmail"] for n in nodes}
    assert any(e.startswith("c") and e.endswith("@example.com") for e in by_email)  # the email at purchase time
    assert {c.email for c in customers} & by_email  # else the account's email
    assert small == large, (small, large)
    assert large <= 6, STATEMENTS  # session check (2), transaction scope, organization, page, users
