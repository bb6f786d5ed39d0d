"""Checkout through the official stripe library against the stand-in, and the webhook path."""

from __future__ import annotations

import asyncio
import time

from tests.support.commerce import REFUND, insert_content

PURCHASES = """{ viewer { purchases(first: 10) { totalCount nodes { id status kind amountCents taxCents currency
  contentTitle receiptUrl refundedAt content { title } organization { slug } } } } }"""


async def test_checkout_creates_a_stripe_session_with_database_price(shop, admin_db):
    customer = await shop.factory.user(email="buyer@example.com")
    started = await shop.checkout(customer)
    assert started["errors"] == [] and started["checkoutUrl"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert started["checkout"]["amountCents"] == 1999 and started["checkout"]["status"] == "OPEN"
    method, path, params, key = shop.stripe.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions") and key and key.startswith("checkout:")
    item = params["line_items"][0]
    assert params["mode"] == "payment" and params["customer_email"] == "buyer@example.com"
    assert item["price_data"] == {"currency": "usd", "unit_amount": "1999", "product_data": {"name": "Paid film"}}
    assert set(params["metadata"]) == {"organization_id", "content_id", "user_id", "checkout_id"}
    assert params["client_reference_id"] == params["metadata"]["checkout_id"]
    assert "automatic_tax" not in params
    assert await admin_db.fetchval("select count(*) from checkout_session") == 1


async def test_whole_path_buy_play_refund(shop, admin_db):
    customer = await shop.factory.user()
    assert await shop.has_access(customer) is False
    event = await shop.buy(customer)
    assert await shop.has_access(customer) is True
    playback = await shop.gql.ok("query($id:ID!){content(id:$id){playback{url}}}", {"id": shop.paid}, customer.token)
    assert playback["content"]["playback"]["url"].startswith("http://testserver/storage/")
    purchases = (await shop.gql.ok(PURCHASES, token=customer.token))["viewer"]["purchases"]
    assert purchases["totalCount"] == 1
    purchase = purchases["nodes"][0]
    assert purchase | {"id": None, "receiptUrl": None} == {
        "id": None, "status": "COMPLETED", "kind": "PAID", "amountCents": 1999, "taxCents": 0, "currency": "USD",
        "contentTitle": "Paid film", "receiptUrl": None, "refundedAt": None, "content": {"title": "Paid film"},
        "organization": {"slug": "shop"}}
    receipt = await shop.http.get(purchase["receiptUrl"])
    assert receipt.status_code == 200 and "Paid film" in receipt.text and "19.99 USD" in receipt.text
    row = await admin_db.fetchrow("select * from purchase")
    assert row["payment_intent_id"] == event["data"]["object"]["payment_intent"]
    assert row["creator_share_cents"] == 1999 and row["creator_id"] == shop.creator.user_id

    refunded = (await shop.gql(REFUND, {"input": {"purchaseId": purchase["id"], "reason": "requested_by_customer",
                                                  "idempotencyKey": "r1"}}, shop.owner.token))["data"]["refundPurchase"]
    assert refunded["errors"] == [] and refunded["purchase"]["status"] == "REFUNDED"
    assert await shop.has_access(customer) is False
    again = (await shop.gql(REFUND, {"input": {"purchaseId": purchase["id"], "idempotencyKey": "r2"}},
                            shop.owner.token))["data"]["refundPurchase"]
    assert again["errors"][0]["code"] == "INVALID_STATE"
    assert len(shop.stripe.refunds) == 1
    # Stripe then confirms with charge.refunded: nothing changes twice.
    charge = shop.stripe.charges[next(iter(shop.stripe.charges))]
    response = await shop.deliver(shop.stripe.event("charge.refunded", charge))
    assert response.status_code == 200
    assert await admin_db.fetchval("select outcome from stripe_event where type = 'charge.refunded'") == "already_refunded"
    kinds = [r["topic"] for r in await admin_db.fetch("select topic from outbox_message where kind = 'event' order by created_at")]
    assert kinds.count("purchase.completed") == 1 and kinds.count("purchase.refunded") == 1


async def test_refund_is_idempotent_per_key(shop, admin_db):
    customer = await shop.factory.user()
    await shop.buy(customer)
    purchase_id = (await shop.gql.ok(PURCHASES, token=customer.token))["viewer"]["purchases"]["nodes"][0]["id"]
    request = {"purchaseId": purchase_id, "reason": "duplicate", "idempotencyKey": "same-key"}
    first = (await shop.gql(REFUND, {"input": request}, shop.owner.token))["data"]["refundPurchase"]
    replay = (await shop.gql(REFUND, {"input": request}, shop.owner.token))["data"]["refundPurchase"]
    assert first["errors"] == [] and replay["errors"] == [] and replay["purchase"] == first["purchase"]
    changed = (await shop.gql(REFUND, {"input": {**request, "reason": "fraudulent"}}, shop.owner.token))["data"]["refundPurchase"]
    assert changed["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(shop.stripe.refunds) == 1


async def test_checkout_idempotency_key(shop, admin_db):
    customer = await shop.factory.user()
    first = await shop.checkout(customer, key="k1")
    replay = await shop.checkout(customer, key="k1")
    assert replay["checkoutUrl"] == first["checkoutUrl"]
    other = await shop.checkout(customer, content=shop.free, key="k1")
    assert other["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await admin_db.fetchval("select count(*) from checkout_session") == 1


async def test_checkout_refusals_change_nothing(shop, admin_db, db):
    customer = await shop.factory.user()
    bad_origin = await shop.gql(
        "mutation($i:StartCheckoutInput!){startCheckout(input:$i){errors{code field}}}",
        {"i": {"contentId": shop.paid, "successUrl": "https://evil.example/x", "cancelUrl": "http://testserver/c",
               "idempotencyKey": "a"}}, customer.token)
    assert bad_origin["data"]["startCheckout"]["errors"] == [{"code": "INVALID_INPUT", "field": ["input", "successUrl"]}]
    free = await shop.checkout(customer, content=shop.free)
    assert free["errors"][0]["code"] == "INVALID_STATE"
    unpublished = await insert_content(db, shop.org, shop.creator.user_id, "Draft", 500)
    await admin_db.execute("update content set status = 'READY' where title = 'Draft'")
    assert (await shop.checkout(customer, content=unpublished))["errors"][0]["code"] == "NOT_FOUND"
    assert (await shop.checkout(customer, content="Q29udGVudDpub3BlCg"))["errors"][0]["code"] == "NOT_FOUND"
    await shop.buy(customer)
    owned = await shop.checkout(customer)
    assert owned["errors"][0]["code"] == "ALREADY_OWNED"
    staff = await shop.checkout(shop.owner)
    assert staff["errors"][0]["code"] == "ALREADY_OWNED"
    anonymous = await shop.gql("mutation($i:StartCheckoutInput!){startCheckout(input:$i){errors{code}}}",
                               {"i": {"contentId": shop.paid, "successUrl": "http://testserver/s",
                                      "cancelUrl": "http://testserver/c", "idempotencyKey": "z"}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await admin_db.fetchval("select count(*) from checkout_session") == 1


async def test_provider_failure_is_a_typed_error(shop, admin_db):
    customer = await shop.factory.user()
    shop.stripe.fail_status = 500
    failed = await shop.checkout(customer, key="retry-me")
    assert [e["code"] for e in failed["errors"]] == ["PAYMENT_PROVIDER_ERROR"] and failed["checkoutUrl"] is None
    assert await admin_db.fetchval("select count(*) from checkout_session") == 0
    assert await admin_db.fetchval("select count(*) from idempotency_record") == 0
    shop.stripe.fail_status = None
    retried = await shop.checkout(customer, key="retry-me")  # the same key works once the provider recovers
    assert retried["errors"] == [] and await admin_db.fetchval("select count(*) from checkout_session") == 1


async def test_forged_and_stale_webhooks_are_refused(shop, admin_db):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    event = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1])
    forged = await shop.deliver(event, secret="whsec_wrong")
    stale = await shop.deliver(event, timestamp=int(time.time()) - 3600)
    missing = await shop.http.post("/webhooks/stripe", content=b"{}", headers={"content-type": "application/json"})
    garbage = await shop.http.post("/webhooks/stripe", content=b"not json",
                                   headers={"stripe-signature": shop.stripe.signed({"id": "x"})[1]})
    assert [r.status_code for r in (forged, stale, missing, garbage)] == [400, 400, 400, 400]
    assert await admin_db.fetchval("select count(*) from stripe_event") == 0
    assert await admin_db.fetchval("select count(*) from purchase") == 0
    assert await shop.has_access(customer) is False


async def test_unknown_events_are_stored_and_acknowledged(shop, admin_db):
    response = await shop.deliver(shop.stripe.event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200
    row = await admin_db.fetchrow("select type, outcome, processed_at from stripe_event")
    assert row["type"] == "customer.created" and row["outcome"] == "ignored" and row["processed_at"] is not None


async def test_one_hundred_concurrent_deliveries_create_one_purchase(shop, admin_db):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    event = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1])
    responses = await asyncio.gather(*(shop.deliver(event) for _ in range(100)))
    assert {r.status_code for r in responses} == {200}
    assert await admin_db.fetchval("select count(*) from purchase") == 1
    assert await admin_db.fetchval("select count(*) from content_entitlement where revoked_at is null") == 1
    assert await admin_db.fetchval("select count(*) from stripe_event") == 1
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'purchase.completed'") == 1
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'send_purchase_email'") == 1


async def test_refund_before_completion_ends_refunded(shop, admin_db):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    session_id = started["checkoutUrl"].rsplit("/", 1)[-1]
    completed = shop.stripe.pay(session_id)
    charge = shop.stripe.charge_for(session_id)
    charge.update(refunded=True, amount_refunded=charge["amount"])
    assert (await shop.deliver(shop.stripe.event("charge.refunded", charge))).status_code == 200
    assert (await shop.deliver(completed)).status_code == 200
    assert await admin_db.fetchval("select outcome from stripe_event where id = $1", completed["id"]) == \
        "completed_after_refund"
    row = await admin_db.fetchrow("select status, refunded_at from purchase")
    assert row["status"] == "REFUNDED" and row["refunded_at"] is not None
    assert await shop.has_access(customer) is False
    assert await admin_db.fetchval("select count(*) from content_entitlement") == 0
    assert await admin_db.fetchval("select count(*) from outbox_message where kind = 'event'") == 0


async def test_async_payment_success_and_failure(shop, admin_db):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    session_id = started["checkoutUrl"].rsplit("/", 1)[-1]
    pending = shop.stripe.pay(session_id, payment_status="unpaid")
    assert (await shop.deliver(pending)).status_code == 200
    assert await admin_db.fetchval("select count(*) from purchase") == 0
    session = shop.stripe.sessions[session_id] | {"payment_status": "paid"}
    assert (await shop.deliver(shop.stripe.event("checkout.session.async_payment_succeeded", session))).status_code == 200
    assert await shop.has_access(customer) is True

    other = await shop.factory.user()
    second = await shop.checkout(other)
    failed_session = shop.stripe.sessions[second["checkoutUrl"].rsplit("/", 1)[-1]]
    assert (await shop.deliver(shop.stripe.event("checkout.session.async_payment_failed", failed_session))).status_code == 200
    assert await admin_db.fetchval(
        "select status from checkout_session where provider_session_id = $1", failed_session["id"]) == "FAILED"
    assert await shop.has_access(other) is False


async def test_amounts_come_from_stripe_not_the_client(shop, admin_db):
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    event = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1], tax=160)
    event["data"]["object"]["metadata"]["content_id"] = "00000000-0000-0000-0000-000000000000"  # tampered
    assert (await shop.deliver(event)).status_code == 200
    assert await admin_db.fetchval("select count(*) from purchase") == 0  # does not match the checkout we started
    assert await admin_db.fetchval("select outcome from stripe_event") == "unmatched"
    event = shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1], tax=160)
    assert (await shop.deliver(event)).status_code == 200
    row = await admin_db.fetchrow("select amount_cents, tax_cents, creator_share_cents from purchase")
    assert (row["amount_cents"], row["tax_cents"], row["creator_share_cents"]) == (2159, 160, 1999)


async def test_dispute_flags_the_purchase(shop, admin_db):
    customer = await shop.factory.user()
    await shop.buy(customer)
    charge = next(iter(shop.stripe.charges.values()))
    dispute = {"id": "dp_1", "object": "dispute", "charge": charge["id"], "payment_intent": charge["payment_intent"],
               "amount": charge["amount"], "reason": "fraudulent", "status": "needs_response"}
    assert (await shop.deliver(shop.stripe.event("charge.dispute.created", dispute))).status_code == 200
    assert await admin_db.fetchval("select disputed_at is not null from purchase")
    flagged = await shop.gql.ok("query($s:String!){organization(slug:$s){purchases(first:5){nodes{disputedAt}}}}",
                                {"s": "shop"}, shop.owner.token)
    assert flagged["organization"]["purchases"]["nodes"][0]["disputedAt"] is not None
