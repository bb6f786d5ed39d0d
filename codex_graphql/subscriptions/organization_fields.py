"""Subscriptions' field on ``Organization`` (its tiers), declared here, where its data lives, and attached to
the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.context import Context
from codex_graphql.subscriptions import repository, rules, service
from codex_graphql.subscriptions.types import SubscriptionTier, tiers_of


@strawberry.type(description="Subscriptions' fields of `Organization` (never served as a type of its own).")
class OrganizationSubscriptions:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @strawberry.field(description="The organization's subscription tiers, by position then name. Public: everyone "
                      "sees the PUBLISHED tiers that are ready to sell (`billingReady`); staff with "
                      "SUBSCRIPTIONS_MANAGE in this (active) organization see all of them, drafts and archived "
                      f"ones included (at most {rules.MAX_TIERS} that are not archived).")
    async def subscription_tiers(self, info: strawberry.Info) -> list[SubscriptionTier]:
        ctx: Context = info.context
        staff = service.sees_every_tier(ctx.viewer, self.organization_id)
        rows = await repository.of_organization(ctx.db, self.organization_id, staff=staff)
        return await tiers_of(ctx, self.organization_id, rows)
