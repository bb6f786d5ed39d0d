"""``subscriptionEvents``: customers' subscriptions starting, renewing, falling past due and ending, live, for the
integrators who follow ``purchaseEvents``: the same permission (PURCHASES_READ), the same organization rule,
the same outbox and Redis channel (``lifecycle`` writes the events)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql import subscription_guard
from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.enum_docs import describe_values
from codex_graphql.permissions import HasOrgPermission, guarded_subscription
from codex_graphql.relay import to_global_id
from codex_graphql.subscriptions import billing_repository, lifecycle
from codex_graphql.subscriptions.customer_types import TierSubscription


@strawberry.enum(description="What happened to a customer's subscription to a tier.")
class SubscriptionEventType(enum.StrEnum):
    STARTED = "STARTED"
    RENEWED = "RENEWED"
    PAST_DUE = "PAST_DUE"
    CANCELED = "CANCELED"


describe_values(SubscriptionEventType, {
    "STARTED": "The subscription started (TRIALING or ACTIVE after its checkout): the customer has the tier.",
    "RENEWED": "A renewal invoice was paid: a new billing period started (a trial converting to paid included).",
    "PAST_DUE": "A payment failed: the subscription is PAST_DUE and keeps the tier for the organization's grace "
                "period while the payment is retried.",
    "CANCELED": "The subscription ended (canceled at once, at the end of its period, or after the last failed "
                "payment retry): the customer no longer has the tier.",
})

EVENT_TYPES = {lifecycle.STARTED_EVENT: SubscriptionEventType.STARTED,
               lifecycle.RENEWED_EVENT: SubscriptionEventType.RENEWED,
               lifecycle.PAST_DUE_EVENT: SubscriptionEventType.PAST_DUE,
               lifecycle.CANCELED_EVENT: SubscriptionEventType.CANCELED}


@strawberry.type(description="A customer's subscription to a tier started, renewed, fell past due or ended.")
class SubscriptionEvent:
    event_id: strawberry.ID = strawberry.field(description="Unique id of the event; redeliveries repeat it.")
    type: SubscriptionEventType = strawberry.field(description="What happened: STARTED, RENEWED, PAST_DUE or "
                                                   "CANCELED.")
    subscription_id: strawberry.ID = strawberry.field(description="Global id of the TierSubscription.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    organization_uuid: strawberry.Private[uuid.UUID]
    subscription_uuid: strawberry.Private[uuid.UUID]
    user_uuid: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The subscription as it is now (its status may have moved on since the event).")
    async def subscription(self, info: strawberry.Info) -> TierSubscription | None:
        ctx: Context = info.context
        row = await billing_repository.in_organization_by_id(ctx.db, self.organization_uuid, self.subscription_uuid)
        return TierSubscription.from_model(row) if row else None

    @strawberry.field(description="The subscriber's email address.")
    async def customer_email(self, info: strawberry.Info) -> str | None:
        user = await account_loaders.users(info.context).load(self.user_uuid)
        return user.email if user else None


@strawberry.type
class SubscriptionsLive:
    @guarded_subscription(
        HasOrgPermission(Permission.PURCHASES_READ),
        description="Customers' subscriptions to the organization's tiers starting, renewing, falling past due and "
        "ending, live (each change once, as it commits). `organizationId` must be the active organization. Like "
        "`purchaseEvents`, it lasts only while the viewer keeps the permission there: a role or membership change "
        "ends it with an `error` (FORBIDDEN), and a session that ends closes the socket with 4401.",
    )
    async def subscription_events(
        self, info: strawberry.Info,
        organization_id: Annotated[strawberry.ID, strawberry.argument(
            description="Global id of the organization to watch; must be the connection's active organization "
            "(FORBIDDEN otherwise).")],
    ) -> AsyncGenerator[SubscriptionEvent, None]:
        ctx: Context = info.context
        async for kind, message in subscription_guard.organization_events(
                info, organization_id, EVENT_TYPES, "Subscribe to your active organization's subscription events."):
            active = uuid.UUID(message["organizationId"])
            payload = message["payload"]
            subscription_uuid = uuid.UUID(payload["subscriptionId"])
            yield SubscriptionEvent(
                event_id=strawberry.ID(message["id"]), type=kind,
                subscription_id=strawberry.ID(to_global_id("TierSubscription", subscription_uuid)),
                occurred_at=datetime.fromisoformat(message["createdAt"]), organization_uuid=active,
                subscription_uuid=subscription_uuid, user_uuid=uuid.UUID(payload["userId"]))
            await ctx.next_event()
