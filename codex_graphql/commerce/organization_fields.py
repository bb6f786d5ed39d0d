"""Commerce's fields on ``Organization`` (its purchases, and its creators' earnings read from the earnings
ledger by earnings/dashboard_types.py), declared here, and attached to the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.commerce import queries
from codex_graphql.commerce.types import Purchase
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.earnings.dashboard_types import CreatorEarnings, creator_earnings
from codex_graphql.permissions import HasAnyOrgPermission, HasOrgPermission, guarded
from codex_graphql.relay import Connection


@strawberry.type(description="Commerce's fields of `Organization` (never served as a type of its own).")
class OrganizationCommerce:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Purchases in this organization, newest first.")
    async def purchases(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None
    ) -> Connection[Purchase] | None:
        return await queries.organization_purchases(info, self.organization_id, first, after)

    @guarded(HasAnyOrgPermission(Permission.PURCHASES_READ, Permission.CONTENT_CREATE),
             description="Earnings per creator and currency, all time, from the earnings ledger's summary (one row "
             "per creator and currency; the biggest earners first). Staff with PURCHASES_READ see every creator; a "
             "creator (CONTENT_CREATE without PURCHASES_READ) sees only their own rows. Sales completed before the "
             "ledger existed (migration 0036) have no ledger entries and are not counted.")
    async def creator_earnings(self, info: strawberry.Info) -> list[CreatorEarnings] | None:
        return await creator_earnings(info.context, self.organization_id)
