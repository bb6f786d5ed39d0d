"""scheduleContentPublish, cancelScheduledPublish and scheduleContentPublishBulk (rules in
``content.scheduling``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import scheduling
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.errors import UserError
from codex_graphql.payloads import errors_field, mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id

WHO = (" Creators schedule their own items; CONTENT_MANAGE_ALL schedules every item of the active organization. "
       "NOT_FOUND for an id that is not an item of the active organization.")
WHEN = (f"An instant with its UTC offset, after now and at most {scheduling.MAX_AHEAD.days} days ahead, kept to the "
        "second (INVALID_INPUT otherwise).")


@strawberry.input(description="A READY item and when to publish it.")
class ScheduleContentPublishInput:
    content_id: strawberry.ID = strawberry.field(description="The content item (status READY).")
    publish_at: datetime = strawberry.field(description=f"When to publish it. {WHEN}")


@strawberry.input(description="The item whose scheduled publication to cancel.")
class CancelScheduledPublishInput:
    content_id: strawberry.ID = strawberry.field(description="The content item.")


@strawberry.input(description="Several READY items to publish at one time.")
class ScheduleContentPublishBulkInput:
    content_ids: list[strawberry.ID] = strawberry.field(
        description=f"1 to {scheduling.MAX_BULK} content items (a repeated id counts once); more is INVALID_INPUT "
        "and nothing is scheduled.")
    publish_at: datetime = strawberry.field(description=f"When to publish them. {WHEN}")


@strawberry.type(description="What became of one item of scheduleContentPublishBulk.")
class ContentScheduleResult:
    content_id: strawberry.ID = strawberry.field(description="The id as given in `contentIds`.")
    content: Content | None = strawberry.field(description="The item, when it was scheduled; null otherwise.")
    errors: list[UserError] = errors_field()


@strawberry.type
class SchedulingMutations:
    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Schedule a READY item's publication: the periodic publishing job publishes it at `publishAt` "
        "(on its first pass after it; every minute by default) exactly as `publishContent` would, once. Scheduling "
        "again replaces the time. Until then the item stays READY, out of every public list. INVALID_STATE for an "
        "item that is not READY. Audited (CONTENT_PUBLISH_SCHEDULED)." + WHO,
        input_description="The READY content item and when to publish it (an instant with its offset).",
        payload={"content": (Content, "The item, with its new `scheduledPublishAt`.")},
    )
    async def schedule_content_publish(ctx: Context, input: ScheduleContentPublishInput) -> dict:
        content = await scheduling.schedule(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"),
                                            input.publish_at)
        return {"content": Content.from_model(content)}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Cancel an item's scheduled publication; it stays as it is. An item without one is left "
        "unchanged (no error). Audited (CONTENT_PUBLISH_UNSCHEDULED) when a schedule was cancelled." + WHO,
        input_description="The content item whose scheduled publication to cancel.",
        payload={"content": (Content, "The item, `scheduledPublishAt` null.")},
    )
    async def cancel_scheduled_publish(ctx: Context, input: CancelScheduledPublishInput) -> dict:
        content = await scheduling.cancel(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"))
        return {"content": Content.from_model(content)}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description=f"Schedule up to {scheduling.MAX_BULK} READY items to be published at one time, as "
        "`scheduleContentPublish` does for each. The list and the time are checked first (a refusal there schedules "
        "nothing: `errors`, `results` null); then each item on its own: one `results` entry per distinct id, in "
        "order, either the scheduled item or its errors (NOT_FOUND, NOT_ALLOWED, INVALID_STATE; `field` "
        "`[\"input\", \"contentIds\", \"<position>\"]`, the id's first position in the list), the others "
        "scheduled all the same. One audit entry (CONTENT_PUBLISH_SCHEDULED) lists the items scheduled." + WHO,
        input_description="The content items and when to publish them.",
        payload={
            "results": (list[ContentScheduleResult], "One entry per distinct id of `contentIds`, in order."),
            "scheduled_count": (int, "How many items were scheduled."),
        },
    )
    async def schedule_content_publish_bulk(ctx: Context, input: ScheduleContentPublishBulkInput) -> dict:
        first: dict[str, int] = {}  # each distinct id at its first position
        for index, raw in enumerate(input.content_ids):
            first.setdefault(str(raw), index)
        items = [(index, raw, decode_id(raw, "Content")) for raw, index in first.items()]
        outcomes = await scheduling.schedule_many(ctx.db, ctx.viewer, items, input.publish_at)
        results = [ContentScheduleResult(
            content_id=strawberry.ID(outcome.raw_id), errors=outcome.errors,
            content=Content.from_model(outcome.content) if outcome.content is not None else None,
        ) for outcome in outcomes]
        return {"results": results, "scheduled_count": sum(outcome.content is not None for outcome in outcomes)}


__all__ = ["SchedulingMutations"]
