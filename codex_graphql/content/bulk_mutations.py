"""bulkUpdateContent (content/bulk.py)."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import bulk
from codex_graphql.content.mutations import MANAGE_RULE
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.errors import UserError
from codex_graphql.payloads import errors_field, mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id


@strawberry.input(description="What to set on every listed item; omitted fields stay as they are on each.")
class BulkContentChanges:
    tags: list[str] | None = strawberry.field(default=None, description="Replaces each item's tags.")
    category_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces each item's categories (an empty list takes them out of all).")
    price_cents: int | None = strawberry.field(default=None, description="Each item's new price in minor units; 0 "
                                               "means free. Past purchases keep what they were bought at.")
    listed: bool | None = strawberry.field(default=None, description="Whether the items appear in the public list.")


@strawberry.input(description="Up to 500 items and one change for all of them.")
class BulkUpdateContentInput:
    content_ids: list[strawberry.ID] = strawberry.field(
        description=f"The items, 1 to {bulk.MAX_ITEMS} (a repeated id counts once).")
    set: BulkContentChanges | None = strawberry.field(default=None, description="Fields to set on each item.")
    publish: bool = strawberry.field(default=False, description="Also publish each item (READY ones only).")
    unpublish: bool = strawberry.field(default=False, description="Also take each item out of the catalogue "
                                       "(PUBLISHED ones only). Not with `publish`.")


@strawberry.type(description="What bulkUpdateContent did to one item.")
class BulkContentResult:
    content_id: strawberry.ID = strawberry.field(description="The id as given.")
    content: Content | None = strawberry.field(description="The item after the change; null when refused.")
    errors: list[UserError] = errors_field()


@strawberry.type
class BulkContentMutations:
    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description=f"Apply one change to up to {bulk.MAX_ITEMS} items of the active organization: set tags, "
        "categories, price or listing, and/or publish or unpublish them. The list is checked first (an empty or too "
        "long list, `publish` with `unpublish`, or no change at all: `errors`, nothing changed, `results` null); "
        "then each distinct item on its own, exactly as updateContent and publishContent / unpublishContent do "
        "(one revision each): one `results` entry per distinct id, in order, with the item or its errors "
        "(NOT_FOUND, NOT_ALLOWED, INVALID_STATE, INVALID_INPUT; `field` `[\"input\", \"contentIds\", "
        "\"<position>\"]`); a refused item changes nothing and the others are changed all the same. One audit entry "
        "(CONTENT_BULK_UPDATED) lists the change and the items changed." + MANAGE_RULE,
        input_description="The items and the change.",
        payload={"results": (list[BulkContentResult], "One entry per distinct id, in order."),
                 "updated_count": (int, "How many items were changed.")},
    )
    async def bulk_update_content(ctx: Context, input: BulkUpdateContentInput) -> dict:
        first: dict[str, int] = {}
        for index, raw in enumerate(input.content_ids):
            first.setdefault(str(raw), index)
        items = [(index, raw, decode_id(raw, "Content")) for raw, index in first.items()]
        changes = input.set or BulkContentChanges()
        change = bulk.BulkChange(
            tags=changes.tags, price_cents=changes.price_cents, listed=changes.listed, publish=input.publish,
            unpublish=input.unpublish,
            category_ids=[decode_id(raw, "Category") for raw in changes.category_ids]
            if changes.category_ids is not None else None)
        results = await bulk.update_many(ctx.db, ctx.viewer, items, change)
        return {"results": [BulkContentResult(
            content_id=strawberry.ID(r.raw_id), errors=r.errors,
            content=Content.from_model(r.content) if r.content is not None else None) for r in results],
            "updated_count": sum(r.content is not None for r in results)}
