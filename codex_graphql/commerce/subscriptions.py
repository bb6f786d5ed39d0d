from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator

import orjson
import strawberry

from codex_graphql.authz import Permission
from codex_graphql.commerce import repository, service
from codex_graphql.commerce.types import Purchase
from codex_graphql.context import Context
from codex_graphql.errors import Forbidden
from codex_graphql.events import event_channel
from codex_graphql.permissions import HasOrgPermission, guarded_subscription
from codex_graphql.relay import decode_id


@strawberry.enum(description="What happened to a purchase.")
class PurchaseEventType(enum.StrEnum):
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"


EVENT_TYPES = {service.COMPLETED_EVENT: PurchaseEventType.COMPLETED, service.REFUNDED_EVENT: PurchaseEventType.REFUNDED}


@strawberry.type(description="A purchase completed or was refunded.")
class PurchaseEvent:
    event_id: strawberry.ID = strawberry.field(description="Unique id of the event; redeliveries repeat it.")
    type: PurchaseEventType = strawberry.field(description="COMPLETED or REFUNDED.")
    purchase: Purchase | None = strawberry.field(description="The purchase as it is now.")


@strawberry.type
class CommerceSubscriptions:
    @guarded_subscription(
        HasOrgPermission(Permission.PURCHASES_READ),
        description="Purchases completed and refunded in an organization, live. `organizationId` must be the active organization.",
    )
    async def purchase_events(self, info: strawberry.Info, organization_id: strawberry.ID) -> AsyncGenerator[PurchaseEvent, None]:
        ctx: Context = info.context
        active = ctx.viewer.active_organization_id
        if decode_id(organization_id, "Organization") != active or active is None:
            raise Forbidden("Subscribe to your active organization's purchases.")
        async for raw in ctx.services.pubsub.subscribe(event_channel(active)):
            message = orjson.loads(raw)
            kind = EVENT_TYPES.get(message.get("type"))
            if kind is None or message.get("organizationId") != str(active):
                continue
            row = await repository.purchase_by_id(ctx.db, uuid.UUID(message["payload"]["purchaseId"]))
            yield PurchaseEvent(event_id=strawberry.ID(message["id"]), type=kind,
                                purchase=Purchase.from_model(row) if row else None)
            await ctx.next_event()
