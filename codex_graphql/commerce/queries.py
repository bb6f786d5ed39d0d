"""Read entry points of commerce, attached to Viewer, Organization and Content by their types."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.commerce import repository
from codex_graphql.commerce.types import PendingGrant, Purchase
from codex_graphql.context import Context
from codex_graphql.relay import Connection, build_connection, check_first, register_node


async def viewer_purchases(info: strawberry.Info, user_id: uuid.UUID, first: int | None, after: str | None) -> Connection[Purchase]:
    db = info.context.db
    page = await repository.user_purchases_page(db, user_id, check_first(first), after)
    return build_connection(page, Purchase.from_model, lambda: repository.user_purchases_count(db, user_id))


async def organization_purchases(info: strawberry.Info, organization_id: uuid.UUID, first: int | None,
                                 after: str | None) -> Connection[Purchase]:
    db = info.context.db
    page = await repository.organization_purchases_page(db, organization_id, check_first(first), after)
    return build_connection(page, Purchase.from_model, lambda: repository.organization_purchases_count(db, organization_id))


@register_node("Purchase")
async def _purchase_node(ctx: Context, id_: uuid.UUID) -> Purchase | None:
    purchase = await repository.purchase_by_id(ctx.db, id_)
    if purchase is None or not ctx.viewer.owns_or_can(purchase.user_id, Permission.PURCHASES_READ, purchase.organization_id):
        return None
    return Purchase.from_model(purchase)


@register_node("PendingGrant")
async def _pending_grant_node(ctx: Context, id_: uuid.UUID) -> PendingGrant | None:
    organization_id = ctx.viewer.active_organization_id
    if organization_id is None or not ctx.viewer.can(Permission.CUSTOMERS_MANAGE, organization_id):
        return None
    grant = await repository.pending_grant_by_id(ctx.db, organization_id, id_)
    return PendingGrant.from_model(grant) if grant else None
