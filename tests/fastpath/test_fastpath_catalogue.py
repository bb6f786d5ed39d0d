"""Phase 2's catalogue fields in the compiled read path: ``Organization.categories``,
``Organization.subscriptionTiers`` (with their prices and categories) and ``node(id:)`` / ``nodes(ids:)`` for
``Category`` and ``SubscriptionTier``. A storefront naming them is one statement with nothing left to the
resolvers; every viewer (anonymous, customer, staff of another organization, staff of the organization with
and without SUBSCRIPTIONS_MANAGE) gets exactly the resolvers' answer, which is the right one: row-level security
applies on the compiled pool as on the resolvers' (a category the customer sees only through an item they
bought, never shown to anyone else), and the per-viewer rules (``sees_every_category``, ``sees_every_tier``)
are the services' own."""

from __future__ import annotations

from typing import Any

from codex_graphql.fastpath import grafts
from codex_graphql.relay import to_global_id
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    compare,
    compare_any,
    compiled_execution_never_fails,
    fast_path,
    resolvers_only,
    settings,
    world,
)
from tests.support import statements

PRICE = "__typename id interval amountCents currency active createdAt deactivatedAt"
TIER = (f"__typename id name description status trialDays allContent offeringAccess monthlyCredits creditPolicy "
        f"creditRolloverCap currency position createdAt updatedAt publishedAt archivedAt billingReady "
        f"monthlyPrice {{ {PRICE} }} annualPrice {{ {PRICE} }} categories {{ id name slug }}")
CATEGORY = "__typename id name slug description position createdAt updatedAt"
STOREFRONT = f"""query Shop($slug: String!, $first: Int = 50) {{ organization(slug: $slug) {{ id name
  categories {{ {CATEGORY} }}
  subscriptionTiers {{ {TIER} }}
  contents(first: $first) {{ totalCount edges {{ cursor node {{ id title priceCents viewerHasAccess
    categories {{ id name }} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"""
STAFF_TIERS = f"""query Staff($slug: String!) {{ organization(slug: $slug) {{ name
  tiers: subscriptionTiers {{ {TIER} stripeProductId priceHistory {{ {PRICE} }} }} }} }}"""
NODE = f"""query Node($id: ID!) {{ node(id: $id) {{ __typename id ... on Category {{ {CATEGORY} }}
  ... on SubscriptionTier {{ {TIER} }} }} }}"""
NODES = f"""query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {{ __typename id ... on Category {{ {CATEGORY} }}
  ... on SubscriptionTier {{ {TIER} }} }} }}"""


def all_viewers(world: dict[str, Any]) -> dict[str, str | None]:  # noqa: F811
    return {"anonymous": None, "customer": world["customer"].token, "other_org_owner": world["other_owner"].token,
            "creator": world["creator"].token, "owner": world["owner"].token}


def fallback_total(app: Any) -> float:
    """Every root or field the compiled path left to the resolvers so far (all reasons)."""
    registry = app.state.runtime["graphql"].metrics.registry
    return sum(sample.value for metric in registry.collect() if metric.name == "codex_fastpath_fallback"
               for sample in metric.samples if sample.name == "codex_fastpath_fallback_total")


def graft_sites(app: Any, document: str) -> list[Any]:
    plan = fast_path(app).plan(document, None)
    assert plan is not None
    return [site for slot in plan.slots if isinstance(slot.root, grafts.GraftedRoot) for site in slot.root.sites]


async def ids_of(admin_db: Any, table: str, names: tuple[str, ...]) -> dict[str, str]:
    type_name = {"category": "Category", "subscription_tier": "SubscriptionTier"}[table]
    rows = await admin_db.fetch(f"select id, name from {table} where name = any($1::text[])", list(names))  # noqa: S608
    return {row["name"]: to_global_id(type_name, row["id"]) for row in rows}


async def test_a_storefront_with_categories_and_tiers_is_one_statement_without_fallback(app, gql, world):  # noqa: F811
    assert graft_sites(app, STOREFRONT) == [] and graft_sites(app, STAFF_TIERS) == []
    for who, token in all_viewers(world).items():
        await gql.ok(STOREFRONT, {"slug": "shop"}, token)  # warm: the session, the connection's tenant scope
        before = fallback_total(app)
        async with statements(app) as seen:
            data = await gql.ok(STOREFRONT, {"slug": "shop"}, token)
        assert len(seen) == 1, (who, seen)
        assert "subscription_tier" in seen[0] and "category" in seen[0]
        # The organization's lists joined once, not repeated on each row of the page beside them.
        assert seen[0].count("LEFT JOIN LATERAL (SELECT ARRAY(SELECT ROW(") == 2, seen[0]
        assert fallback_total(app) == before, who
        assert data["organization"]["subscriptionTiers"] and data["organization"]["categories"], who
    token = world["owner"].token  # staff with SUBSCRIPTIONS_MANAGE: the staff view compiles too
    await gql.ok(STAFF_TIERS, {"slug": "shop"}, token)
    before = fallback_total(app)
    async with statements(app) as seen:
        data = await gql.ok(STAFF_TIERS, {"slug": "shop"}, token)
    assert len(seen) == 1 and fallback_total(app) == before, seen
    assert [len(tier["priceHistory"]) for tier in data["organization"]["tiers"]] == [1, 3, 1, 1, 1]


async def test_every_viewer_gets_the_resolvers_answer(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    categories = await ids_of(admin_db, "category", ("Yoga", "Quiet", "Backstage", "Empty", "Far"))
    tiers = await ids_of(admin_db, "subscription_tier", ("Gold", "Silver", "Sketch", "Old", "All access", "Far tier"))
    assert fast_path(app).plan(NODE, None) is not None and fast_path(app).plan(NODES, None) is not None
    for who, token in all_viewers(world).items():
        for slug in ("shop", "elsewhere"):
            for first in (0, 3):
                await compare(app, gql, resolvers_only, STOREFRONT, {"slug": slug, "first": first}, token)
            # Staff without SUBSCRIPTIONS_MANAGE and customers are refused priceHistory: the resolvers answer.
            await compare_any(app, gql, resolvers_only, STAFF_TIERS, {"slug": slug}, token)
        for global_id in [*categories.values(), *tiers.values()]:
            await compare(app, gql, resolvers_only, NODE, {"id": global_id}, token)
        await compare(app, gql, resolvers_only, NODES, {"ids": [*categories.values(), *tiers.values()]}, token)


async def test_the_compiled_answers_are_the_right_ones(app, gql, world, admin_db):  # noqa: F811
    viewers = all_viewers(world)

    async def shelf(who: str) -> tuple[list[str], dict[str, list[str]]]:
        organization = (await gql.ok(STOREFRONT, {"slug": "shop", "first": 0}, viewers[who]))["organization"]
        return ([c["name"] for c in organization["categories"]],
                {t["name"]: [c["name"] for c in t["categories"]] for t in organization["subscriptionTiers"]})

    public = (["Yoga"], {"All access": [], "Gold": ["Yoga"]})  # on sale only; categories on the public shelf
    assert await shelf("anonymous") == public
    assert await shelf("other_org_owner") == public
    # The customer bought the unpublished item in "Backstage": row-level security shows them that category
    # inside the tier they may buy (as the resolvers' statement shows it); the shelf still lists only "Yoga".
    assert await shelf("customer") == (["Yoga"], {"All access": [], "Gold": ["Yoga", "Backstage"]})
    everything = ["Yoga", "Backstage", "Quiet", "Empty"]
    assert await shelf("creator") == (everything, {"All access": [], "Gold": ["Yoga", "Backstage", "Empty"]})
    assert await shelf("owner") == (everything, {"All access": [], "Gold": ["Yoga", "Backstage", "Empty"],
                                                  "Silver": ["Yoga"], "Sketch": ["Quiet"], "Old": []})
    owner = (await gql.ok(STOREFRONT, {"slug": "shop", "first": 0}, viewers["owner"]))["organization"]
    tiers = {t["name"]: t for t in owner["subscriptionTiers"]}
    assert [t["billingReady"] for t in tiers.values()] == [True, True, False, True, False]
    assert tiers["Gold"]["monthlyPrice"]["amountCents"] == 1500 and tiers["Gold"]["annualPrice"]["amountCents"] == 15000
    assert tiers["All access"]["monthlyPrice"] is None and tiers["All access"]["creditPolicy"] == "ROLLOVER"
    assert tiers["Old"]["status"] == "ARCHIVED" and tiers["Old"]["annualPrice"] is None

    categories = await ids_of(admin_db, "category", ("Quiet", "Yoga"))
    tiers_ids = await ids_of(admin_db, "subscription_tier", ("Sketch", "Gold"))
    for who, token in viewers.items():
        found = {name: (await gql.ok(NODE, {"id": global_id}, token))["node"]
                 for name, global_id in {**categories, **tiers_ids}.items()}
        staff = who in ("creator", "owner")
        assert found["Yoga"]["name"] == "Yoga" and found["Gold"]["name"] == "Gold", who
        assert (found["Quiet"] is not None) is staff, who  # only an unlisted item: staff's
        assert (found["Sketch"] is not None) is (who == "owner"), who  # a draft: SUBSCRIPTIONS_MANAGE's


async def test_row_level_security_holds_in_the_compiled_statements(app, gql, world, admin_db, monkeypatch):  # noqa: F811
    """With the per-viewer rules switched off (everyone "staff"), the compiled statements still show anonymous
    and other organizations' staff only what row-level security admits: PUBLISHED tiers, and categories
    holding an item they may read; the draft tier stays hidden by id too."""
    from codex_graphql.categories import service as categories
    from codex_graphql.subscriptions import service as subscriptions

    monkeypatch.setattr(categories, "sees_every_category", lambda viewer, organization_id: True)
    monkeypatch.setattr(subscriptions, "sees_every_tier", lambda viewer, organization_id: True)
    sketch = (await ids_of(admin_db, "subscription_tier", ("Sketch",)))["Sketch"]
    for who in ("anonymous", "other_org_owner"):
        token = all_viewers(world)[who]
        before = fallback_total(app)
        organization = (await gql.ok(STOREFRONT, {"slug": "shop", "first": 0}, token))["organization"]
        assert fallback_total(app) == before, who
        # "Quiet" holds a published (unlisted) item: readable, so row-level security shows it; "Backstage" holds
        # an unpublished item and "Empty" none: neither reaches the compiled answer.
        assert [c["name"] for c in organization["categories"]] == ["Yoga", "Quiet"], who
        assert [t["name"] for t in organization["subscriptionTiers"]] == ["All access", "Gold", "Silver"], who
        assert (await gql.ok(NODE, {"id": sketch}, token))["node"] is None, who
    owner = (await gql.ok(STOREFRONT, {"slug": "shop", "first": 0}, world["owner"].token))["organization"]
    assert [t["name"] for t in owner["subscriptionTiers"]] == ["All access", "Gold", "Silver", "Sketch", "Old"]
