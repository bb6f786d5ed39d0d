"""Access without a card: free claims, staff grants and revocations, and the embedded `local` payment
provider end to end (checkout page, pay, receipt page, refund)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.payments.factory import build_payments, webhook_secret
from codex_graphql.payments.local import LocalProvider
from codex_graphql.relay import to_global_id
from tests.support import Factory, GraphQLClient, Person
from tests.support.commerce import ACCESS, REFUND, insert_content

CLAIM = """mutation($i: ClaimFreeContentInput!) { claimFreeContent(input: $i) {
  errors { code field message } purchase { id kind status amountCents taxCents currency contentTitle refundedAt
  content { title } } } }"""
GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code field message } purchase { id kind status amountCents contentTitle note refundedAt customer { name } } } }"""
REVOKE = """mutation($i: RevokeContentAccessInput!) { revokeContentAccess(input: $i) {
  errors { code field message } purchase { id kind status refundedAt } } }"""
MY_PURCHASES = """{ viewer { purchases(first: 20) { totalCount nodes { id kind status amountCents currency contentTitle
  receiptUrl refundedAt content { title } organization { slug } } } } }"""
PLAYBACK = "query($id: ID!) { content(id: $id) { viewerHasAccess playback { url } } }"
START = """mutation($i: StartCheckoutInput!) { startCheckout(input: $i) {
  errors { code field message } checkoutUrl checkout { status amountCents currency } } }"""


async def state(admin_db: Any) -> dict[str, Any]:
    """Everything the commerce mutations may write."""
    return {
        "purchases": [tuple(r) for r in await admin_db.fetch(
            "select id, kind, status, amount_cents, refunded_at, note from purchase order by id")],
        "entitlements": [tuple(r) for r in await admin_db.fetch(
            "select user_id, content_id, source, revoked_at from content_entitlement order by id")],
        "outbox": await admin_db.fetchval("select count(*) from outbox_message"),
        "idempotency": await admin_db.fetchval("select count(*) from idempotency_record"),
        "checkouts": await admin_db.fetchval("select count(*) from checkout_session"),
        "events": await admin_db.fetchval("select count(*) from stripe_event"),
    }


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


# --- claimFreeContent ---------------------------------------------------------------------------------


async def test_claim_free_content_grants_access_at_once_and_is_idempotent(shop, admin_db, tmp_path):
    customer = await shop.factory.user()
    key = await admin_db.fetchval("select storage_key from content where title = 'Free short'")
    media = tmp_path / "free.mp4"
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    await shop.app.state.runtime["services"].storage.upload_file(key, media, "video/mp4")

    before = await shop.gql(PLAYBACK, {"id": shop.free}, customer.token)
    assert before["data"]["content"] == {"viewerHasAccess": False, "playback": None}
    assert [e["extensions"]["code"] for e in before["errors"]] == ["FORBIDDEN"]

    claimed = (await shop.gql.ok(CLAIM, {"i": {"contentId": shop.free}}, customer.token))["claimFreeContent"]
    purchase = claimed["purchase"]
    assert purchase | {"id": None} == {
        "id": None, "kind": "FREE", "status": "COMPLETED", "amountCents": 0, "taxCents": 0, "currency": "USD",
        "contentTitle": "Free short", "refundedAt": None, "content": {"title": "Free short"}}

    after = (await shop.gql.ok(PLAYBACK, {"id": shop.free}, customer.token))["content"]
    assert after["viewerHasAccess"] is True
    played = await shop.http.get(after["playback"]["url"])
    assert played.status_code == 200 and played.content == media.read_bytes()

    row = await admin_db.fetchrow("select * from purchase")
    assert (row["kind"], row["status"], row["amount_cents"], row["user_id"]) == ("FREE", "COMPLETED", 0, customer.user_id)
    assert to_global_id("Purchase", row["id"]) == purchase["id"]
    mine = (await shop.gql.ok(MY_PURCHASES, token=customer.token))["viewer"]["purchases"]
    assert mine["totalCount"] == 1 and mine["nodes"][0]["id"] == purchase["id"]

    snapshot = await state(admin_db)
    again = (await shop.gql.ok(CLAIM, {"i": {"contentId": shop.free}}, customer.token))["claimFreeContent"]
    assert again["purchase"]["id"] == purchase["id"]
    assert await state(admin_db) == snapshot
    # A claim is not a sale: no purchase email is queued.
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'send_purchase_email'") == 0


async def test_concurrent_claims_and_grants_create_one_purchase(shop, admin_db):
    customer = await shop.factory.user()
    results = await asyncio.gather(*(
        shop.gql(CLAIM, {"i": {"contentId": shop.free}}, customer.token) for _ in range(8)))
    ids = {r["data"]["claimFreeContent"]["purchase"]["id"] for r in results}
    assert all(r["data"]["claimFreeContent"]["errors"] == [] for r in results)
    assert len(ids) == 1
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'FREE'") == 1
    assert await admin_db.fetchval("select count(*) from content_entitlement") == 1

    # Two staff members granting the same person the same item at once: one grant, one ALREADY_OWNED.
    results = await asyncio.gather(*(
        shop.gql(GRANT, {"i": {"contentId": shop.paid, "userId": customer.global_id}}, shop.owner.token)
        for _ in range(6)))
    outcomes = sorted(tuple(codes(r["data"]["grantContentAccess"])) for r in results)
    assert outcomes == [()] + [("ALREADY_OWNED",)] * 5
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'GRANT'") == 1
    assert await admin_db.fetchval("select count(*) from content_entitlement") == 2


async def test_claim_refusals_store_nothing(shop, admin_db, db):
    customer = await shop.factory.user()
    draft = await insert_content(db, shop.org, shop.creator.user_id, "Free draft", 0)
    await admin_db.execute("update content set status = 'READY', published_at = null where title = 'Free draft'")
    deleted = await insert_content(db, shop.org, shop.creator.user_id, "Free but deleted", 0)
    await admin_db.execute("update content set deleted_at = now() where title = 'Free but deleted'")
    snapshot = await state(admin_db)

    paid = (await shop.gql(CLAIM, {"i": {"contentId": shop.paid}}, customer.token))["data"]["claimFreeContent"]
    assert paid["purchase"] is None and codes(paid) == ["INVALID_STATE"]
    assert paid["errors"][0]["field"] == ["input", "contentId"]
    for content_id in (draft, deleted, to_global_id("Content", uuid.uuid4()), "Q29udGVudDpub3BlCg",
                       to_global_id("User", customer.user_id)):
        refused = (await shop.gql(CLAIM, {"i": {"contentId": content_id}}, customer.token))["data"]["claimFreeContent"]
        assert refused["purchase"] is None and codes(refused) == ["NOT_FOUND"], content_id

    anonymous = await shop.gql(CLAIM, {"i": {"contentId": shop.free}})
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    assert anonymous["data"] is None or anonymous["data"]["claimFreeContent"] is None
    assert await state(admin_db) == snapshot
    assert await shop.has_access(customer, shop.paid) is False
    assert await shop.has_access(customer, shop.free) is False


# --- grantContentAccess / revokeContentAccess -------------------------------------------------------


async def test_grant_gives_access_and_revoke_takes_it_back(shop, admin_db):
    customer = await shop.factory.user(name="Press Person")
    granted = (await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": customer.global_id,
                                               "note": "  press copy  "}}, shop.owner.token))["grantContentAccess"]
    purchase = granted["purchase"]
    assert purchase | {"id": None} == {
        "id": None, "kind": "GRANT", "status": "COMPLETED", "amountCents": 0, "contentTitle": "Paid film",
        "note": "press copy", "refundedAt": None, "customer": {"name": "Press Person"}}
    row = await admin_db.fetchrow("select * from purchase")
    assert (row["user_id"], row["granted_by_id"], row["note"]) == (customer.user_id, shop.owner.user_id, "press copy")
    assert await shop.has_access(customer) is True
    mine = (await shop.gql.ok(MY_PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"]
    assert [(p["id"], p["kind"]) for p in mine] == [(purchase["id"], "GRANT")]

    snapshot = await state(admin_db)
    twice = (await shop.gql(GRANT, {"i": {"contentId": shop.paid, "userId": customer.global_id}},
                            shop.owner.token))["data"]["grantContentAccess"]
    assert codes(twice) == ["ALREADY_OWNED"] and twice["purchase"] is None
    assert await state(admin_db) == snapshot

    revoked = (await shop.gql.ok(REVOKE, {"i": {"purchaseId": purchase["id"]}}, shop.owner.token))["revokeContentAccess"]
    assert revoked["purchase"]["id"] == purchase["id"] and revoked["purchase"]["status"] == "REFUNDED"
    assert revoked["purchase"]["refundedAt"] is not None
    assert await shop.has_access(customer) is False
    playback = await shop.gql(PLAYBACK, {"id": shop.paid}, customer.token)
    assert playback["data"]["content"]["playback"] is None
    mine = (await shop.gql.ok(MY_PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"]
    assert mine[0]["status"] == "REFUNDED" and mine[0]["refundedAt"] == revoked["purchase"]["refundedAt"]
    assert await admin_db.fetchval("select count(*) from content_entitlement where revoked_at is null") == 0

    snapshot = await state(admin_db)
    again = (await shop.gql(REVOKE, {"i": {"purchaseId": purchase["id"]}}, shop.owner.token))["data"]["revokeContentAccess"]
    assert codes(again) == ["INVALID_STATE"]
    assert await state(admin_db) == snapshot

    # Access can be granted anew after a revocation.
    regranted = (await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": customer.global_id}},
                                   shop.owner.token))["grantContentAccess"]["purchase"]
    assert regranted["id"] != purchase["id"] and regranted["note"] is None
    assert await shop.has_access(customer) is True


async def test_paid_purchases_are_not_revoked_and_grants_are_not_refunded(shop, admin_db):
    buyer = await shop.factory.user()
    await shop.buy(buyer)
    paid_id = to_global_id("Purchase", await admin_db.fetchval("select id from purchase where kind = 'PAID'"))
    friend = await shop.factory.user()
    grant_id = (await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": friend.global_id}},
                                  shop.owner.token))["grantContentAccess"]["purchase"]["id"]
    snapshot = await state(admin_db)

    revoke_paid = (await shop.gql(REVOKE, {"i": {"purchaseId": paid_id}}, shop.owner.token))["data"]["revokeContentAccess"]
    assert codes(revoke_paid) == ["INVALID_STATE"] and revoke_paid["purchase"] is None
    refund_grant = (await shop.gql(REFUND, {"input": {"purchaseId": grant_id, "idempotencyKey": "g1"}},
                                   shop.owner.token))["data"]["refundPurchase"]
    assert codes(refund_grant) == ["INVALID_STATE"] and refund_grant["purchase"] is None
    assert await state(admin_db) == snapshot
    assert shop.stripe.refunds == {}
    assert await shop.has_access(buyer) is True and await shop.has_access(friend) is True


async def test_refunding_one_of_two_payments_keeps_access_through_the_other(shop, admin_db):
    """Two checkouts opened before either was paid (two tabs) both complete: refunding the purchase that
    carries the entitlement must not take away access the other purchase still pays for."""
    customer = await shop.factory.user()
    first, second = await shop.checkout(customer), await shop.checkout(customer)
    for started in (first, second):
        event = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1])
        assert (await shop.deliver(event)).status_code == 200
    rows = await admin_db.fetch("select id from purchase where status = 'COMPLETED' order by created_at")
    assert len(rows) == 2
    entitled = await admin_db.fetchval("select source_id from content_entitlement where revoked_at is null")
    ids = [entitled] + [r["id"] for r in rows if r["id"] != entitled]
    for n, purchase in enumerate(ids):
        refunded = (await shop.gql(REFUND, {"input": {"purchaseId": to_global_id("Purchase", purchase),
                                                      "idempotencyKey": f"twice-{n}"}}, shop.owner.token))
        assert refunded["data"]["refundPurchase"]["errors"] == []
        still_paid = n == 0
        assert await shop.has_access(customer) is still_paid
        assert await admin_db.fetchval(
            "select count(*) from content_entitlement where revoked_at is null") == (1 if still_paid else 0)


async def test_grant_and_revoke_refuse_unknown_and_foreign_ids(shop, admin_db, db):
    customer = await shop.factory.user()
    rival_owner = await shop.factory.user()
    rival = await shop.factory.organization(rival_owner, slug="rival")
    foreign_content = await insert_content(db, rival, rival_owner.user_id, "Rival film", 700)
    rival_grant = (await shop.gql.ok(GRANT, {"i": {"contentId": foreign_content, "userId": customer.global_id}},
                                     rival_owner.token))["grantContentAccess"]["purchase"]["id"]
    snapshot = await state(admin_db)

    cases = [
        ({"contentId": shop.paid, "userId": to_global_id("User", uuid.uuid4())}, "userId"),
        ({"contentId": shop.paid, "userId": shop.paid}, "userId"),
        ({"contentId": foreign_content, "userId": customer.global_id}, "contentId"),
        ({"contentId": to_global_id("Content", uuid.uuid4()), "userId": customer.global_id}, "contentId"),
    ]
    for given, field in cases:
        refused = (await shop.gql(GRANT, {"i": given}, shop.owner.token))["data"]["grantContentAccess"]
        assert codes(refused) == ["NOT_FOUND"] and refused["errors"][0]["field"] == ["input", field], given
        assert refused["purchase"] is None
    too_long = (await shop.gql(GRANT, {"i": {"contentId": shop.paid, "userId": customer.global_id, "note": "x" * 1001}},
                               shop.owner.token))["data"]["grantContentAccess"]
    assert codes(too_long) == ["INVALID_INPUT"] and too_long["errors"][0]["field"] == ["input", "note"]
    for purchase_id in (rival_grant, to_global_id("Purchase", uuid.uuid4()), "bm9wZQ"):
        refused = (await shop.gql(REVOKE, {"i": {"purchaseId": purchase_id}}, shop.owner.token))["data"]["revokeContentAccess"]
        assert codes(refused) == ["NOT_FOUND"] and refused["purchase"] is None
    assert await state(admin_db) == snapshot
    assert await shop.has_access(customer, foreign_content) is True  # the rival's grant is untouched


async def test_grant_idempotency_key(shop, admin_db):
    customer = await shop.factory.user()
    request = {"contentId": shop.paid, "userId": customer.global_id, "note": "gift", "idempotencyKey": "grant-1"}
    first = (await shop.gql.ok(GRANT, {"i": request}, shop.owner.token))["grantContentAccess"]
    snapshot = await state(admin_db)
    replay = (await shop.gql.ok(GRANT, {"i": request}, shop.owner.token))["grantContentAccess"]
    assert replay["purchase"] == first["purchase"]
    assert await state(admin_db) == snapshot
    reused = (await shop.gql(GRANT, {"i": {**request, "note": "another"}}, shop.owner.token))["data"]["grantContentAccess"]
    assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"] and reused["errors"][0]["field"] == ["input", "idempotencyKey"]
    other = await shop.factory.user()
    reused = (await shop.gql(GRANT, {"i": {**request, "userId": other.global_id}}, shop.owner.token))["data"]
    assert codes(reused["grantContentAccess"]) == ["IDEMPOTENCY_KEY_REUSED"]
    assert await state(admin_db) == snapshot
    assert await shop.has_access(other) is False
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'GRANT'") == 1


# --- the local payment provider ----------------------------------------------------------------------


@dataclass
class LocalShop:
    app: Any
    http: httpx.AsyncClient
    gql: GraphQLClient
    factory: Factory
    owner: Person
    paid: str


@pytest.fixture
async def local_shop(settings, db) -> AsyncIterator[LocalShop]:
    configured = settings.model_copy(update={"payments_provider": "local", "stripe_secret_key": None,
                                             "stripe_webhook_secret": None})
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.runtime["services"].payments, LocalProvider)
        transport = httpx.ASGITransport(app=app, client=("198.51.100.10", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            gql = GraphQLClient(http)
            factory = Factory(db, gql)
            owner = await factory.user()
            org = await factory.organization(owner, slug="local-shop")
            creator = await factory.user()
            await factory.member(org, creator, OrgRole.CREATOR)
            paid = await insert_content(db, org, creator.user_id, "Local film", 1250)
            yield LocalShop(app=app, http=http, gql=gql, factory=factory, owner=owner, paid=paid)


async def start_local(local_shop: LocalShop, customer: Person) -> dict[str, Any]:
    started = (await local_shop.gql.ok(START, {"i": {
        "contentId": local_shop.paid, "successUrl": "http://testserver/thanks?from=local",
        "cancelUrl": "http://testserver/cancel", "idempotencyKey": uuid.uuid4().hex}}, customer.token))["startCheckout"]
    return started


async def test_local_provider_checkout_pay_receipt_and_refund(local_shop, admin_db):
    shop = local_shop
    customer = await shop.factory.user(email="local-buyer@example.com")
    started = await start_local(shop, customer)
    url = started["checkoutUrl"]
    assert url.startswith("http://testserver/checkout/local/cs_local_")
    assert started["checkout"] == {"status": "OPEN", "amountCents": 1250, "currency": "USD"}

    page = await shop.http.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="pay"' in page.text and "Pay 12.50 USD" in page.text and "Local film" in page.text
    assert "local-buyer@example.com" in page.text
    assert await admin_db.fetchval("select count(*) from purchase") == 0  # looking is not paying

    paid = await shop.http.post(url)
    assert paid.status_code == 303 and paid.headers["location"] == "http://testserver/thanks?from=local"
    assert (await shop.gql.ok(ACCESS, {"id": shop.paid}, customer.token))["content"]["viewerHasAccess"] is True
    [purchase] = (await shop.gql.ok(MY_PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"]
    assert (purchase["kind"], purchase["status"], purchase["amountCents"], purchase["currency"]) == ("PAID", "COMPLETED", 1250, "USD")
    assert purchase["organization"] == {"slug": "local-shop"} and purchase["content"] == {"title": "Local film"}
    assert purchase["receiptUrl"].startswith("http://testserver/receipts/")
    receipt = await shop.http.get(purchase["receiptUrl"])
    assert receipt.status_code == 200 and "Local film" in receipt.text and "12.50 USD" in receipt.text
    assert await admin_db.fetchval("select status from checkout_session") == "COMPLETED"
    assert await admin_db.fetchval("select provider from purchase") == "local"

    # Pressing Pay again (a double submit) records nothing new.
    assert (await shop.http.post(url)).status_code == 303
    assert await admin_db.fetchval("select count(*) from purchase") == 1
    assert await admin_db.fetchval("select count(*) from stripe_event") == 1

    # A receipt link with a wrong signature shows nothing.
    forged = purchase["receiptUrl"].rsplit("sig=", 1)[0] + "sig=" + "0" * 64
    assert (await shop.http.get(forged)).status_code == 404

    refunded = (await shop.gql(REFUND, {"input": {"purchaseId": purchase["id"], "reason": "requested_by_customer",
                                                  "idempotencyKey": "local-refund"}}, shop.owner.token))["data"]["refundPurchase"]
    assert refunded["errors"] == [] and refunded["purchase"]["status"] == "REFUNDED"
    assert refunded["purchase"]["refundedAt"] is not None
    assert (await shop.gql.ok(ACCESS, {"id": shop.paid}, customer.token))["content"]["viewerHasAccess"] is False
    assert await admin_db.fetchval("select count(*) from content_entitlement where revoked_at is null") == 0


def _tamper(url: str, **changes: Any) -> str:
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    body, _, mac = token.partition(".")
    data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(orjson.dumps({**data, **changes})).decode().rstrip("=")
    return f"{parts.scheme}://{parts.netloc}{parts.path}?token={forged}.{mac}"


async def test_local_checkout_refuses_tampered_links(local_shop, admin_db):
    shop = local_shop
    customer = await shop.factory.user()
    url = (await start_local(shop, customer))["checkoutUrl"]
    before = await state(admin_db)
    cheaper = _tamper(url, amount=1)
    other_session = url.replace("/cs_local_", "/cs_local_0", 1)
    no_token = url.split("?", 1)[0]
    bad_mac = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    for forged in (cheaper, other_session, no_token, bad_mac):
        assert (await shop.http.get(forged)).status_code == 404, forged
        assert (await shop.http.post(forged)).status_code == 404, forged
    assert await state(admin_db) == before
    assert (await shop.gql.ok(ACCESS, {"id": shop.paid}, customer.token))["content"]["viewerHasAccess"] is False


async def test_local_provider_refuses_production(settings):
    with pytest.raises(RuntimeError, match="production"):
        LocalProvider("https://codex.example", "k" * 40, "whsec_x", "production")
    production = settings.model_copy(update={"environment": "production", "payments_provider": "local"})
    with pytest.raises(RuntimeError):
        build_payments(production)
    # Outside production it builds, with a webhook secret derived from SECRET_KEY.
    provider = build_payments(settings.model_copy(update={"payments_provider": "local"}))
    assert isinstance(provider, LocalProvider) and provider.webhook_secret == webhook_secret(settings)


async def test_local_checkout_route_is_off_with_stripe(shop):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    assert started["checkoutUrl"].startswith("https://checkout.stripe.com/")
    assert (await shop.http.get("/checkout/local/cs_local_x?token=a.b")).status_code == 404
    assert (await shop.http.post("/checkout/local/cs_local_x?token=a.b")).status_code == 404
