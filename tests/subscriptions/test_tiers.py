"""Subscription tiers through the API with the local payment provider: create, update (a price change adds a
price and keeps the old row), publish, archive; public and staff lists; audit entries; typed refusals that
change nothing."""

from __future__ import annotations

import uuid

import pytest

from codex_graphql.relay import decode_id, to_global_id
from tests.subscriptions.support import (
    LIST,
    NODE,
    STAFF_LIST,
    archive,
    category,
    create,
    created,
    listed,
    local_actors,
    state,
    update,
)
from tests.support import statements


async def test_create_makes_the_tier_its_prices_and_its_provider_objects(gql, factory, admin_db):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    yoga, pilates = await category(gql, token, "Yoga"), await category(gql, token, "Pilates")
    tier = await created(gql, token, name="  Yoga   Tier ", categoryIds=[yoga, pilates, yoga], published=True)
    assert {k: tier[k] for k in ("name", "description", "status", "trialDays", "allContent", "offeringAccess",
                                 "monthlyCredits", "creditPolicy", "creditRolloverCap", "currency", "billingReady")} == {
        "name": "Yoga Tier", "description": "All yoga.", "status": "PUBLISHED", "trialDays": 7, "allContent": False,
        "offeringAccess": True, "monthlyCredits": 2, "creditPolicy": "EXPIRE_MONTHLY", "creditRolloverCap": None,
        "currency": "USD", "billingReady": True}
    assert tier["publishedAt"] is not None and tier["archivedAt"] is None
    assert sorted(c["name"] for c in tier["categories"]) == ["Pilates", "Yoga"]
    assert (tier["monthlyPrice"]["interval"], tier["monthlyPrice"]["amountCents"]) == ("MONTH", 1500)
    assert (tier["annualPrice"]["interval"], tier["annualPrice"]["amountCents"]) == ("YEAR", 15000)
    assert tier["stripeProductId"].startswith("prod_local_")
    rows = await admin_db.fetch("select interval, amount_cents, stripe_price_id, active from subscription_tier_price "
                                "order by interval")
    assert [(r["interval"], r["amount_cents"], r["active"]) for r in rows] == [("MONTH", 1500, True), ("YEAR", 15000, True)]
    assert rows[0]["stripe_price_id"].startswith("price_local_month_1500_usd_")
    assert rows[1]["stripe_price_id"].startswith("price_local_year_15000_usd_")
    audit = await admin_db.fetchrow("select action, actor_user_id, after from audit_log_entry "
                                    "where target_type = 'SubscriptionTier'")
    assert audit["action"] == "SUBSCRIPTION_TIER_CREATED" and audit["actor_user_id"] == actors.staff_with.user_id


async def test_a_price_change_adds_a_price_and_keeps_the_old_row(gql, factory, admin_db):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    tier = await created(gql, token, published=True)
    old_month = tier["monthlyPrice"]
    changed = await update(gql, token, tier["id"], monthlyPriceCents=1800, name="Yoga Plus")
    assert changed["errors"] == [], changed
    new = changed["tier"]
    assert new["name"] == "Yoga Plus" and new["monthlyPrice"]["amountCents"] == 1800
    assert new["monthlyPrice"]["id"] != old_month["id"]
    assert new["annualPrice"] == tier["annualPrice"]  # unchanged interval: same row
    history = {p["id"]: p for p in new["priceHistory"]}
    assert len(history) == 3 and history[old_month["id"]]["active"] is False
    assert history[old_month["id"]]["deactivatedAt"] is not None and history[old_month["id"]]["amountCents"] == 1500
    rows = await admin_db.fetch("select amount_cents, active, stripe_price_id, provider_archived_at from "
                                "subscription_tier_price where interval = 'MONTH' order by created_at")
    assert [(r["amount_cents"], r["active"]) for r in rows] == [(1500, False), (1800, True)]
    assert rows[0]["stripe_price_id"] != rows[1]["stripe_price_id"] and rows[1]["stripe_price_id"]
    assert rows[0]["provider_archived_at"] is not None  # archived at the provider for new checkouts
    audit = await admin_db.fetchrow("select before, after from audit_log_entry where action = 'SUBSCRIPTION_TIER_CHANGED'")
    assert '"monthlyPriceCents": 1500' in audit["before"] and '"monthlyPriceCents": 1800' in audit["after"]
    assert '"annualPriceCents"' not in audit["after"]  # changed values only

    # Removing an interval (null) deactivates its price; the last one cannot go.
    only_annual = await update(gql, token, tier["id"], monthlyPriceCents=None)
    assert only_annual["errors"] == [] and only_annual["tier"]["monthlyPrice"] is None
    before = await state(admin_db)
    refused = await update(gql, token, tier["id"], annualPriceCents=None)
    assert refused == {"errors": [{"code": "INVALID_INPUT", "field": ["input", "monthlyPriceCents"],
                                   "message": refused["errors"][0]["message"]}], "tier": None}
    assert await state(admin_db) == before
    # The same values again change nothing (no new price, no audit entry).
    same = await update(gql, token, tier["id"], annualPriceCents=15000, name="Yoga Plus")
    assert same["errors"] == [] and await state(admin_db) == before


async def test_publish_unpublish_and_the_public_and_staff_lists(gql, factory):
    actors = await local_actors(factory)
    token, slug = actors.staff_with.token, actors.org_slug
    draft = await created(gql, token, name="Draft", position=2)
    live = await created(gql, token, name="Live", published=True, position=1)
    gone = await created(gql, token, name="Gone", published=True, position=3)
    assert (await archive(gql, token, gone["id"]))["errors"] == []
    assert draft["status"] == "DRAFT" and draft["publishedAt"] is None

    everyone = {"anonymous": None, "customer": actors.customer.token, "other": actors.other_staff.token,
                "without": actors.staff_without.token}
    for name, who in everyone.items():
        assert [t["name"] for t in await listed(gql, slug, who)] == ["Live"], name
        assert (await gql.ok(NODE, {"id": draft["id"]}, who))["node"] is None, name
        assert (await gql.ok(NODE, {"id": gone["id"]}, who))["node"] is None, name
        assert (await gql.ok(NODE, {"id": live["id"]}, who))["node"]["name"] == "Live", name
    staff = (await gql.ok(STAFF_LIST, {"slug": slug}, token))["organization"]["subscriptionTiers"]
    assert [(t["name"], t["status"]) for t in staff] == [("Live", "PUBLISHED"), ("Draft", "DRAFT"), ("Gone", "ARCHIVED")]
    assert (await gql.ok(NODE, {"id": draft["id"]}, token))["node"]["status"] == "DRAFT"

    published = await update(gql, token, draft["id"], published=True)
    assert published["tier"]["status"] == "PUBLISHED" and published["tier"]["publishedAt"] is not None
    assert [t["name"] for t in await listed(gql, slug, None)] == ["Live", "Draft"]
    back = await update(gql, token, live["id"], published=False)
    assert back["tier"]["status"] == "DRAFT"
    assert [t["name"] for t in await listed(gql, slug, None)] == ["Draft"]


async def test_archive_deactivates_the_prices_and_freezes_the_tier(gql, factory, admin_db):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    tier = await created(gql, token, published=True)
    archived = await archive(gql, token, tier["id"])
    assert archived["errors"] == [] and archived["tier"]["status"] == "ARCHIVED"
    assert archived["tier"]["archivedAt"] is not None and archived["tier"]["billingReady"] is False
    assert archived["tier"]["monthlyPrice"] is None and archived["tier"]["annualPrice"] is None
    rows = await admin_db.fetch("select active, stripe_price_id, provider_archived_at from subscription_tier_price")
    assert len(rows) == 2 and all(not r["active"] and r["stripe_price_id"] and r["provider_archived_at"] for r in rows)
    assert await admin_db.fetchval("select provider_archived_at is not null from subscription_tier") is True
    assert await admin_db.fetchval("select count(*) from audit_log_entry where action = 'SUBSCRIPTION_TIER_ARCHIVED'") == 1

    before = await state(admin_db)
    again = await archive(gql, token, tier["id"])  # changes nothing
    assert again["errors"] == [] and again["tier"]["status"] == "ARCHIVED"
    for fields in ({"name": "New"}, {"monthlyPriceCents": 900}, {"published": True}):
        refused = await update(gql, token, tier["id"], **fields)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_STATE", ["input", "tierId"])]
        assert refused["tier"] is None
    assert await state(admin_db) == before


BAD_CREATE = [
    ({"monthlyPriceCents": -1}, "INVALID_INPUT", "monthlyPriceCents"),
    ({"monthlyPriceCents": 0}, "INVALID_INPUT", "monthlyPriceCents"),
    ({"annualPriceCents": 10_000_001}, "INVALID_INPUT", "annualPriceCents"),
    ({"monthlyPriceCents": None, "annualPriceCents": None}, "INVALID_INPUT", "monthlyPriceCents"),
    ({"trialDays": -1}, "INVALID_INPUT", "trialDays"),
    ({"trialDays": 731}, "INVALID_INPUT", "trialDays"),
    ({"monthlyCredits": -1}, "INVALID_INPUT", "monthlyCredits"),
    ({"monthlyCredits": 100_001}, "INVALID_INPUT", "monthlyCredits"),
    ({"creditPolicy": "ROLLOVER"}, "INVALID_INPUT", "creditRolloverCap"),
    ({"creditPolicy": "ROLLOVER", "creditRolloverCap": -1}, "INVALID_INPUT", "creditRolloverCap"),
    ({"creditRolloverCap": 5}, "INVALID_INPUT", "creditRolloverCap"),
    ({"name": "   "}, "INVALID_INPUT", "name"),
    ({"name": "x" * 81}, "INVALID_INPUT", "name"),
    ({"description": "x" * 2001}, "INVALID_INPUT", "description"),
    ({"currency": "EUR"}, "INVALID_INPUT", "currency"),
    ({"position": -1}, "INVALID_INPUT", "position"),
    ({"idempotencyKey": ""}, "INVALID_INPUT", "idempotencyKey"),
    ({"categoryIds": ["not-an-id"]}, "NOT_FOUND", "categoryIds"),
    ({"categoryIds": [to_global_id("Category", uuid.uuid4())]}, "NOT_FOUND", "categoryIds"),
]


@pytest.mark.parametrize(("fields", "code", "field"), BAD_CREATE)
async def test_bad_input_is_refused_and_nothing_is_written(gql, factory, admin_db, fields, code, field):
    actors = await local_actors(factory)
    before = await state(admin_db)
    result = await create(gql, actors.staff_with.token, **{"name": "Yoga", "monthlyPriceCents": 1500, **fields})
    assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, ["input", field])], result
    assert result["tier"] is None and await state(admin_db) == before


async def test_categories_of_another_organization_and_all_content_with_categories_are_refused(gql, factory, admin_db):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    mine = await category(gql, token, "Mine")
    theirs = await category(gql, actors.other_staff.token, "Theirs")
    before = await state(admin_db)
    foreign = await create(gql, token, name="T", monthlyPriceCents=100, categoryIds=[mine, theirs])
    assert [(e["code"], e["field"]) for e in foreign["errors"]] == [("NOT_FOUND", ["input", "categoryIds"])]
    both = await create(gql, token, name="T", monthlyPriceCents=100, categoryIds=[mine], allContent=True)
    assert [(e["code"], e["field"]) for e in both["errors"]] == [("INVALID_INPUT", ["input", "categoryIds"])]
    assert await state(admin_db) == before

    tier = await created(gql, token, categoryIds=[mine])
    before = await state(admin_db)
    for fields, code in (({"allContent": True}, "INVALID_INPUT"), ({"categoryIds": [theirs]}, "NOT_FOUND"),
                         ({"monthlyPriceCents": -5}, "INVALID_INPUT"), ({"name": None}, "INVALID_INPUT"),
                         ({"tierId": to_global_id("SubscriptionTier", uuid.uuid4())}, "NOT_FOUND")):
        refused = await update(gql, token, tier["id"], **fields)
        assert refused["errors"][0]["code"] == code and refused["tier"] is None, (fields, refused)
    assert await state(admin_db) == before
    # All content with the categories cleared in the same change is fine.
    everything = await update(gql, token, tier["id"], allContent=True, categoryIds=[])
    assert everything["errors"] == [] and everything["tier"]["allContent"] is True
    assert everything["tier"]["categories"] == []


async def test_rollover_cap_follows_the_policy(gql, factory):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    tier = await created(gql, token, creditPolicy="ROLLOVER", creditRolloverCap=4)
    assert (tier["creditPolicy"], tier["creditRolloverCap"]) == ("ROLLOVER", 4)
    kept = await update(gql, token, tier["id"], monthlyCredits=3)
    assert kept["tier"]["creditRolloverCap"] == 4 and kept["tier"]["monthlyCredits"] == 3
    dropped = await update(gql, token, tier["id"], creditPolicy="ACCUMULATE")
    assert (dropped["tier"]["creditPolicy"], dropped["tier"]["creditRolloverCap"]) == ("ACCUMULATE", None)


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_tier(gql, factory, admin_db):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    first = await created(gql, token, idempotencyKey="tier-1")
    again = await created(gql, token, idempotencyKey="tier-1", name="Other name")
    assert again["id"] == first["id"] and again["name"] == "Yoga"
    assert await admin_db.fetchval("select count(*) from subscription_tier") == 1
    assert await admin_db.fetchval("select count(*) from subscription_tier_price") == 2
    # The key is per organization.
    other = await created(gql, actors.other_staff.token, idempotencyKey="tier-1")
    assert decode_id(other["id"], "SubscriptionTier") != decode_id(first["id"], "SubscriptionTier")


async def test_the_tier_list_costs_the_same_statements_for_2_tiers_as_for_8(app, gql, factory):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    yoga = await category(gql, token, "Yoga")

    async def count() -> tuple[int, int]:
        counts = []
        for who in (None, token):
            await gql.ok(STAFF_LIST if who else LIST, {"slug": actors.org_slug}, who)  # warm caches
            async with statements(app) as seen:
                await gql.ok(STAFF_LIST if who else LIST, {"slug": actors.org_slug}, who)
            counts.append(len(seen))
        return counts[0], counts[1]

    for n in range(2):
        await created(gql, token, name=f"Tier {n}", published=True, categoryIds=[yoga])
    few = await count()
    for n in range(2, 8):
        await created(gql, token, name=f"Tier {n}", published=True, categoryIds=[yoga])
    assert await count() == few
    assert few[0] <= 6 and few[1] <= 6, few  # tiers, prices, categories (+ the organization and scope)
