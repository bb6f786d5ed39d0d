"""The webhook ingest path (commerce.webhooks.ingest): one transaction stores and handles an event, with
few statements; a handling failure leaves the event stored with a retry job; redeliveries and the job then
handle it exactly once."""

from __future__ import annotations

import asyncio

import pytest

from codex_graphql.commerce import webhooks
from tests.support import statements


async def _started_and_paid(shop, email: str = "ingest@example.com") -> dict:
    customer = await shop.factory.user(email=email)
    started = await shop.checkout(customer)
    assert started["errors"] == [], started
    return shop.stripe.pay(started["checkoutUrl"].rsplit("/", 1)[-1])


async def test_a_completed_checkout_is_stored_and_handled_in_one_transaction(shop, admin_db):
    event = await _started_and_paid(shop)
    async with statements(shop.app) as seen:
        response = await shop.deliver(event)
    assert response.status_code == 200 and response.json() == {"received": True, "id": event["id"]}
    sql = [s.lower() for s in seen]
    assert sum(s.startswith("insert into stripe_event") for s in sql) == 1
    assert sum(s.startswith("update stripe_event") for s in sql) == 1
    assert not any(s.startswith("select stripe_event.") for s in sql), sql  # no separate handling pass
    assert sum(s.startswith("with purchase_row") for s in sql) == 1  # purchase, checkout status, entitlement
    # Tenant scope, inbox row, checkout + item + creator share + refund check, the completion, outbox rows,
    # handled mark. (Before: two transactions, 17 statements; then one transaction, 8.)
    assert len(sql) <= 6, "\n".join(sql)
    row = await admin_db.fetchrow("select processed_at, outcome from stripe_event where id = $1", event["id"])
    assert row["processed_at"] is not None and row["outcome"] == "purchase_created"
    topics = sorted(r["topic"] for r in await admin_db.fetch("select topic from outbox_message"))
    assert topics == ["purchase.completed", "send_purchase_email"]  # no retry job: nothing left to retry
    purchase = await admin_db.fetchrow("select * from purchase")
    assert purchase["status"] == "COMPLETED" and purchase["amount_cents"] == 1999
    assert purchase["creator_share_cents"] == 1999 and purchase["content_title"] == "Paid film"
    assert purchase["creator_id"] == shop.creator.user_id and purchase["customer_email"] == "ingest@example.com"
    assert await admin_db.fetchval("select status from checkout_session") == "COMPLETED"
    assert await admin_db.fetchval(
        "select count(*) from content_entitlement where source_id = $1 and revoked_at is null", purchase["id"]) == 1


async def test_duplicates_of_a_handled_event_change_nothing(shop, admin_db):
    event = await _started_and_paid(shop)
    assert (await shop.deliver(event)).status_code == 200
    async with statements(shop.app) as seen:
        again = await asyncio.gather(*(shop.deliver(event) for _ in range(5)))
    assert {r.status_code for r in again} == {200}
    assert all(not s.lower().startswith(("with purchase_row", "insert into purchase", "update checkout",
                                         "insert into outbox")) for s in seen)
    assert await admin_db.fetchval("select count(*) from purchase") == 1
    assert await admin_db.fetchval("select count(*) from outbox_message") == 2


async def test_a_failed_handling_is_stored_for_the_job_and_handled_once_later(shop, admin_db, monkeypatch):
    event = await _started_and_paid(shop)
    real_dispatch = webhooks._dispatch

    async def broken(*args, **kwargs):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(webhooks, "_dispatch", broken)
    response = await shop.deliver(event)
    assert response.status_code == 200  # stored: the provider must not keep redelivering
    row = await admin_db.fetchrow("select processed_at, outcome from stripe_event where id = $1", event["id"])
    assert row["processed_at"] is None and row["outcome"] is None
    assert await admin_db.fetchval("select count(*) from purchase") == 0  # the handling was rolled back
    assert [r["topic"] for r in await admin_db.fetch("select topic from outbox_message")] == ["handle_payment_event"]
    assert (await shop.deliver(event)).status_code == 200  # still broken: stored once, one job
    assert await admin_db.fetchval("select count(*) from outbox_message") == 1

    monkeypatch.setattr(webhooks, "_dispatch", real_dispatch)
    # A redelivery handles the stored event inline, concurrently with the retry job.
    services = shop.app.state.runtime["services"]
    responses, outcome = await asyncio.gather(
        asyncio.gather(*(shop.deliver(event) for _ in range(3))), webhooks.handle(services.db, event["id"]))
    assert {r.status_code for r in responses} == {200} and outcome == "purchase_created"
    assert await admin_db.fetchval("select outcome from stripe_event where id = $1", event["id"]) == "purchase_created"
    assert await admin_db.fetchval("select count(*) from purchase") == 1
    assert await admin_db.fetchval("select count(*) from content_entitlement where revoked_at is null") == 1
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'purchase.completed'") == 1
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'send_purchase_email'") == 1
    assert await webhooks.handle(services.db, event["id"]) == "purchase_created"  # the job, later: a no-op


@pytest.mark.parametrize("copies", [2, 3])
async def test_many_events_each_delivered_several_times_at_once(shop, admin_db, copies):
    events = [await _started_and_paid(shop, f"many-{copies}-{n}@example.com") for n in range(8)]
    responses = await asyncio.gather(*(shop.deliver(e) for e in events for _ in range(copies)))
    assert {r.status_code for r in responses} == {200}
    assert await admin_db.fetchval("select count(*) from stripe_event where outcome = 'purchase_created'") == 8
    assert await admin_db.fetchval("select count(*) from purchase") == 8
    assert await admin_db.fetchval("select count(*) from content_entitlement where revoked_at is null") == 8
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'purchase.completed'") == 8
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'send_purchase_email'") == 8
    assert await admin_db.fetchval("select count(*) from outbox_message where topic = 'handle_payment_event'") == 0
