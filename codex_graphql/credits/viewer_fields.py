"""Credits' fields on ``Viewer`` (the signed-in customer's own balance and ledger), declared here, where their
data lives, and attached to the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from graphql import GraphQLError

from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.credits import repository
from codex_graphql.credits.types import CreditTransaction
from codex_graphql.relay import Connection, build_connection, check_first, decode_id


def _organization(raw: strawberry.ID | None) -> uuid.UUID | None:
    if raw is None:
        return None
    organization_id = decode_id(str(raw), "Organization")
    if organization_id is None:
        raise GraphQLError("`organizationId` is not an Organization id.", extensions={"code": "BAD_USER_INPUT"})
    return organization_id


@strawberry.type(description="Credits' fields of `Viewer` (never served as a type of its own).")
class ViewerCredits:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's own credit balance in an organization (whole credits, never "
                      "negative); 0 when they never had credits there.")
    async def credit_balance(self, info: strawberry.Info, organization_id: Annotated[strawberry.ID, strawberry.argument(
            description="The organization's global id. A malformed id is a BAD_USER_INPUT error.")]) -> int:
        return await repository.balance_of(info.context.db, _organization(organization_id), self.user_id)  # type: ignore[arg-type]

    @strawberry.field(description="The viewer's own credit transactions, newest first: in one organization, or in "
                      "every organization when `organizationId` is omitted.")
    async def credit_transactions(
        self, info: strawberry.Info,
        organization_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this organization's transactions (global id); omit for all. A malformed id is a "
            "BAD_USER_INPUT error.")] = None,
        first: FirstArg = None, after: AfterArg = None,
    ) -> Connection[CreditTransaction]:
        db = info.context.db
        org = _organization(organization_id)
        page = await repository.user_page(db, org, self.user_id, check_first(first), after)
        return build_connection(page, CreditTransaction.from_model, lambda: repository.user_count(db, org, self.user_id))
