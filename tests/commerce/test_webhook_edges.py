"""Edges of the Stripe webhook intake (issue 21, item 5): signatures dated too far in the future are
refused like stale ones, and a correctly signed body that is not an event answers 400 and is recorded
once for inspection (never a 500, never stored twice, never handled)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import orjson
import pytest
from sqlalchemy import text

from codex_graphql.commerce import webhooks
from codex_graphql.db import TenantScope
from codex_graphql.payments import WebhookError, signing
from codex_graphql.payments.local import LocalProvider
from tests.support.commerce import WEBHOOK_SECRET


async def _paid_event(shop) -> dict:
    customer = await shop.factory.user()
    started = await shop.checkout(customer)
    assert started["errors"] == [], started
    return shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1])


async def _post(shop, payload: bytes, signature: str):
    return await shop.http.post("/webhooks/stripe", content=payload,
                                headers={"stripe-signature": signature, "content-type": "application/json"})


async def _inbox(admin_db) -> list[dict]:
    return [dict(r) for r in await admin_db.fetch("select id, type, organization_id, payload, processed_at, outcome "
                                                  "from stripe_event order by id")]


@pytest.mark.parametrize("offset", [301, 3600, 10 * 365 * 86400])
async def test_a_signature_dated_beyond_the_tolerance_in_the_future_is_refused(shop, admin_db, offset):
    event = await _paid_event(shop)
    response = await shop.deliver(event, timestamp=int(time.time()) + offset)
    assert response.status_code == 400
    assert "future" in response.json()["error"]
    assert await _inbox(admin_db) == []
    assert await admin_db.fetchval("select count(*) from purchase") == 0


async def test_a_signature_dated_within_the_tolerance_either_way_is_accepted(shop, admin_db):
    first, second = await _paid_event(shop), await _paid_event(shop)
    assert (await shop.deliver(first, timestamp=int(time.time()) + 240)).status_code == 200  # clock skew ahead
    assert (await shop.deliver(second, timestamp=int(time.time()) - 240)).status_code == 200
    assert await admin_db.fetchval("select count(*) from purchase") == 2


async def test_a_stale_signature_is_still_refused(shop, admin_db):
    event = await _paid_event(shop)
    response = await shop.deliver(event, timestamp=int(time.time()) - 301)
    assert response.status_code == 400 and "older" in response.json()["error"]
    assert await _inbox(admin_db) == []


def test_the_check_refuses_both_directions_for_every_provider():
    payload = b'{"id": "evt_1", "type": "x", "data": {"object": {}}}'
    now = 1_800_000_000
    for ts, ok in ((now, True), (now + 300, True), (now - 300, True), (now + 301, False), (now - 301, False)):
        header = signing.sign(payload, "s", ts)
        if ok:
            signing.verify(payload, header, "s", now=now)
        else:
            with pytest.raises(WebhookError):
                signing.verify(payload, header, "s", now=now)
    # The local (demo) provider goes through the same check.
    local = LocalProvider("http://testserver", "k", "s", "test")
    with pytest.raises(WebhookError, match="future"):
        local.verify_webhook(payload, signing.sign(payload, "s", int(time.time()) + 3600))
    assert local.verify_webhook(payload, signing.sign(payload, "s"))["id"] == "evt_1"


MALFORMED = [
    pytest.param(b"this is not json", "not valid JSON", id="not-json"),
    pytest.param(b"[1, 2, 3]", "not a JSON object", id="array"),
    pytest.param(b'{"type": "checkout.session.completed", "data": {"object": {}}}', "no valid id", id="no-id"),
    pytest.param(b'{"id": "evt_x", "type": 7, "data": {"object": {}}}', "no valid type", id="type-not-string"),
    pytest.param(b'{"id": "evt_x", "type": "charge.refunded", "data": {}}', "data.object", id="no-data-object"),
    pytest.param(b'{"id": "evt_x", "type": "charge.refunded", "data": {"object": "\\u0000"}}', "NUL", id="nul"),
    pytest.param(b'\xff\xfe{"id": 1}', "not valid JSON", id="not-utf8"),
]


@pytest.mark.parametrize(("payload", "reason"), MALFORMED)
async def test_a_signed_malformed_body_answers_400_and_is_recorded_once(shop, admin_db, payload, reason):
    signature = signing.sign(payload, WEBHOOK_SECRET)
    # Stripe retries what fails; the same body several times, concurrently: one record, every answer 400.
    responses = await asyncio.gather(*(_post(shop, payload, signature) for _ in range(4)))
    assert [r.status_code for r in responses] == [400] * 4, [r.text for r in responses]
    assert all(reason in r.json()["error"] for r in responses)
    rows = await _inbox(admin_db)
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == "malformed_" + hashlib.sha256(payload).hexdigest() == webhooks.malformed_event_id(payload)
    assert row["type"] == "malformed" and row["outcome"] == "malformed" and row["processed_at"] is not None
    assert row["organization_id"] is None  # the platform's: no tenant sees it
    recorded = json.loads(row["payload"])
    assert recorded["raw"] == payload.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    assert reason in recorded["reason"] and recorded["bytes"] == len(payload)
    # Nothing handles it: no job, no purchase.
    assert await admin_db.fetchval("select count(*) from outbox_message") == 0
    assert await admin_db.fetchval("select count(*) from purchase") == 0
    # A later redelivery (a new signature) still answers 400 and adds nothing.
    assert (await _post(shop, payload, signing.sign(payload, WEBHOOK_SECRET))).status_code == 400
    assert len(await _inbox(admin_db)) == 1


async def test_different_malformed_bodies_are_recorded_separately_and_a_good_event_still_works(shop, admin_db):
    bodies = [b"garbage one", b"garbage two"]
    for body in bodies:
        assert (await _post(shop, body, signing.sign(body, WEBHOOK_SECRET))).status_code == 400
    event = await _paid_event(shop)
    assert (await shop.deliver(event)).status_code == 200
    ids = {r["id"]: r["outcome"] for r in await _inbox(admin_db)}
    assert ids == {**{webhooks.malformed_event_id(b): "malformed" for b in bodies}, event["id"]: "purchase_created"}


async def test_the_malformed_record_is_visible_to_the_platform_scope_only(shop, db, admin_db):
    body = b"not an event"
    assert (await _post(shop, body, signing.sign(body, WEBHOOK_SECRET))).status_code == 400
    async with db.transaction(TenantScope(organization_id=shop.org)) as session:
        assert (await session.execute(text("select count(*) from stripe_event"))).scalar_one() == 0
    async with db.transaction(TenantScope.platform_wide()) as session:
        assert (await session.execute(text("select count(*) from stripe_event"))).scalar_one() == 1


@pytest.mark.parametrize("signature", [
    pytest.param(lambda body: signing.sign(body, "whsec_wrong"), id="wrong-secret"),
    pytest.param(lambda body: signing.sign(body, WEBHOOK_SECRET, int(time.time()) + 3600), id="future"),
    pytest.param(lambda body: "t=1,v1=00", id="garbage-header"),
])
async def test_a_malformed_body_without_a_valid_signature_is_not_recorded(shop, admin_db, signature):
    body = b"not an event either"
    response = await _post(shop, body, signature(body))
    assert response.status_code == 400
    assert await _inbox(admin_db) == []


async def test_an_event_that_is_well_formed_is_unaffected_by_the_shape_check(shop, admin_db):
    """An unknown event type with a data.object is an event (stored and ignored), not malformed."""
    event = shop.stripe.event("customer.created", {"id": "cus_1", "object": "customer"})
    response = await _post(shop, orjson.dumps(event), signing.sign(orjson.dumps(event), WEBHOOK_SECRET))
    assert response.status_code == 200
    assert [(r["id"], r["outcome"]) for r in await _inbox(admin_db)] == [(event["id"], "ignored")]
