from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import access, filters, loaders, repository
from codex_graphql.content.models import Content as ContentRow
from codex_graphql.content.models import ContentKind, ContentStatus
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.payloads import invalid_id
from codex_graphql.relay import Connection, build_connection, check_first, decode_id, register_node


@strawberry.input(description="Narrow a content list.")
class ContentFilter:
    kind: ContentKind | None = strawberry.field(default=None, description="Only this kind.")
    tag: str | None = strawberry.field(default=None, description="Only items with this tag (normalized like tags).")
    search: str | None = strawberry.field(default=None, description="Words in the title or description.")
    status: ContentStatus | None = strawberry.field(
        default=None, description="Staff only: only this status. Others always see PUBLISHED items."
    )
    category: strawberry.ID | None = strawberry.field(
        default=None, description="Only items in this category (a `Category` id); another organization's "
                                  "category matches no item.")


async def organization_contents(info: strawberry.Info, organization_id: uuid.UUID, first: int | None,
                                after: str | None, filter: ContentFilter | None) -> Connection[Content]:
    """Published items for everyone; every status for staff with CONTENT_READ in the active organization."""
    ctx: Context = info.context
    staff = ctx.viewer.can(Permission.CONTENT_READ, organization_id)
    narrow = (filters.normalize(filter.kind, filter.tag, filter.search, filter.status, filter.category) if filter
              else filters.CatalogueFilter())
    values = {"kind": narrow.kind, "tag": narrow.tag, "search": narrow.search, "status": narrow.status,
              "category": narrow.category}
    page = await repository.catalogue_page(ctx.db, organization_id, staff=staff, first=check_first(first),
                                           after=after, **values)
    return build_connection(
        page, Content.from_model,
        lambda: repository.catalogue_count(ctx.db, organization_id, staff=staff, **values),
    )


async def readable_content(ctx: Context, content_id: uuid.UUID) -> ContentRow | None:
    """The item if ``access.may_read`` admits the viewer; the entitlement is loaded only when it decides."""
    row = await repository.readable_by_id(ctx.db, content_id)
    if row is None:
        return None
    deleted = row.deleted_at is not None
    if access.readable_without_entitlement(ctx.viewer, row.status, deleted, row.organization_id):
        return row
    entitled = ctx.viewer.is_authenticated and await loaders.entitlements(ctx).load(row.id)
    return row if access.may_read(ctx.viewer, row.status, deleted, row.organization_id, entitled) else None


async def named_item(ctx: Context, content_global_id: str, *, deleted_too: bool) -> tuple[ContentRow, bool]:
    """The item a mutation's ``contentId`` names and whether the viewer is entitled to it; NOT_FOUND on
    ``contentId`` when there is no such item for the viewer. ``deleted_too``: ``readable_content``
    (a buyer's deleted item counts), else only live items RLS shows."""
    content_id = decode_id(content_global_id, "Content")
    if content_id is None:
        raise invalid_id("contentId", "content")
    row = await (readable_content(ctx, content_id) if deleted_too else repository.by_id(ctx.db, content_id))
    if row is None:
        raise invalid_id("contentId", "content")
    return row, await loaders.entitlements(ctx).load(row.id)


async def visible_content(ctx: Context, content_id: uuid.UUID) -> Content | None:
    row = await readable_content(ctx, content_id)
    return Content.from_model(row) if row is not None else None


@strawberry.type
class ContentQueries:
    @strawberry.field(
        description="A content item by id: published items for everyone, any status for staff of its organization, "
        "and items the viewer bought or was granted even after they were unpublished or deleted."
    )
    async def content(
        self, info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(
            description="Global id of the content item (`Content.id`). A malformed, unknown or invisible id "
            "returns null.")],
    ) -> Content | None:
        content_id = decode_id(id, "Content")
        return await visible_content(info.context, content_id) if content_id else None


register_node("Content")(visible_content)
