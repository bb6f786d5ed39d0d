from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime

import orjson
import strawberry

from codex_graphql import subscription_guard
from codex_graphql.authz import Permission
from codex_graphql.content import repository
from codex_graphql.content.models import ContentStatus
from codex_graphql.content.service import STATUS_EVENT
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.events import event_channel
from codex_graphql.permissions import HasOrgPermission, guarded_subscription
from codex_graphql.relay import to_global_id


@strawberry.type(description="A content item changed status (uploaded, processed, failed, published, unpublished).")
class ContentStatusEvent:
    event_id: strawberry.ID = strawberry.field(description="Unique id of the event; deliveries may repeat it.")
    content_id: strawberry.ID = strawberry.field(description="Global id of the content item.")
    status: ContentStatus = strawberry.field(description="The new status.")
    failure_reason: str | None = strawberry.field(description="Why processing failed, for FAILED.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    content_uuid: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The content item as it is now (null if deleted meanwhile).")
    async def content(self, info: strawberry.Info) -> Content | None:
        row = await repository.by_id(info.context.db, self.content_uuid)
        return Content.from_model(row) if row else None


@strawberry.type
class ContentSubscriptions:
    @guarded_subscription(
        HasOrgPermission(Permission.CONTENT_READ),
        description="Status changes of the active organization's content, as they commit. Lasts only while the "
        "viewer keeps the permission in that organization (then an `error`, FORBIDDEN; a session that ends closes "
        "the socket with 4401).",
    )
    async def content_status_changed(self, info: strawberry.Info) -> AsyncGenerator[ContentStatusEvent, None]:
        ctx: Context = info.context
        organization_id = ctx.viewer.active_organization_id
        source = ctx.services.pubsub.subscribe(event_channel(organization_id))
        async for raw in subscription_guard.events(info, source):  # re-checks the guard (subscription_guard.py)
            message = orjson.loads(raw)
            if message.get("type") != STATUS_EVENT or message.get("organizationId") != str(organization_id):
                continue
            payload = message["payload"]
            content_uuid = uuid.UUID(payload["contentId"])
            yield ContentStatusEvent(
                event_id=strawberry.ID(message["id"]),
                content_id=to_global_id("Content", content_uuid),
                status=ContentStatus(payload["status"]),
                failure_reason=payload.get("failureReason"),
                occurred_at=datetime.fromisoformat(message["createdAt"]),
                content_uuid=content_uuid,
            )
            await ctx.next_event()
