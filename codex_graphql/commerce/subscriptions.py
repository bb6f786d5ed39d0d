from __future__ import annotations

import asyncio
import enum
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from codex_graphql import subscription_guard
from codex_graphql.authz import Permission
from codex_graphql.commerce import refunds, repository, service
from codex_graphql.commerce.models import Purchase as PurchaseModel
from codex_graphql.commerce.types import Purchase
from codex_graphql.context import Context
from codex_graphql.db import Database, TenantScope
from codex_graphql.enum_docs import describe_values
from codex_graphql.permissions import HasOrgPermission, guarded_subscription


@strawberry.enum(description="What happened to a purchase. COMPLETED: paid, claimed or granted. PARTIALLY_REFUNDED: "
                 "part of the amount was refunded and the buyer keeps access (`purchase.refundedAmountCents` is the "
                 "running total). REFUNDED: the whole amount was refunded, the grant revoked or a dispute lost; "
                 "access ended.")
class PurchaseEventType(enum.StrEnum):
    COMPLETED = "COMPLETED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


describe_values(PurchaseEventType, {
    "COMPLETED": "A purchase was paid, a free item claimed or access granted; the buyer now has access.",
    "PARTIALLY_REFUNDED": "Part of a purchase was refunded; the buyer keeps access. "
                          "`purchase.refundedAmountCents` is the running total.",
    "REFUNDED": "A purchase was fully refunded, a grant revoked or a dispute lost; the buyer's access ended.",
})


EVENT_TYPES = {service.COMPLETED_EVENT: PurchaseEventType.COMPLETED,
               refunds.PARTIALLY_REFUNDED_EVENT: PurchaseEventType.PARTIALLY_REFUNDED,
               service.REFUNDED_EVENT: PurchaseEventType.REFUNDED}


@strawberry.type(description="A purchase completed or was refunded, in part or in full.")
class PurchaseEvent:
    event_id: strawberry.ID = strawberry.field(description="Unique id of the event; redeliveries repeat it.")
    type: PurchaseEventType = strawberry.field(description="What happened: COMPLETED, PARTIALLY_REFUNDED or REFUNDED.")
    purchase: Purchase | None = strawberry.field(description="The purchase as it is now.")


@strawberry.type
class CommerceSubscriptions:
    @guarded_subscription(
        HasOrgPermission(Permission.PURCHASES_READ),
        description="Purchases completed and refunded (in part or in full) in an organization, live. "
        "`organizationId` must be the active organization. The subscription lasts only while the viewer keeps "
        "the permission there: a role or membership change ends it with an `error` (FORBIDDEN), and a session "
        "that ends (logout, password reset) closes the socket with 4401.",
    )
    async def purchase_events(
        self, info: strawberry.Info,
        organization_id: Annotated[strawberry.ID, strawberry.argument(
            description="Global id of the organization to watch; must be the connection's active organization "
            "(FORBIDDEN otherwise).")],
    ) -> AsyncGenerator[PurchaseEvent, None]:
        ctx: Context = info.context
        # Each event is delivered only while the subscriber still passes the guard (subscription_guard.py).
        async for kind, message in subscription_guard.organization_events(
                info, organization_id, EVENT_TYPES, "Subscribe to your active organization's purchases."):
            active = uuid.UUID(message["organizationId"])
            # Every subscriber of this process shares one load of the purchase per event (shielded: one
            # subscriber going away must not cancel the others' load).
            row = await asyncio.shield(_purchase_of_event(ctx.services.db, active, message))
            yield PurchaseEvent(event_id=strawberry.ID(message["id"]), type=kind,
                                purchase=Purchase.from_model(row) if row else None)
            await ctx.next_event()


# Per database (one per process), the purchase loads of the latest events: all the subscribers of an
# organization receive an event at the same moment, and one query serves them all.
RECENT_EVENTS = 256
_loads: weakref.WeakKeyDictionary[Database, OrderedDict[str, asyncio.Future[PurchaseModel | None]]] = \
    weakref.WeakKeyDictionary()


def _purchase_of_event(db: Database, organization_id: uuid.UUID,
                       message: dict[str, Any]) -> asyncio.Future[PurchaseModel | None]:
    loads = _loads.setdefault(db, OrderedDict())
    load = loads.get(message["id"])
    if load is None:
        purchase_id = uuid.UUID(message["payload"]["purchaseId"])
        load = loads[message["id"]] = asyncio.ensure_future(_load_purchase(db, organization_id, purchase_id))
        load.add_done_callback(lambda done: done.cancelled() or done.exception())  # each awaiter sees it raised
        while len(loads) > RECENT_EVENTS:
            loads.popitem(last=False)
    return load


async def _load_purchase(db: Database, organization_id: uuid.UUID, purchase_id: uuid.UUID) -> PurchaseModel | None:
    """The purchase as the organization's staff see it: the subscription is for those with PURCHASES_READ
    in this, their active, organization; the row is read-only from here on."""
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        return await repository.purchase_by_id(session, purchase_id)
