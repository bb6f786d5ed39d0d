"""``contentProcessing(contentId)``: an item's processing progress as it commits (``media/progress.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import orjson
import strawberry
from graphql import GraphQLError

from codex_graphql import subscription_guard
from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.events import event_channel
from codex_graphql.media import repository
from codex_graphql.media.models import ProcessingStage
from codex_graphql.media.progress import PROGRESS_EVENT
from codex_graphql.permissions import HasOrgPermission, guarded_subscription
from codex_graphql.relay import decode_id, to_global_id

FINAL = (ProcessingStage.DONE, ProcessingStage.FAILED)
REREAD_SECONDS = 10.0  # without an event for this long, the row is read again


@strawberry.type(description="Where an item's processing job is: sent once when subscribing (the state as it "
                 "stands) and on every change (at most every two seconds while transcoding).")
class ContentProcessingEvent:
    content_id: strawberry.ID = strawberry.field(description="Global id of the content item.")
    stage: ProcessingStage = strawberry.field(description="The step the job is at, or how it ended.")
    percent: int = strawberry.field(description="How far the job is, 0 to 100.")
    message: str | None = strawberry.field(description="Why processing failed, for FAILED; null otherwise.")
    occurred_at: datetime = strawberry.field(description="When this state was committed.")


def _not_found() -> GraphQLError:
    return GraphQLError("No such content item in your active organization.", extensions={"code": "BAD_USER_INPUT"})


@strawberry.type
class MediaSubscriptions:
    @guarded_subscription(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="An item's processing progress (probing, each HLS rendition's transcoding, packaging): first "
        "its state as it stands, then every change as it commits; the stream ends after DONE or FAILED. The item "
        "must be in the active organization (else BAD_USER_INPUT). Lasts only while the viewer keeps the "
        "permission there.",
    )
    async def content_processing(self, info: strawberry.Info, content_id: Annotated[strawberry.ID, strawberry.argument(
            description="Global id of the content item.")]) -> AsyncGenerator[ContentProcessingEvent, None]:
        ctx: Context = info.context
        organization_id = ctx.viewer.active_organization_id
        item = decode_id(content_id, "Content")
        if item is None or organization_id is None:
            raise _not_found()
        global_id = to_global_id("Content", item)

        async def current() -> ContentProcessingEvent | None:
            async with ctx.services.db.transaction(ctx.viewer.scope) as session:
                row = await repository.get(session, organization_id, item)
                if row is None and not await repository.item_exists(session, organization_id, item):
                    raise _not_found()
            return None if row is None else ContentProcessingEvent(
                content_id=global_id, stage=row.stage, percent=row.percent, message=row.message,
                occurred_at=row.updated_at)

        source = ctx.services.pubsub.subscribe(event_channel(organization_id))
        stream = subscription_guard.events(info, source, {"content_id": content_id}).__aiter__()
        pending = asyncio.ensure_future(stream.__anext__())  # starts listening while the row is read
        try:
            last: tuple[ProcessingStage, int, str | None] | None = None
            state = await current()
            while True:
                if state is not None and (state.stage, state.percent, state.message) != last:
                    last = (state.stage, state.percent, state.message)
                    yield state
                    if state.stage in FINAL:
                        return
                # A change committed before this subscriber was listening is caught by reading the row again.
                done, _ = await asyncio.wait({pending}, timeout=REREAD_SECONDS)
                if not done:
                    state = await current()
                    continue
                try:
                    raw = pending.result()
                except StopAsyncIteration:
                    return
                pending = asyncio.ensure_future(stream.__anext__())
                state = _event_of(orjson.loads(raw), organization_id, item, global_id) or state
        finally:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            await stream.aclose()


def _event_of(message: dict[str, Any], organization_id: uuid.UUID, item: uuid.UUID,
              global_id: strawberry.ID) -> ContentProcessingEvent | None:
    if message.get("type") != PROGRESS_EVENT or message.get("organizationId") != str(organization_id):
        return None
    payload = message["payload"]
    if payload.get("contentId") != str(item):
        return None
    return ContentProcessingEvent(content_id=global_id, stage=ProcessingStage(payload["stage"]),
                                  percent=int(payload["percent"]), message=payload.get("message"),
                                  occurred_at=datetime.fromisoformat(message["createdAt"]))
