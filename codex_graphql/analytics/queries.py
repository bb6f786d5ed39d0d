"""Entry points attached to ``Organization`` (``analytics``, ``customers``) by its type."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.analytics import repository, service
from codex_graphql.analytics.types import (
    Analytics,
    Customer,
    CustomerFilter,
    CustomerOrder,
    CustomerOrderField,
    DateRange,
    OrderDirection,
)
from codex_graphql.context import Context
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.relay import Connection, build_connection, check_first, decode_id


async def analytics(info: strawberry.Info, organization_id: uuid.UUID, range_: DateRange | None) -> Analytics:
    ctx: Context = info.context
    organization = await organization_loaders.organizations(ctx).load(organization_id)
    timezone = organization.timezone if organization else "UTC"
    days = service.resolve_range(range_.from_ if range_ else None, range_.to if range_ else None, timezone)
    return Analytics(organization_id=organization_id, range=days, today=service.local_today(timezone))


async def customers(info: strawberry.Info, organization_id: uuid.UUID, first: int | None, after: str | None,
                    filter: CustomerFilter | None, order_by: CustomerOrder | None) -> Connection[Customer]:
    ctx: Context = info.context
    size = check_first(first)
    search = (filter.search or "").strip()[:200] or None if filter else None
    content_id: uuid.UUID | None = None
    if filter and filter.purchased_content_id is not None:
        # An id that is not a Content id matches nobody (never an error that reveals anything).
        content_id = decode_id(str(filter.purchased_content_id), "Content") or uuid.UUID(int=0)
    field = (order_by.field if order_by else CustomerOrderField.LAST_PURCHASE_AT).value
    descending = (order_by.direction if order_by else OrderDirection.DESC) is OrderDirection.DESC
    page = await repository.customers_page(ctx.db, organization_id, first=size, after=after, search=search,
                                           content_id=content_id, field=field, descending=descending)
    return build_connection(page, Customer.from_row,
                            lambda: repository.customers_count(ctx.db, organization_id, search, content_id))
