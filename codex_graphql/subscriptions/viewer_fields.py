"""Subscriptions' field on ``Viewer`` (the signed-in customer's own subscriptions), attached to the type by
schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.credits.viewer_fields import _organization
from codex_graphql.relay import Connection, build_connection, check_first
from codex_graphql.subscriptions import billing_repository as repository
from codex_graphql.subscriptions.customer_types import TierSubscription


@strawberry.type(description="Subscriptions' fields of `Viewer` (never served as a type of its own).")
class ViewerSubscriptions:
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The viewer's own subscriptions to tiers, newest first (a checkout never "
                      "completed is not listed): in one organization, or in every organization when "
                      "`organizationId` is omitted.")
    async def subscriptions(
        self, info: strawberry.Info,
        organization_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this organization's subscriptions (global id); omit for all. A malformed id is a "
            "BAD_USER_INPUT error.")] = None,
        first: FirstArg = None, after: AfterArg = None,
    ) -> Connection[TierSubscription]:
        db = info.context.db
        org = _organization(organization_id)
        page = await repository.user_page(db, org, self.user_id, check_first(first), after)
        return build_connection(page, TierSubscription.from_model,
                                lambda: repository.user_count(db, org, self.user_id))
