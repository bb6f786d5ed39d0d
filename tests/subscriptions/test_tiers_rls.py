"""Row-level security under the tiers (migration 0023): a statement that forgets the organization filter still
returns no other organization's drafts or archived tiers, nor their prices and category links; PUBLISHED tiers
(and their prices and links) are the storefront's, readable by anyone; writes stay in the active organization."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id, to_global_id
from tests.subscriptions.support import archive, category, created, local_actors


async def test_unfiltered_reads_see_only_the_own_organization_and_published_tiers(gql, factory, db):
    actors = await local_actors(factory)
    token = actors.staff_with.token
    yoga = await category(gql, token, "Yoga")
    tiers = {name: decode_id((await created(gql, token, name=name, published=name == "Live", categoryIds=[yoga]))["id"],
                             "SubscriptionTier") for name in ("Live", "Draft", "Gone")}
    assert (await archive(gql, token, str(to_global_id("SubscriptionTier", tiers["Gone"]))))["errors"] == []
    theirs = decode_id((await created(gql, actors.other_staff.token, name="Theirs"))["id"], "SubscriptionTier")

    async def visible(scope: TenantScope) -> dict[str, set]:
        seen = {}
        async with db.transaction(scope) as session:
            for table, column in (("subscription_tier", "id"), ("subscription_tier_price", "tier_id"),
                                  ("subscription_tier_category", "tier_id")):
                # Deliberately no filter: row-level security is the only thing scoping these statements.
                seen[table] = set((await session.execute(text(f"select {column} from {table}"))).scalars())
        return seen

    own = await visible(TenantScope(user_id=actors.staff_with.user_id, organization_id=actors.org))
    assert own["subscription_tier"] == set(tiers.values()) and own["subscription_tier_price"] == set(tiers.values())
    assert own["subscription_tier_category"] == set(tiers.values())
    for scope in (TenantScope(user_id=actors.other_staff.user_id, organization_id=actors.other_org),
                  TenantScope(user_id=actors.customer.user_id), TenantScope()):
        seen = await visible(scope)
        mine = {theirs} if scope.organization_id == actors.other_org else set()
        assert seen["subscription_tier"] == {tiers["Live"]} | mine, scope
        assert seen["subscription_tier_price"] == {tiers["Live"]} | mine, scope
        assert seen["subscription_tier_category"] == {tiers["Live"]}, scope

    # Another organization cannot change a tier, even a published one it can read.
    async with db.transaction(TenantScope(user_id=actors.other_staff.user_id,
                                          organization_id=actors.other_org)) as session:
        changed = await session.execute(text("update subscription_tier set name = 'Hacked' where id = :id"),
                                        {"id": tiers["Live"]})
        assert changed.rowcount == 0
    with pytest.raises(DBAPIError):
        async with db.transaction(TenantScope(user_id=actors.other_staff.user_id,
                                              organization_id=actors.other_org)) as session:
            await session.execute(text("insert into subscription_tier (id, organization_id, name) values "
                                       "(gen_random_uuid(), :org, 'Planted')"), {"org": actors.org})
