"""Analytics' fields on ``Organization`` (the sales dashboard and the customers list), declared here, where
their data lives, and attached to the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.analytics import queries
from codex_graphql.analytics.types import Analytics, Customer, CustomerFilter, CustomerOrder, DateRange
from codex_graphql.authz import Permission
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection


@strawberry.type(description="Analytics' fields of `Organization` (never served as a type of its own).")
class OrganizationAnalytics:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(
        HasOrgPermission(Permission.ANALYTICS_READ),
        description="Sales dashboard for a range of local days (organization timezone; default: the last 30 days). "
        "Money is minor units net of tax; refunds subtract; FREE and GRANT purchases count with 0 revenue.",
    )
    async def analytics(
        self, info: strawberry.Info,
        range_: Annotated[
            DateRange | None,
            strawberry.argument(name="range", description="Inclusive local days; at most 1000."),
        ] = None,
    ) -> Analytics | None:
        return await queries.analytics(info, self.organization_id, range_)

    @guarded(
        HasOrgPermission(Permission.CUSTOMERS_READ),
        description="People with purchases here (grants and free claims included); default order: latest purchase first.",
    )
    async def customers(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None,
        filter: Annotated[
            CustomerFilter | None,
            strawberry.argument(description="Narrow the list by email/name text or by a purchased item; conditions combine with AND. Omit for every customer."),
        ] = None,
        order_by: Annotated[
            CustomerOrder | None,
            strawberry.argument(description="Sort key and direction; default LAST_PURCHASE_AT DESC (latest "
                                "purchase first). Ties are broken by user id so pages are stable."),
        ] = None,
    ) -> Connection[Customer] | None:
        return await queries.customers(info, self.organization_id, first, after, filter, order_by)
