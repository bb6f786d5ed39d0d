"""migrateSubscriptionTierPrice: staff with SUBSCRIPTIONS_MANAGE move a tier's subscribers of one interval still on an
older price to its current price, from their next renewal and without proration (Stripe: the item's price with
``proration_behavior=none``). The request only queues a job through the outbox; the job (ids in, the provider
called with no transaction open, idempotency keys from the subscription and price ids) applies each answer through
``billing.apply`` under the row's lock, so the webhook that follows changes nothing, and a second run changes
nothing. Against the Stripe stand-in through the official library, webhooks signed with the real scheme."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from codex_graphql.relay import decode_id
from codex_graphql.subscriptions import price_migration
from tests.commerce.test_no_network_in_transactions import Watch, quiet
from tests.subscriptions.support import (
    CHANGE,
    StripeShop,
    archive,
    created,
    start,
    subscriptions_of,
    update,
    wire_webhooks,
)
from tests.support import Factory

MIGRATE = """mutation($input: MigrateSubscriptionTierPriceInput!) { migrateSubscriptionTierPrice(input: $input) {
  errors { code field message } queuedCount tier { id name monthlyPrice { amountCents } } } }"""
ROW = ("id, tier_id, interval, status, stripe_price_id, current_period_start, current_period_end, "
       "cancel_at_period_end, access_until, state_at")


@dataclass
class Subscriber:
    token: str
    row_id: uuid.UUID  # our subscription row
    sub_id: str  # the Stripe subscription


async def _subscriber(shop: StripeShop, factory: Factory, tier_id: str, interval: str = "MONTH") -> Subscriber:
    person = await factory.user()
    started = await start(shop.gql, person.token, tier_id, interval, key=f"sub-{uuid.uuid4().hex[:8]}")
    assert started["errors"] == [], started
    session_id = started["checkoutUrl"].rsplit("/", 1)[1]
    assert {r.status_code for r in await shop.stripe.send(shop.stripe.complete_subscription(session_id))} == {200}
    return Subscriber(person.token, decode_id(started["subscriptionId"], "TierSubscription"),
                      shop.stripe.sessions[session_id]["subscription"])


async def _migrate(shop: StripeShop, tier_id: str, interval: str = "MONTH", token: str | None = None,
                   key: str | None = None) -> dict[str, Any]:
    variables: dict[str, Any] = {"input": {"tierId": tier_id, "interval": interval}}
    if key is not None:
        variables["input"]["idempotencyKey"] = key
    body = await shop.gql(MIGRATE, variables, shop.token if token is None else token)
    assert "errors" not in body, body
    return body["data"]["migrateSubscriptionTierPrice"]


async def _jobs(admin_db: Any) -> list[dict[str, Any]]:
    rows = await admin_db.fetch("select payload from outbox_message where kind = 'job' and topic = $1 "
                                "order by created_at, id", price_migration.MIGRATION_ACTOR)
    return [json.loads(row["payload"]) for row in rows]


async def _run(shop: StripeShop, job: dict[str, Any], provider: Any = None) -> price_migration.Outcome:
    """The job as the actor runs it (its payload as the outbox holds it)."""
    services = shop.app.state.runtime["services"]
    return await price_migration.migrate(services.db, provider or services.payments,
                                         uuid.UUID(job["price_organization_id"]), uuid.UUID(job["price_id"]))


async def _rows(admin_db: Any) -> dict[uuid.UUID, dict[str, Any]]:
    return {row["id"]: dict(row) for row in await admin_db.fetch(f"select {ROW} from subscription order by id")}


async def _state(admin_db: Any) -> tuple[Any, ...]:
    """Subscriptions, queued migrations and their audit entries (as the owner: no row-level security)."""
    audits = await admin_db.fetch("select id from audit_log_entry where action = 'SUBSCRIPTION_TIER_PRICE_MIGRATED'")
    return await _rows(admin_db), await _jobs(admin_db), [row["id"] for row in audits]


def _item_price(shop: StripeShop, sub_id: str) -> str:
    return shop.stripe.subscriptions[sub_id]["items"]["data"][0]["price"]["id"]


def _subscription_updates(shop: StripeShop) -> list[dict[str, Any]]:
    return [call for call in shop.stripe.requests if call[0] == "POST" and call[1].startswith("/v1/subscriptions/")]


async def _current_price(admin_db: Any, tier: dict[str, Any], interval: str = "MONTH") -> Any:
    return await admin_db.fetchrow("select id, stripe_price_id from subscription_tier_price where active and "
                                   "interval = $1 and tier_id = $2", interval, decode_id(tier["id"], "SubscriptionTier"))


@dataclass
class Shelf:
    yoga: dict[str, Any]
    other: dict[str, Any]
    monthly: list[Subscriber]  # Yoga, monthly, on the old price
    annual: Subscriber  # Yoga, annual, on the old annual price
    elsewhere: Subscriber  # Other, monthly
    newcomer: Subscriber  # Yoga, monthly, subscribed after the price change


async def _shelf(shop: StripeShop, db: Any) -> Shelf:
    wire_webhooks(shop)
    factory = Factory(db, shop.gql)
    yoga = await created(shop.gql, shop.token, published=True, trialDays=0)
    other = await created(shop.gql, shop.token, name="Other", published=True, trialDays=0, monthlyPriceCents=900,
                          annualPriceCents=None)
    monthly = [await _subscriber(shop, factory, yoga["id"]) for _ in range(2)]
    annual = await _subscriber(shop, factory, yoga["id"], "YEAR")
    elsewhere = await _subscriber(shop, factory, other["id"])
    changed = await update(shop.gql, shop.token, yoga["id"], monthlyPriceCents=1900, annualPriceCents=19000)
    assert changed["errors"] == [], changed
    newcomer = await _subscriber(shop, factory, yoga["id"])
    return Shelf(yoga, other, monthly, annual, elsewhere, newcomer)


async def test_subscribers_on_an_older_price_move_to_the_current_one_from_their_next_renewal(stripe_shop: StripeShop,
                                                                                            db, admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    price = await _current_price(admin_db, shelf.yoga)
    before = await _rows(admin_db)
    old_price = before[shelf.monthly[0].row_id]["stripe_price_id"]
    assert old_price != price["stripe_price_id"] and before[shelf.newcomer.row_id]["stripe_price_id"] == price[1]
    untouched = {s.sub_id: _item_price(shop, s.sub_id) for s in (shelf.annual, shelf.elsewhere, shelf.newcomer)}
    periods = {s.sub_id: shop.stripe.period(shop.stripe.subscriptions[s.sub_id]) for s in shelf.monthly}
    invoices = {s.sub_id: shop.stripe.subscriptions[s.sub_id]["latest_invoice"] for s in shelf.monthly}
    calls = len(shop.stripe.requests)

    result = await _migrate(shop, shelf.yoga["id"])
    assert result["errors"] == [] and result["queuedCount"] == 2
    assert result["tier"] == {"id": shelf.yoga["id"], "name": "Yoga", "monthlyPrice": {"amountCents": 1900}}
    # Queued, not done: the request called no provider and changed no subscription.
    assert shop.stripe.requests[calls:] == [] and await _rows(admin_db) == before
    jobs = await _jobs(admin_db)
    assert jobs == [{"price_id": str(price["id"]), "price_organization_id": str(shop.actors.org)}]
    audit = await admin_db.fetchrow("select after, actor_user_id, target_id from audit_log_entry "
                                    "where action = 'SUBSCRIPTION_TIER_PRICE_MIGRATED'")
    assert json.loads(audit["after"]) == {"interval": "MONTH", "priceId": str(price["id"]), "amountCents": 1900,
                                          "queued": 2}
    assert audit["actor_user_id"] == shop.actors.staff_with.user_id
    assert audit["target_id"] == decode_id(shelf.yoga["id"], "SubscriptionTier")

    outcome = await _run(shop, jobs[0])
    assert (outcome.moved, outcome.refused, outcome.failed) == (2, 0, 0)
    after = await _rows(admin_db)
    for s in shelf.monthly:
        assert after[s.row_id]["stripe_price_id"] == price["stripe_price_id"] and after[s.row_id]["status"] == "ACTIVE"
        assert _item_price(shop, s.sub_id) == price["stripe_price_id"]
        # From the next renewal: the same period, nothing invoiced now, no proration waiting for the next invoice.
        assert shop.stripe.period(shop.stripe.subscriptions[s.sub_id]) == periods[s.sub_id]
        assert (after[s.row_id]["current_period_start"], after[s.row_id]["current_period_end"]) == (
            before[s.row_id]["current_period_start"], before[s.row_id]["current_period_end"])
        assert after[s.row_id]["access_until"] == before[s.row_id]["access_until"]
        assert shop.stripe.subscriptions[s.sub_id]["latest_invoice"] == invoices[s.sub_id]
        assert shop.stripe.pending_items.get(s.sub_id, []) == []
    updates = _subscription_updates(shop)
    assert sorted(key for *_, key in updates) == sorted(
        price_migration.idempotency_key(s.row_id, price["id"]) for s in shelf.monthly)
    assert all(params["proration_behavior"] == "none" for _, _, params, _ in updates)
    # The other interval, the other tier and the subscriber already on the current price: untouched.
    assert {sub_id: _item_price(shop, sub_id) for sub_id in untouched} == untouched
    for s in (shelf.annual, shelf.elsewhere, shelf.newcomer):
        assert after[s.row_id] == before[s.row_id]

    # Stripe's customer.subscription.updated events arrive afterwards: nothing changes.
    assert [e["type"] for e in shop.stripe.undelivered] == ["customer.subscription.updated"] * 2
    assert {r.status_code for r in await shop.stripe.send()} == {200}
    assert await _rows(admin_db) == after

    # The job again (a redelivery) and the request again: nothing more.
    calls = len(shop.stripe.requests)
    outcome = await _run(shop, jobs[0])
    assert (outcome.moved, outcome.refused, outcome.failed) == (0, 0, 0)
    assert shop.stripe.requests[calls:] == [] and await _rows(admin_db) == after
    again = await _migrate(shop, shelf.yoga["id"])
    assert again["errors"] == [] and again["queuedCount"] == 0
    assert len(await _jobs(admin_db)) == 1

    # The next renewal bills the new amount; the row follows it.
    renewal = shop.stripe.renew(shelf.monthly[0].sub_id)
    paid = next(e for e in renewal if e["type"] == "invoice.paid")["data"]["object"]
    assert [line["amount"] for line in paid["lines"]["data"]] == [1900]
    assert {r.status_code for r in await shop.stripe.send(renewal)} == {200}
    renewed = (await _rows(admin_db))[shelf.monthly[0].row_id]
    assert renewed["stripe_price_id"] == price["stripe_price_id"]
    assert renewed["current_period_start"] == before[shelf.monthly[0].row_id]["current_period_end"]


class AnswerLost:
    """Stripe makes the change, but its answer never arrives (a timeout after the fact)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    async def change_subscription_price(self, *args: Any, **kwargs: Any) -> Any:
        await self.provider.change_subscription_price(*args, **kwargs)
        raise httpx.ReadTimeout("the answer was lost")


@pytest.fixture
def migration_actor(settings: Any) -> Any:
    from workers.broker import setup_broker

    setup_broker(settings.model_copy(update={"redis_url": None}))  # before the actors module binds to a broker
    from workers import subscription_actors

    return subscription_actors


async def test_a_lost_answer_fails_the_job_and_its_retry_replays_the_same_change(stripe_shop: StripeShop, db,
                                                                               admin_db, migration_actor, monkeypatch):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    price = await _current_price(admin_db, shelf.yoga)
    assert (await _migrate(shop, shelf.yoga["id"]))["queuedCount"] == 2
    [job] = await _jobs(admin_db)
    services = shop.app.state.runtime["services"]
    # The actor, as a worker runs it (the outbox payload as its arguments): the answers are lost, the job fails.
    run = migration_actor.migrate_subscription_tier_price.fn.__wrapped__
    monkeypatch.setattr(migration_actor, "runtime",
                        lambda: SimpleNamespace(db=services.db, payments=AnswerLost(services.payments)))
    with pytest.raises(RuntimeError, match="2 subscription"):
        await run(job_id=str(uuid.uuid4()), **job)
    rows = await _rows(admin_db)
    old_price = rows[shelf.monthly[0].row_id]["stripe_price_id"]
    assert old_price != price["stripe_price_id"]
    assert {rows[s.row_id]["stripe_price_id"] for s in shelf.monthly} == {old_price}  # not recorded
    assert all(_item_price(shop, s.sub_id) == price["stripe_price_id"] for s in shelf.monthly)  # done at Stripe
    # The retry asks again with the same keys: Stripe replays its answers, nothing is changed twice.
    monkeypatch.setattr(migration_actor, "runtime", lambda: services)
    await run(job_id=str(uuid.uuid4()), **job)
    rows = await _rows(admin_db)
    assert {rows[s.row_id]["stripe_price_id"] for s in shelf.monthly} == {price["stripe_price_id"]}
    keys = [key for *_, key in _subscription_updates(shop)]
    assert len(keys) == 4 and len(set(keys)) == 2
    assert [e["type"] for e in shop.stripe.events[-2:]] == ["customer.subscription.updated"] * 2
    assert sum(e["type"] == "customer.subscription.updated" for e in shop.stripe.undelivered) == 2  # one each


async def test_concurrent_requests_queue_once_per_key_and_a_repeated_job_is_harmless(stripe_shop: StripeShop, db,
                                                                                     admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    price = await _current_price(admin_db, shelf.yoga)
    same_key = await asyncio.gather(*(_migrate(shop, shelf.yoga["id"], key="move-1") for _ in range(3)))
    assert [(r["errors"], r["queuedCount"]) for r in same_key] == [([], 2)] * 3
    assert len(await _jobs(admin_db)) == 1
    reused = await _migrate(shop, shelf.yoga["id"], "YEAR", key="move-1")
    assert [(e["code"], e["field"]) for e in reused["errors"]] == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    # Without a key, concurrent requests run one after the other (the tier's lock) and each queues a job.
    no_key = await asyncio.gather(*(_migrate(shop, shelf.yoga["id"]) for _ in range(2)))
    assert [(r["errors"], r["queuedCount"]) for r in no_key] == [([], 2)] * 2
    jobs = await _jobs(admin_db)
    assert len(jobs) == 3 and all(job == jobs[0] for job in jobs)
    outcomes = [await _run(shop, job) for job in jobs]
    assert [o.moved for o in outcomes] == [2, 0, 0]
    assert len(_subscription_updates(shop)) == 2  # one change per subscription
    rows = await _rows(admin_db)
    assert {rows[s.row_id]["stripe_price_id"] for s in shelf.monthly} == {price["stripe_price_id"]}


async def test_bad_requests_are_typed_errors_and_change_nothing(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    theirs = await created(shop.gql, shop.actors.other_staff.token, name="Theirs", published=True)
    before = await _state(admin_db)
    calls = len(shop.stripe.requests)
    cases = [
        ((shelf.other["id"], "YEAR"), ("INVALID_INPUT", ["input", "interval"])),  # no annual price
        (("bm90LWFuLWlk", "MONTH"), ("NOT_FOUND", ["input", "tierId"])),
        ((shelf.monthly[0].row_id.hex, "MONTH"), ("NOT_FOUND", ["input", "tierId"])),
        ((theirs["id"], "MONTH"), ("NOT_FOUND", ["input", "tierId"])),  # another organization's tier
    ]
    for (tier_id, interval), expected in cases:
        result = await _migrate(shop, tier_id, interval)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [expected], (tier_id, result)
        assert (result["tier"], result["queuedCount"]) == (None, None)
    # A current price the provider does not have yet.
    await admin_db.execute("update subscription_tier_price set stripe_price_id = null where active and "
                           "interval = 'MONTH' and tier_id = $1", decode_id(shelf.yoga["id"], "SubscriptionTier"))
    result = await _migrate(shop, shelf.yoga["id"])
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_STATE", ["input", "interval"])]
    assert shop.stripe.requests[calls:] == [] and await _state(admin_db) == before
    # An archived tier: its subscribers keep what they pay.
    assert (await archive(shop.gql, shop.token, shelf.yoga["id"]))["errors"] == []
    before = await _state(admin_db)
    result = await _migrate(shop, shelf.yoga["id"])
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_STATE", ["input", "tierId"])]
    assert await _state(admin_db) == before


async def test_a_job_for_a_price_that_is_no_longer_current_moves_nobody(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    assert (await _migrate(shop, shelf.yoga["id"]))["queuedCount"] == 2
    [job] = await _jobs(admin_db)
    assert (await update(shop.gql, shop.token, shelf.yoga["id"], monthlyPriceCents=2500))["errors"] == []
    before = await _rows(admin_db)
    calls = len(shop.stripe.requests)
    outcome = await _run(shop, job)
    assert (outcome.moved, outcome.refused, outcome.failed) == (0, 0, 0)
    assert shop.stripe.requests[calls:] == [] and await _rows(admin_db) == before


async def test_authorization_matrix(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    tokens = shop.actors.tokens()
    for caller in ("anonymous", "customer", "other_org_staff", "staff_without_permission"):
        before = await _state(admin_db)
        body = await shop.gql(MIGRATE, {"input": {"tierId": shelf.yoga["id"], "interval": "MONTH"}}, tokens[caller])
        if caller == "other_org_staff":  # another organization's tier does not exist for them
            assert "errors" not in body, body
            answer = body["data"]["migrateSubscriptionTierPrice"]
            assert [(e["code"], e["field"]) for e in answer["errors"]] == [("NOT_FOUND", ["input", "tierId"])]
            assert (answer["tier"], answer["queuedCount"]) == (None, None)
        else:
            expected = "UNAUTHENTICATED" if caller == "anonymous" else "FORBIDDEN"
            assert {e["extensions"]["code"] for e in body["errors"]} == {expected} and body["data"] is None, body
        assert await _state(admin_db) == before, caller
    allowed = await _migrate(shop, shelf.yoga["id"], token=tokens["staff_with_permission"])
    assert allowed["errors"] == [] and allowed["queuedCount"] == 2 and len(await _jobs(admin_db)) == 1


async def test_the_job_calls_stripe_with_no_transaction_open(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    await quiet(shop.app)
    watch = Watch(admin_db)
    shop.stripe.during_request = watch
    assert (await _migrate(shop, shelf.yoga["id"]))["queuedCount"] == 2
    assert watch.seen == []  # the request itself calls nobody
    [job] = await _jobs(admin_db)
    assert (await _run(shop, job)).moved == 2
    calls = [call for call, _ in watch.seen]
    assert sorted(calls) == sorted([f"GET /v1/subscriptions/{s.sub_id}" for s in shelf.monthly]
                                   + [f"POST /v1/subscriptions/{s.sub_id}" for s in shelf.monthly]), calls
    assert all(open_ == [] for _, open_ in watch.seen), watch.seen


class CustomerMovesMeanwhile:
    """While the job moves the first subscription, the customer of another one moves it to another tier."""

    def __init__(self, provider: Any, move: Any) -> None:
        self.provider, self.move = provider, move

    async def change_subscription_price(self, *args: Any, **kwargs: Any) -> Any:
        answer = await self.provider.change_subscription_price(*args, **kwargs)
        if self.move is not None:
            move, self.move = self.move, None
            await move()
        return answer


async def test_a_subscription_its_customer_moved_to_another_tier_meanwhile_is_left_alone(stripe_shop: StripeShop,
                                                                                          db, admin_db):
    shop = stripe_shop
    shelf = await _shelf(shop, db)
    price = await _current_price(admin_db, shelf.yoga)
    other_price = await _current_price(admin_db, shelf.other)
    assert (await _migrate(shop, shelf.yoga["id"]))["queuedCount"] == 2
    [job] = await _jobs(admin_db)
    first, second = sorted(shelf.monthly, key=lambda s: s.row_id)  # the job's order

    async def move() -> None:
        [mine] = await subscriptions_of(shop.gql, second.token)
        body = await shop.gql.ok(CHANGE, {"input": {"subscriptionId": mine["id"], "tierId": shelf.other["id"],
                                                    "interval": "MONTH"}}, second.token)
        assert body["changeSubscriptionTier"]["subscription"]["tier"]["id"] == shelf.other["id"]

    services = shop.app.state.runtime["services"]
    outcome = await _run(shop, job, CustomerMovesMeanwhile(services.payments, move))
    assert (outcome.moved, outcome.refused, outcome.failed) == (1, 0, 0)
    rows = await _rows(admin_db)
    assert rows[first.row_id]["stripe_price_id"] == price["stripe_price_id"]
    assert rows[second.row_id]["stripe_price_id"] == other_price["stripe_price_id"]
    assert rows[second.row_id]["tier_id"] == decode_id(shelf.other["id"], "SubscriptionTier")
    assert _item_price(shop, second.sub_id) == other_price["stripe_price_id"]  # not moved back
