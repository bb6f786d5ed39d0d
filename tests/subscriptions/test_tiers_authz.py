"""The authorization matrix of every tier mutation and restricted field: anonymous, a customer, staff of another
organization, staff without SUBSCRIPTIONS_MANAGE (CREATOR) and staff with it. Refusals leak nothing and change
nothing; staff of another organization act in their own organization only (another's tier is NOT_FOUND)."""

from __future__ import annotations

from typing import Any

from tests.subscriptions.support import (
    ARCHIVE,
    CREATE,
    STAFF_LIST,
    UPDATE,
    YOGA,
    created,
    local_actors,
    state,
)


def _codes(body: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in body.get("errors", [])}


async def test_every_mutation_by_every_caller(gql, factory, admin_db):
    actors = await local_actors(factory)
    tier = await created(gql, actors.staff_with.token, published=True)
    tokens = actors.tokens()
    cases = {
        "createSubscriptionTier": (CREATE, {"input": {**YOGA, "name": "Sneaky"}}),
        "updateSubscriptionTier": (UPDATE, {"input": {"tierId": tier["id"], "name": "Hacked", "monthlyPriceCents": 1}}),
        "archiveSubscriptionTier": (ARCHIVE, {"input": {"tierId": tier["id"]}}),
    }
    for field, (document, variables) in cases.items():
        for name in ("anonymous", "customer", "staff_without_permission"):
            before = await state(admin_db)
            body = await gql(document, variables, tokens[name])
            expected = "UNAUTHENTICATED" if name == "anonymous" else "FORBIDDEN"
            assert _codes(body) == {expected} and body["data"] is None, (field, name, body)
            assert await state(admin_db) == before, (field, name)
        if field != "createSubscriptionTier":  # another organization's tier does not exist for them
            before = await state(admin_db)
            body = await gql(document, variables, tokens["other_org_staff"])
            assert "errors" not in body, body
            assert body["data"][field] == {"errors": [{"code": "NOT_FOUND", "field": ["input", "tierId"],
                                                       "message": body["data"][field]["errors"][0]["message"]}],
                                           "tier": None}
            assert await state(admin_db) == before, field
    # Staff of another organization create in their own organization, never in this one.
    theirs = (await gql(CREATE, cases["createSubscriptionTier"][1], tokens["other_org_staff"]))["data"]
    assert theirs["createSubscriptionTier"]["errors"] == []
    assert await admin_db.fetchval("select organization_id from subscription_tier where name = 'Sneaky'") == \
        actors.other_org
    # Staff with the permission do all three.
    for field, (document, variables) in cases.items():
        body = await gql(document, variables, tokens["staff_with_permission"])
        assert "errors" not in body and body["data"][field]["errors"] == [], (field, body)
    assert await admin_db.fetchval("select status from subscription_tier where id = (select target_id from "
                                   "audit_log_entry where action = 'SUBSCRIPTION_TIER_ARCHIVED')") == "ARCHIVED"


async def test_restricted_fields_by_every_caller(gql, factory):
    actors = await local_actors(factory)
    tier = await created(gql, actors.staff_with.token, published=True)
    for field in ("stripeProductId", "priceHistory { id amountCents }"):
        query = f"query($slug: String!) {{ organization(slug: $slug) {{ subscriptionTiers {{ id {field} }} }} }}"
        name = field.split()[0]
        for caller, token in actors.tokens().items():
            body = await gql(query, {"slug": actors.org_slug}, token)
            tiers = body["data"]["organization"]["subscriptionTiers"]
            assert [t["id"] for t in tiers] == [tier["id"]], (caller, body)  # the tier itself is public
            if caller == "staff_with_permission":
                assert "errors" not in body and tiers[0][name], (caller, body)
                continue
            expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
            assert _codes(body) == {expected} and tiers[0][name] is None, (caller, body)


async def test_drafts_and_archived_tiers_are_listed_for_staff_with_the_permission_only(gql, factory):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    await created(gql, token, name="Draft")
    for caller, who in actors.tokens().items():
        tiers = (await gql.ok("query($slug: String!) { organization(slug: $slug) { subscriptionTiers { name } } }",
                              {"slug": actors.org_slug}, who))["organization"]["subscriptionTiers"]
        assert tiers == ([{"name": "Draft"}] if caller == "staff_with_permission" else []), caller
    staff = (await gql.ok(STAFF_LIST, {"slug": actors.org_slug}, token))["organization"]["subscriptionTiers"]
    assert [t["status"] for t in staff] == ["DRAFT"]
