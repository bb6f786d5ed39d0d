"""The subscription reconciliation job (``jobs.reconcile_subscriptions``): subscriptions whose state a lost webhook
left stale (a live one whose period ended without its renewal applied, an INCOMPLETE one that reached Stripe) are
read from Stripe with no transaction open and applied through ``billing.apply`` under the row's lock. Fresh
subscriptions are not read; a second run reads and changes nothing. Against the Stripe stand-in through the
official library."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from codex_graphql.relay import decode_id
from codex_graphql.subscriptions import jobs
from tests.commerce.test_no_network_in_transactions import Watch, quiet
from tests.subscriptions.support import (
    StripeShop,
    created,
    start,
    subscribed,
    subscriptions_of,
    wire_webhooks,
)
from tests.support import Factory

ROW = ("id, status, stripe_price_id, current_period_start, current_period_end, cancel_at_period_end, ended_at, "
       "access_until, state_ended, state_period_start, state_at, updated_at")


def _services(shop: StripeShop) -> Any:
    return shop.app.state.runtime["services"]


async def _reconcile(shop: StripeShop, **options: Any) -> int:
    services = _services(shop)
    return await jobs.reconcile_subscriptions(services.db, services.payments, **options)


def _created_id(events: list[dict[str, Any]]) -> str:
    return next(e for e in events if e["type"] == "customer.subscription.created")["data"]["object"]["id"]


async def _row(admin_db: Any, sub_id: str) -> dict[str, Any]:
    return dict(await admin_db.fetchrow(f"select {ROW} from subscription where stripe_subscription_id = $1", sub_id))


def _reads(shop: StripeShop) -> list[str]:
    return [path for method, path, *_ in shop.stripe.requests if method == "GET" and path.startswith("/v1/subscriptions/")]


async def _age(shop: StripeShop, admin_db: Any, sub_id: str, by: timedelta) -> None:
    """Time passes: the subscription's period (at Stripe and in the row, as last applied) lies ``by`` earlier."""
    seconds = int(by.total_seconds())
    subscription = shop.stripe.subscriptions[sub_id]
    start_, end = shop.stripe.period(subscription)
    shop.stripe._set_period(subscription, start_ - seconds, end - seconds)
    await admin_db.execute(
        "update subscription set current_period_start = current_period_start - $2::interval, "
        "current_period_end = current_period_end - $2::interval, state_period_start = state_period_start - $2::interval, "
        "access_until = access_until - $2::interval where stripe_subscription_id = $1", sub_id, by)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_a_renewal_whose_webhooks_were_lost_is_applied_by_the_job(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    token = shop.actors.customer.token
    sub_id = _created_id(await subscribed(shop, tier["id"]))
    # The period ended three days ago: past the renewal leeway, so access has ended too while the row waits.
    await _age(shop, admin_db, sub_id, timedelta(days=33))
    [mine] = await subscriptions_of(shop.gql, token)
    assert (mine["status"], mine["hasAccess"]) == ("ACTIVE", False)
    renewal = shop.stripe.renew(sub_id)  # Stripe renewed and charged; its events never arrive
    shop.stripe.undelivered.clear()

    assert await _reconcile(shop) == 1
    start_, end = shop.stripe.period(shop.stripe.subscriptions[sub_id])
    row = await _row(admin_db, sub_id)
    assert (row["status"], row["current_period_start"], row["current_period_end"]) == ("ACTIVE", _at(start_), _at(end))
    assert row["access_until"] == _at(end) + timedelta(days=2)
    [mine] = await subscriptions_of(shop.gql, token)
    assert mine["hasAccess"] is True

    # Again: the row is no longer stale, so Stripe is not even asked.
    reads = len(_reads(shop))
    assert await _reconcile(shop) == 0
    assert len(_reads(shop)) == reads and await _row(admin_db, sub_id) == row
    # The lost events, delivered late after all, change nothing.
    assert {r.status_code for r in await shop.stripe.send(renewal)} == {200}
    assert await _row(admin_db, sub_id) == row


async def test_a_subscription_canceled_at_stripe_whose_deleted_event_was_lost_loses_access(stripe_shop: StripeShop,
                                                                                         admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    token = shop.actors.customer.token
    sub_id = _created_id(await subscribed(shop, tier["id"]))
    await _age(shop, admin_db, sub_id, timedelta(days=30, hours=2))  # ended two hours ago; the leeway keeps access
    shop.stripe.end(sub_id)  # Stripe ended it (its last payment retry failed, say); the event never arrives
    shop.stripe.undelivered.clear()
    [mine] = await subscriptions_of(shop.gql, token)
    assert (mine["status"], mine["hasAccess"]) == ("ACTIVE", True)

    # Stripe cannot be reached: nothing changes, the next pass asks again.
    before = await _row(admin_db, sub_id)
    shop.stripe.fail_status = 500
    assert await _reconcile(shop) == 0
    assert await _row(admin_db, sub_id) == before
    shop.stripe.fail_status = None

    assert await _reconcile(shop) == 1
    row = await _row(admin_db, sub_id)
    assert (row["status"], row["access_until"], row["state_ended"]) == ("CANCELED", None, True)
    assert row["ended_at"] == _at(shop.stripe.subscriptions[sub_id]["ended_at"])
    [mine] = await subscriptions_of(shop.gql, token)
    assert (mine["status"], mine["hasAccess"]) == ("CANCELED", False)
    reads = len(_reads(shop))
    assert await _reconcile(shop) == 0
    assert len(_reads(shop)) == reads and await _row(admin_db, sub_id) == row


async def test_fresh_subscriptions_are_not_read_and_incomplete_ones_only_once_they_are_old(stripe_shop: StripeShop,
                                                                                         db, admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    fresh = _created_id(await subscribed(shop, tier["id"]))
    # Another customer's checkout completes, but of Stripe's events only checkout.session.completed arrives.
    person = await Factory(db, shop.gql).user()
    started = await start(shop.gql, person.token, tier["id"], key="sub-lost")
    session_id = started["checkoutUrl"].rsplit("/", 1)[1]
    events = shop.stripe.complete_subscription(session_id)
    shop.stripe.undelivered.clear()
    completed = [e for e in events if e["type"] == "checkout.session.completed"]
    assert {r.status_code for r in await shop.stripe.send(completed)} == {200}
    lost = shop.stripe.sessions[session_id]["subscription"]
    row_id = decode_id(started["subscriptionId"], "TierSubscription")
    assert (await _row(admin_db, lost))["status"] == "INCOMPLETE"
    before = {sub_id: await _row(admin_db, sub_id) for sub_id in (fresh, lost)}

    assert await _reconcile(shop) == 0  # the live one's period is ahead; the INCOMPLETE one changed just now
    assert _reads(shop) == [] and {s: await _row(admin_db, s) for s in before} == before
    # A period that ended half an hour ago: its renewal's events are still on their way, so it is not read either.
    await _age(shop, admin_db, fresh, timedelta(days=30, minutes=30))
    before[fresh] = await _row(admin_db, fresh)
    assert await _reconcile(shop) == 0 and _reads(shop) == []

    await admin_db.execute("update subscription set updated_at = now() - interval '20 minutes' where id = $1", row_id)
    assert await _reconcile(shop) == 1
    assert _reads(shop) == [f"/v1/subscriptions/{lost}"]
    row = await _row(admin_db, lost)
    start_, end = shop.stripe.period(shop.stripe.subscriptions[lost])
    assert (row["status"], row["current_period_end"]) == ("ACTIVE", _at(end))
    assert row["access_until"] == _at(end) + timedelta(days=2)
    assert await _row(admin_db, fresh) == before[fresh]
    assert await _reconcile(shop) == 0 and len(_reads(shop)) == 1


async def test_the_work_list_is_batch_limited_and_unknown_subscriptions_are_skipped(stripe_shop: StripeShop, db,
                                                                                  admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    factory = Factory(db, shop.gql)
    renewed = []
    for _ in range(2):
        person = await factory.user()
        started = await start(shop.gql, person.token, tier["id"], key=f"sub-{uuid.uuid4().hex[:6]}")
        session_id = started["checkoutUrl"].rsplit("/", 1)[1]
        assert {r.status_code for r in await shop.stripe.send(shop.stripe.complete_subscription(session_id))} == {200}
        sub_id = shop.stripe.sessions[session_id]["subscription"]
        await _age(shop, admin_db, sub_id, timedelta(days=31))
        shop.stripe.renew(sub_id)
        renewed.append(sub_id)
    shop.stripe.undelivered.clear()
    assert await _reconcile(shop, batch=1) == 1
    assert await _reconcile(shop, batch=1) == 1
    assert await _reconcile(shop, batch=1) == 0
    for sub_id in renewed:
        end = shop.stripe.period(shop.stripe.subscriptions[sub_id])[1]
        assert (await _row(admin_db, sub_id))["current_period_end"] == _at(end)

    # A row pointing at a subscription Stripe does not have is logged and skipped; the others go on.
    await admin_db.execute("update subscription set stripe_subscription_id = 'sub_unknown', "
                           "current_period_end = now() - interval '1 day' where stripe_subscription_id = $1", renewed[0])
    unknown = await _row(admin_db, "sub_unknown")
    assert await _reconcile(shop) == 0
    assert await _row(admin_db, "sub_unknown") == unknown


async def test_the_job_calls_stripe_with_no_transaction_open(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    wire_webhooks(shop)
    tier = await created(shop.gql, shop.token, published=True, trialDays=0)
    sub_id = _created_id(await subscribed(shop, tier["id"]))
    await _age(shop, admin_db, sub_id, timedelta(days=31))
    shop.stripe.renew(sub_id)
    shop.stripe.undelivered.clear()
    await quiet(shop.app)
    watch = Watch(admin_db)
    shop.stripe.during_request = watch
    assert await _reconcile(shop) == 1
    assert watch.seen == [(f"GET /v1/subscriptions/{sub_id}", [])], watch.seen
