"""Commerce's fields on ``Organization`` (its purchases and its creators' earnings), declared here, where
their data lives, and attached to the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.commerce import queries
from codex_graphql.commerce.types import CreatorEarnings, Purchase
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection


@strawberry.type(description="Commerce's fields of `Organization` (never served as a type of its own).")
class OrganizationCommerce:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Purchases in this organization, newest first.")
    async def purchases(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None
    ) -> Connection[Purchase] | None:
        return await queries.organization_purchases(info, self.organization_id, first, after)

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Earnings per creator, for payouts.")
    async def creator_earnings(self, info: strawberry.Info) -> list[CreatorEarnings] | None:
        return await queries.creator_earnings(info, self.organization_id)
