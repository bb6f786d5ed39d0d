"""The dunning reminder before a grace period ends (``subscriptions.dunning``): the periodic job queues one email
per PAST_DUE subscription whose access ends within the window, exactly once per past-due episode (reruns, several
runners at once), a new one after a recovery and a new failure, none outside the window or for a canceled
subscription; the actor mails the tier, the seller, when access ends and a billing-portal link (run the way a
worker runs it, against a real SMTP server and the Stripe stand-in)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.settings import Settings
from codex_graphql.subscriptions import dunning
from tests.commerce.test_commerce_emails import purchase_emails  # noqa: F401  (fixture)
from tests.credits.support import new_org, new_user
from tests.subscriptions.dunning_support import fail_renewal, past_due, recover, row, set_grace, shelf
from tests.subscriptions.support import StripeShop
from tests.support.commerce import WEBHOOK_SECRET

DAY = timedelta(hours=24)  # the default window (DUNNING_REMINDER_WINDOW_HOURS)


@pytest.fixture
async def wide_db(api_database_url: str) -> AsyncIterator[Database]:
    """A pool wide enough that concurrent runners each hold their own connection and transaction."""
    database = Database(Settings(database_url=api_database_url).database_url or "", pool_size=12, max_overflow=0)
    yield database
    await database.dispose()


async def _jobs(admin_db: Any) -> list[tuple[str, dict[str, Any]]]:
    rows = await admin_db.fetch("select id, payload from outbox_message where kind = 'job' and topic = $1 "
                                "order by created_at, id", dunning.REMINDER_ACTOR)
    return [(str(r["id"]), json.loads(r["payload"])) for r in rows]


async def _reminded(admin_db: Any) -> list[str]:
    return sorted(payload["subscription_id"] for _, payload in await _jobs(admin_db))


async def _run_actor(job_id: str, payload: dict[str, Any]) -> None:
    from workers import commerce_actors

    await asyncio.to_thread(commerce_actors.send_subscription_dunning_reminder.fn, job_id=job_id, **payload)


def _with_stripe(settings: Settings, shop: StripeShop) -> Settings:
    return settings.model_copy(update={"payments_provider": "stripe", "stripe_secret_key": "sk_test_codex",
                                       "stripe_webhook_secret": WEBHOOK_SECRET, "stripe_api_base": shop.stripe.base_url})


async def test_one_reminder_per_past_due_episode_mailed_with_the_portal_link(stripe_shop: StripeShop, db, admin_db,
                                                                             mailbox, mail_settings,
                                                                             purchase_emails):  # noqa: F811
    shop = stripe_shop
    await purchase_emails.configure(_with_stripe(mail_settings, shop))
    goods = await shelf(shop, db, admin_db, name="Yoga")
    customer = shop.actors.customer
    stripe_id = await past_due(shop, customer, goods.tier["id"])
    assert await dunning.send_reminders(db, DAY) == 0  # access ends in 7 days: not yet
    assert await _jobs(admin_db) == []

    assert (await set_grace(shop, 1))["errors"] == []  # now it ends within a day
    assert await dunning.send_reminders(db, DAY) == 1
    assert await dunning.send_reminders(db, DAY) == 0  # a rerun: already reminded in this episode
    [(job_id, payload)] = await _jobs(admin_db)
    episode = await row(admin_db, stripe_id)
    assert payload == {"subscription_id": str(episode["id"]), "subscription_organization_id": str(shop.actors.org),
                       "claimed_at": episode["dunning_reminder_sent_at"].isoformat()}

    await _run_actor(job_id, payload)
    await _run_actor(job_id, payload)  # a redelivery: no second mail
    [mail] = mailbox.received
    assert mail.envelope_to == [customer.email] and mail.subject == "Your access to Yoga ends soon"
    ends = dunning.access_end_text(episode["access_until"], "UTC")
    assert "“Yoga” subscription with Test Org" in mail.text and f"Your access ends on {ends}" in mail.text, mail.text
    [portal] = shop.stripe.portal_sessions.values()
    assert portal["customer"] == shop.stripe.subscriptions[stripe_id]["customer"]
    assert portal["url"] in mail.text and f'href="{portal["url"]}"' in mail.html

    # Recovered: the episode is over (the mark is cleared) and nothing is due.
    await recover(shop, stripe_id)
    recovered = await row(admin_db, stripe_id)
    assert recovered["status"] == "ACTIVE" and recovered["dunning_reminder_sent_at"] is None
    assert await dunning.send_reminders(db, DAY) == 0
    # Past due again: a new episode, a new reminder.
    await fail_renewal(shop, stripe_id)
    again = await row(admin_db, stripe_id)
    assert again["status"] == "PAST_DUE" and again["dunning_reminder_sent_at"] is None  # a new episode
    assert await dunning.send_reminders(db, DAY) == 1
    assert await dunning.send_reminders(db, DAY) == 0
    jobs = await _jobs(admin_db)
    assert [p["subscription_id"] for _, p in jobs] == [str(episode["id"])] * 2
    # The first episode's claim, delivered late (under a new job id), mails nothing; the second's mails once.
    await _run_actor(str(uuid.uuid4()), jobs[0][1])
    assert len(mailbox.received) == 1
    await _run_actor(*jobs[1])
    assert len(mailbox.received) == 2 and mailbox.received[1].subject == "Your access to Yoga ends soon"


async def test_a_reminder_claimed_before_a_recovery_mails_nothing(stripe_shop: StripeShop, db, admin_db, mailbox,
                                                                  mail_settings, purchase_emails):  # noqa: F811
    shop = stripe_shop
    await purchase_emails.configure(_with_stripe(mail_settings, shop))
    goods = await shelf(shop, db, admin_db)
    stripe_id = await past_due(shop, shop.actors.customer, goods.tier["id"])
    assert (await set_grace(shop, 1))["errors"] == []
    assert await dunning.send_reminders(db, DAY) == 1
    await recover(shop, stripe_id)  # before a worker got to the job
    [(job_id, payload)] = await _jobs(admin_db)
    await _run_actor(job_id, payload)
    assert mailbox.received == [] and shop.stripe.portal_sessions == {}  # no portal session made either


async def _past_due_elsewhere(admin_db: Any, ends_in: timedelta) -> tuple[uuid.UUID, uuid.UUID]:
    """A PAST_DUE subscription of another organization (straight in the database), access ending in ``ends_in``."""
    org, user, tier, subscription = await new_org(admin_db), await new_user(admin_db), uuid.uuid4(), uuid.uuid4()
    await admin_db.execute("insert into subscription_tier (id, organization_id, name, status, published_at) "
                           "values ($1, $2, 'Elsewhere', 'PUBLISHED', now())", tier, org)
    await admin_db.execute(
        "insert into subscription (id, organization_id, user_id, tier_id, interval, status, checkout_key, "
        "current_period_start, current_period_end, past_due_since, access_until) values ($1, $2, $3, $4, 'MONTH', "
        "'PAST_DUE', 'k', now(), now() + interval '30 days', now(), now() + $5::interval)",
        subscription, org, user, tier, ends_in)
    return org, subscription


async def test_runners_at_once_queue_each_reminder_once(stripe_shop: StripeShop, db, admin_db, factory, wide_db):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    customers = [shop.actors.customer, *[await factory.user() for _ in range(3)]]
    for i, customer in enumerate(customers):
        await past_due(shop, customer, goods.tier["id"], key=f"sub-{i}")
    assert (await set_grace(shop, 1))["errors"] == []
    _, elsewhere = await _past_due_elsewhere(admin_db, timedelta(hours=3))
    expected = sorted([str(r["id"]) for r in await admin_db.fetch(
        "select id from subscription where organization_id = $1", shop.actors.org)] + [str(elsewhere)])
    assert len(expected) == 5

    queued = await asyncio.gather(*(dunning.send_reminders(wide_db, DAY) for _ in range(4)))
    assert sum(queued) == 5, queued
    assert await dunning.send_reminders(wide_db, DAY) == 0
    assert await _reminded(admin_db) == expected  # one job each
    marks = await admin_db.fetch("select dunning_reminder_sent_at from subscription")
    assert all(m["dunning_reminder_sent_at"] is not None for m in marks)


async def test_a_runner_never_claims_what_another_runner_is_claiming(stripe_shop: StripeShop, db, admin_db, factory,
                                                                     wide_db):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    for i, customer in enumerate([shop.actors.customer, await factory.user()]):
        await past_due(shop, customer, goods.tier["id"], key=f"sub-{i}")
    assert (await set_grace(shop, 1))["errors"] == []
    async with db.transaction(TenantScope(organization_id=shop.actors.org)) as session:
        assert await dunning.claim_reminders(session, shop.actors.org, utcnow(), DAY) == 2  # not committed yet
        other = asyncio.create_task(dunning.send_reminders(wide_db, DAY))
        await asyncio.sleep(0.5)  # the other runner meets the rows this one holds
    assert await asyncio.wait_for(other, 10) == 0
    assert len(await _jobs(admin_db)) == 2


async def test_no_reminder_outside_the_window_once_access_ended_or_when_canceled(stripe_shop: StripeShop, db,
                                                                                 admin_db, factory):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    late = await past_due(shop, shop.actors.customer, goods.tier["id"])  # access ends in 7 days
    leaver = await factory.user()
    canceled = await past_due(shop, leaver, goods.tier["id"], key="leaver")
    ended = shop.stripe.end(canceled)  # the last retry failed: customer.subscription.deleted
    assert {r.status_code for r in await shop.stripe.send(ended)} == {200}
    assert (await row(admin_db, canceled))["status"] == "CANCELED"
    _, over = await _past_due_elsewhere(admin_db, timedelta(hours=-1))  # access already ended

    assert await dunning.send_reminders(db, DAY) == 0
    assert await dunning.send_reminders(db, DAY, now=utcnow() + timedelta(days=5)) == 0  # still 2 days ahead
    assert await _jobs(admin_db) == []
    # A wider window (DUNNING_REMINDER_WINDOW_HOURS) reaches the 7-day end; the canceled and the ended never.
    assert await dunning.send_reminders(db, timedelta(days=8)) == 1
    assert await _reminded(admin_db) == [str((await row(admin_db, late))["id"])]
    assert (await admin_db.fetchval("select dunning_reminder_sent_at from subscription where id = $1", over)) is None


def test_the_window_is_a_setting_with_a_documented_default():
    assert Settings().dunning_reminder_window == timedelta(hours=24)
    assert Settings(dunning_reminder_window_hours=48).dunning_reminder_window == timedelta(hours=48)
    with pytest.raises(ValueError):
        Settings(dunning_reminder_window_hours=0)


async def test_embedded_mode_runs_the_reminder_job(settings, admin_db, monkeypatch):
    monkeypatch.setattr(dunning, "INTERVAL_SECONDS", 0.05)
    _, subscription = await _past_due_elsewhere(admin_db, timedelta(hours=2))
    app = create_app(settings.model_copy(update={"redis_url": None}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app)):
        for _ in range(200):
            if await admin_db.fetchval("select dunning_reminder_sent_at from subscription where id = $1", subscription):
                break
            await asyncio.sleep(0.05)
    assert await admin_db.fetchval("select dunning_reminder_sent_at from subscription where id = $1", subscription)
    assert await _reminded(admin_db) == [str(subscription)]
