"""Credits' field on ``Organization`` (one customer's credits, for staff), declared here, where its data lives,
and attached to the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.credits import repository
from codex_graphql.credits.types import CustomerCredits
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import decode_id


@strawberry.type(description="Credits' fields of `Organization` (never served as a type of its own).")
class OrganizationCredits:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(HasOrgPermission(Permission.CUSTOMERS_READ),
             description="One customer's credit balance and ledger in this organization (a balance of 0 and no "
             "transactions for someone who never had credits here); null for a malformed id.")
    async def customer_credits(self, info: strawberry.Info, user_id: Annotated[strawberry.ID, strawberry.argument(
            description="The customer (global id of a `User`).")]) -> CustomerCredits | None:
        customer = decode_id(str(user_id), "User")
        if customer is None:
            return None
        balance = await repository.balance_of(info.context.db, self.organization_id, customer)
        return CustomerCredits(organization_id=self.organization_id, customer_id=customer, balance=balance)
