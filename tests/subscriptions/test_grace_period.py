"""The organization's grace period for PAST_DUE subscriptions (``subscriptionGraceDays`` in its settings): read and
changed through GraphQL by staff with SETTINGS_MANAGE, refused with typed errors when out of range, and applied at
once to the organization's PAST_DUE subscriptions (``access_until`` recomputed in the same transaction with
``billing.access_until``): a shorter grace ends access now, a longer one extends it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import asyncpg

from codex_graphql.relay import to_global_id
from tests.subscriptions.dunning_support import (
    SETTINGS,
    UPDATE,
    past_due,
    row,
    set_grace,
    shelf,
    subscribe,
)
from tests.subscriptions.support import StripeShop, plays
from tests.support import assert_authz_matrix


def _state(admin_db: Any, org: Any) -> Any:
    async def snapshot() -> Any:
        organization = tuple(await admin_db.fetchrow("select name, timezone, settings::text from organization "
                                                     "where id = $1", org))
        subscriptions = [tuple(r) for r in await admin_db.fetch(
            "select id, status, past_due_since, access_until from subscription order by id")]
        return organization, subscriptions
    return snapshot


async def test_the_grace_period_is_read_and_changed_through_the_settings(stripe_shop: StripeShop, admin_db):
    shop = stripe_shop
    read = await shop.gql.ok(SETTINGS, {"slug": shop.actors.org_slug}, shop.token)
    assert read["organization"]["settings"] == {"subscriptionGraceDays": 7}  # the default
    changed = await set_grace(shop, 14)
    assert changed == {"errors": [], "settings": {"subscriptionGraceDays": 14}}
    read = await shop.gql.ok(SETTINGS, {"slug": shop.actors.org_slug}, shop.token)
    assert read["organization"]["settings"] == {"subscriptionGraceDays": 14}
    stored = await admin_db.fetchval("select settings from organization where id = $1", shop.actors.org)
    assert json.loads(stored)["subscription_grace_days"] == 14
    audit = await admin_db.fetchrow("select before, after from audit_log_entry where action = 'SETTINGS_CHANGED' "
                                    "and organization_id = $1", shop.actors.org)
    assert json.loads(audit["before"]) == {"subscriptionGraceDays": 7}
    assert json.loads(audit["after"]) == {"subscriptionGraceDays": 14}
    # Omitted, it stays; the other settings change alone.
    other = await shop.gql(UPDATE, {"input": {"legalName": "Yoga Ltd"}}, shop.token)
    assert other["data"]["updateOrganizationSettings"]["settings"] == {"subscriptionGraceDays": 14}


async def test_bad_grace_periods_are_refused_and_change_nothing(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    await past_due(shop, shop.actors.customer, goods.tier["id"])
    snapshot = _state(admin_db, shop.actors.org)
    before = await snapshot()
    for days, message in ((-1, "0 to 60 days"), (61, "0 to 60 days"), (1000, "0 to 60 days"),
                          (None, "cannot be null")):
        for extra in ({}, {"legalName": "Changed Ltd"}):  # a valid change beside it is not stored either
            body = await shop.gql(UPDATE, {"input": {"subscriptionGraceDays": days, **extra}}, shop.token)
            assert "errors" not in body, body
            result = body["data"]["updateOrganizationSettings"]
            assert result["settings"] is None, (days, result)
            [error] = result["errors"]
            assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", "subscriptionGraceDays"]), error
            assert message in error["message"], error
            assert await snapshot() == before, days
    assert await plays(shop.gql, shop.actors.customer.token, goods.item)


async def test_who_may_read_and_change_the_grace_period(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    stripe_id = await past_due(shop, shop.actors.customer, goods.tier["id"])
    actors = shop.actors
    read = await assert_authz_matrix(shop.gql, actors, SETTINGS, {"slug": actors.org_slug},
                                     path=["organization", "settings"], allowed={"staff_with_permission"})
    assert read["staff_with_permission"]["data"]["organization"]["settings"] == {"subscriptionGraceDays": 7}
    for name, body in read.items():
        assert "subscriptionGraceDays" not in json.dumps(body) or name == "staff_with_permission", name

    variables = {"input": {"organizationId": to_global_id("Organization", actors.org), "subscriptionGraceDays": 0}}
    results = await assert_authz_matrix(shop.gql, actors, UPDATE, variables,
                                        path=["updateOrganizationSettings", "settings"],
                                        allowed={"staff_with_permission"}, snapshot=_state(admin_db, actors.org))
    assert results["staff_with_permission"]["data"]["updateOrganizationSettings"] == {
        "errors": [], "settings": {"subscriptionGraceDays": 0}}
    # Only the allowed caller's change took effect (the others' left the snapshot as it was).
    assert not await plays(shop.gql, actors.customer.token, goods.item)
    past = await row(admin_db, stripe_id)
    assert past["access_until"] == past["past_due_since"]
    assert await admin_db.fetchval("select settings::text from organization where id = $1", actors.other_org) == "{}"


async def test_a_new_grace_period_ends_or_extends_past_due_access_at_once(stripe_shop: StripeShop, db, admin_db):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    late = shop.actors.customer
    stripe_id = await past_due(shop, late, goods.tier["id"])
    first = await row(admin_db, stripe_id)
    assert first["status"] == "PAST_DUE" and first["access_until"] == first["past_due_since"] + timedelta(days=7)
    assert await plays(shop.gql, late.token, goods.item)

    # A shorter grace period that is already over: access ends now, without any webhook.
    assert (await set_grace(shop, 0))["errors"] == []
    now_over = await row(admin_db, stripe_id)
    assert now_over["access_until"] == now_over["past_due_since"]
    assert not await plays(shop.gql, late.token, goods.item)
    # A longer one extends it again (the same formula as the webhooks': past_due_since + grace).
    assert (await set_grace(shop, 30))["errors"] == []
    extended = await row(admin_db, stripe_id)
    assert extended["access_until"] == extended["past_due_since"] + timedelta(days=30)
    assert await plays(shop.gql, late.token, goods.item)
    # The next webhook of the subscription computes the same end with the stored grace.
    replay = shop.stripe.event("customer.subscription.updated", shop.stripe.subscriptions[stripe_id])
    assert {r.status_code for r in await shop.stripe.send([replay])} == {200}
    assert (await row(admin_db, stripe_id))["access_until"] == extended["access_until"]


async def test_only_past_due_subscriptions_of_the_organization_move(stripe_shop: StripeShop, db, admin_db, factory):
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    late = await past_due(shop, shop.actors.customer, goods.tier["id"])
    payer = await factory.user()
    paying = await subscribe(shop, payer, goods.tier["id"], key="payer")
    active = await row(admin_db, paying)
    assert active["status"] == "ACTIVE"
    assert (await set_grace(shop, 2))["errors"] == []
    assert (await row(admin_db, paying))["access_until"] == active["access_until"]  # ACTIVE: untouched
    moved = await row(admin_db, late)
    assert moved["access_until"] == moved["past_due_since"] + timedelta(days=2)
    assert await plays(shop.gql, payer.token, goods.item)


async def test_a_webhook_making_a_subscription_past_due_meanwhile_gets_the_new_grace(stripe_shop: StripeShop, db,
                                                                                      admin_db, database_url):
    """A webhook holds the subscription's row (as ``billing.apply`` does) and makes it PAST_DUE with the old grace
    while the grace period changes: the change waits for it and recomputes that row too; and the webhook's next
    statement touching the organization (an outbox row) does not deadlock with the settings transaction."""
    shop = stripe_shop
    goods = await shelf(shop, db, admin_db)
    stripe_id = await subscribe(shop, shop.actors.customer, goods.tier["id"])
    webhook = await asyncpg.connect(database_url)
    try:
        transaction = webhook.transaction()
        await transaction.start()
        await webhook.execute("select id from subscription where stripe_subscription_id = $1 for update", stripe_id)
        await webhook.execute("update subscription set status = 'PAST_DUE', past_due_since = now(), "
                              "access_until = now() + interval '7 days' where stripe_subscription_id = $1", stripe_id)
        change = asyncio.create_task(set_grace(shop, 1))
        for _ in range(200):  # until the settings transaction waits for the webhook's row lock
            waiting = await admin_db.fetchval(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()")
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting == 1 and not change.done()
        await asyncio.wait_for(webhook.execute(
            "insert into outbox_message (id, kind, topic, payload, organization_id) "
            "values (gen_random_uuid(), 'event', 'subscription.past_due', '{}', $1)", shop.actors.org), 10)
        await transaction.commit()
    finally:
        await webhook.close()
    assert (await asyncio.wait_for(change, 10))["errors"] == []
    changed = await row(admin_db, stripe_id)
    assert changed["access_until"] == changed["past_due_since"] + timedelta(days=1)
