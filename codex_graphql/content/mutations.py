from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from codex_graphql.articles import service as articles
from codex_graphql.authz import Permission
from codex_graphql.categories import rules as category_rules
from codex_graphql.categories import service as categories
from codex_graphql.content import queries, service
from codex_graphql.content.models import ContentKind
from codex_graphql.content.types import Content, Upload, upload_from
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.payloads import errors_field, run_mutation
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded_mutation
from codex_graphql.relay import decode_id
from codex_graphql.revisions import service as revisions
from codex_graphql.storage import CompletedPart


@strawberry.input(description="A new content item and the file about to be uploaded for it.")
class CreateContentInput:
    kind: ContentKind = strawberry.field(description="VIDEO (MP4, MOV; up to 5 GB) or AUDIO (MP3, WAV, AAC, M4A; up to 500 MB).")
    title: str = strawberry.field(description="1 to 200 characters.")
    filename: str = strawberry.field(description="Original file name, with extension.")
    mime_type: str = strawberry.field(description="Declared MIME type, e.g. video/mp4.")
    size_bytes: float = strawberry.field(description="Exact file size in bytes (a Float because files may pass 2^31).")
    description: str = strawberry.field(default="", description="Up to 10,000 characters.")
    price_cents: int = strawberry.field(default=0, description="Price in cents (USD); 0 means free.")
    tags: list[str] = strawberry.field(default_factory=list, description="Up to 20 tags; normalized.")


@strawberry.input(description="An uploaded part of a multipart upload.")
class UploadedPartInput:
    part_number: int = strawberry.field(description="1-based part number.")
    etag: str = strawberry.field(description="The ETag header returned when the part was uploaded.")


@strawberry.input(description="Tell the server the file has been uploaded.")
class CompleteContentUploadInput:
    content_id: strawberry.ID = strawberry.field(description="The content item.")
    parts: list[UploadedPartInput] = strawberry.field(default_factory=list, description="Multipart uploads only: every part.")


@strawberry.input(description="Changes to a content item; omitted fields stay as they are.")
class UpdateContentInput:
    content_id: strawberry.ID = strawberry.field(description="The content item.")
    title: str | None = strawberry.field(default=None, description="1 to 200 characters.")
    description: str | None = strawberry.field(default=None, description="Up to 10,000 characters.")
    price_cents: int | None = strawberry.field(default=None, description="Price in cents; 0 means free.")
    tags: list[str] | None = strawberry.field(default=None, description="Replaces all tags.")
    listed: bool | None = strawberry.field(default=None, description="Whether the item appears in the public catalogue list.")
    allow_downloads: bool | None = strawberry.field(default=None, description="Whether buyers may download the file.")
    reviews_enabled: bool | None = strawberry.field(default=None, description="Whether the item accepts reviews.")
    category_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces the item's categories (an empty list takes it out of all of them), at "
        f"most {category_rules.MAX_CATEGORIES_PER_ITEM}. Every id must be a category of the item's organization: "
        "otherwise NOT_FOUND on `categoryIds` and nothing is changed.")
    body: JSON | None = strawberry.field(
        default=None, description="Articles only: replaces the text (a ProseMirror JSON document, as for "
        "createArticle). INVALID_STATE on `body` for a media item; INVALID_INPUT, naming the node, for a refused "
        "document.")


@strawberry.input(description="A content item to act on.")
class ContentIdInput:
    content_id: strawberry.ID = strawberry.field(description="The content item.")


@strawberry.input(description="Where the viewer stopped.")
class SavePlaybackPositionInput:
    content_id: strawberry.ID = strawberry.field(description="The content item.")
    position_seconds: float = strawberry.field(description="Seconds from the start; clamped to the duration.")


@strawberry.type(description="Result of createContent: the item and where to upload its file.")
class CreateContentPayload:
    errors: list[UserError] = errors_field()
    content: Content | None = strawberry.field(default=None, description="The new item, status UPLOADING.")
    upload: Upload | None = strawberry.field(default=None, description="Where and how to upload the file (one "
                                             "upload per URL, within 24 hours).")


@strawberry.type(description="Result of a change to a content item.")
class ContentPayload:
    errors: list[UserError] = errors_field()
    content: Content | None = strawberry.field(default=None, description="The item after the change.")


@strawberry.type(description="Result of savePlaybackPosition.")
class SavePlaybackPositionPayload:
    errors: list[UserError] = errors_field()
    position_seconds: float | None = strawberry.field(default=None, description="The stored position, in seconds from the start.")
    content: Content | None = strawberry.field(default=None, description="The item.")


def _content_id(raw: strawberry.ID):  # type: ignore[no-untyped-def]
    return decode_id(raw, "Content")


MANAGE_RULE = " Creators manage their own items; CONTENT_MANAGE_ALL manages every item."


@strawberry.type
class ContentMutations:
    @guarded_mutation(HasOrgPermission(Permission.CONTENT_CREATE),
                      description="Create a content item in the active organization and get upload instructions.")
    async def create_content(
        self, info: strawberry.Info,
        input: Annotated[CreateContentInput, strawberry.argument(description=(
            "Kind, title, the file's name, MIME type and size in bytes, and optionally the "
            "description, price in minor units (default 0: free) and tags. The payload says where"
            " to upload the file."
        ))],
    ) -> CreateContentPayload:
        ctx: Context = info.context

        async def action() -> dict:
            size = input.size_bytes
            if size != int(size):
                raise DomainError(ErrorCode.INVALID_INPUT, "The size must be a whole number of bytes.", "sizeBytes")
            new = service.NewContent(
                kind=input.kind, title=input.title, filename=input.filename, mime_type=input.mime_type,
                size_bytes=int(size), description=input.description, price_cents=input.price_cents, tags=input.tags,
            )
            assert ctx.viewer.active_organization_id is not None
            content = await service.new_content(ctx.db, ctx.viewer, ctx.viewer.active_organization_id, new)
            if service.needs_multipart(content):  # a storage call (create_multipart): no transaction open around it
                async with ctx.outside_transaction():
                    plan = await service.plan_upload(ctx.services.storage, content)
            else:
                plan = await service.plan_upload(ctx.services.storage, content)  # signing only, no network
            await service.add_content(ctx.db, content)
            await revisions.record(ctx.db, ctx.viewer, content, None, await revisions.state_of(ctx.db, content))
            return {"content": Content.from_model(content), "upload": upload_from(plan)}

        return await run_mutation(info, CreateContentPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CONTENT_MANAGE),
                      description="Confirm the upload: the uploaded file is checked (it exists and has the declared "
                      "size), copied to its final location, which no upload URL can write, and processing starts. "
                      "The upload URLs are spent once used." + MANAGE_RULE)
    async def complete_content_upload(
        self, info: strawberry.Info,
        input: Annotated[CompleteContentUploadInput, strawberry.argument(description=(
            "The content item whose file upload has finished; processing starts."
        ))],
    ) -> ContentPayload:
        ctx: Context = info.context

        async def action() -> dict:
            parts = [CompletedPart(part_number=p.part_number, etag=p.etag) for p in input.parts]
            async with ctx.outside_transaction():  # its own short transactions around the storage calls
                content_id = await service.complete_upload(ctx.services.db, ctx.services.storage, ctx.viewer,
                                                           _content_id(input.content_id), parts)
            ctx.services.relay.notify()  # the processing job was written to the outbox by its own transaction
            return {"content": Content.from_model(await service.managed(ctx.db, ctx.viewer, content_id))}

        return await run_mutation(info, ContentPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CONTENT_MANAGE), description="Edit title, description, price, tags, categories, listing, downloads, reviews or an article's body." + MANAGE_RULE)
    async def update_content(
        self, info: strawberry.Info,
        input: Annotated[UpdateContentInput, strawberry.argument(description=(
            "The content item and the fields to change; omitted fields keep their value."
        ))],
    ) -> ContentPayload:
        ctx: Context = info.context

        async def action() -> dict:
            content = await service.managed(ctx.db, ctx.viewer, _content_id(input.content_id))
            before = await revisions.state_of(ctx.db, content)
            changes = service.ContentChanges(title=input.title, description=input.description,
                                             price_cents=input.price_cents, tags=input.tags,
                                             listed=input.listed, allow_downloads=input.allow_downloads,
                                             reviews_enabled=input.reviews_enabled)
            if input.category_ids is not None:  # a refusal rolls back the whole mutation (its savepoint)
                await categories.set_for_content(ctx.db, content,
                                                 [decode_id(raw, "Category") for raw in input.category_ids])
            if input.body is not None:
                await articles.set_body(ctx.db, content, input.body)
            edited = await service.edit(ctx.db, content, changes)
            await revisions.record(ctx.db, ctx.viewer, edited, before, await revisions.state_of(ctx.db, edited))
            return {"content": Content.from_model(edited)}

        return await run_mutation(info, ContentPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CONTENT_MANAGE), description="Publish a READY item to the catalogue." + MANAGE_RULE)
    async def publish_content(
        self, info: strawberry.Info,
        input: Annotated[ContentIdInput, strawberry.argument(description=(
            "The READY content item to put in the catalogue."
        ))],
    ) -> ContentPayload:
        ctx: Context = info.context

        async def action() -> dict:
            content = await service.managed(ctx.db, ctx.viewer, _content_id(input.content_id))
            return {"content": Content.from_model(await service.publish(ctx.db, content))}

        return await run_mutation(info, ContentPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CONTENT_MANAGE), description="Take a published item off the catalogue (back to READY)." + MANAGE_RULE)
    async def unpublish_content(
        self, info: strawberry.Info,
        input: Annotated[ContentIdInput, strawberry.argument(description=(
            "The PUBLISHED content item to take off the catalogue (it goes back to READY)."
        ))],
    ) -> ContentPayload:
        ctx: Context = info.context

        async def action() -> dict:
            content = await service.managed(ctx.db, ctx.viewer, _content_id(input.content_id))
            return {"content": Content.from_model(await service.unpublish(ctx.db, content))}

        return await run_mutation(info, ContentPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.CONTENT_MANAGE), description="Delete an item (soft delete; purchase history keeps it)." + MANAGE_RULE)
    async def delete_content(
        self, info: strawberry.Info,
        input: Annotated[ContentIdInput, strawberry.argument(description=(
            "The content item to delete."
        ))],
    ) -> ContentPayload:
        ctx: Context = info.context

        async def action() -> dict:
            content = await service.managed(ctx.db, ctx.viewer, _content_id(input.content_id))
            return {"content": Content.from_model(await service.soft_delete(ctx.db, content))}

        return await run_mutation(info, ContentPayload, action)

    @guarded_mutation(IsAuthenticated(), description="Remember where the viewer stopped (viewers with access only).")
    async def save_playback_position(
        self, info: strawberry.Info,
        input: Annotated[SavePlaybackPositionInput, strawberry.argument(description=(
            "The content item and the position reached, in seconds from the start."
        ))],
    ) -> SavePlaybackPositionPayload:
        ctx: Context = info.context

        async def action() -> dict:
            content, entitled = await queries.named_item(ctx, input.content_id, deleted_too=True)
            position = await service.save_position(ctx.db, ctx.viewer, content, entitled, input.position_seconds)
            return {"position_seconds": position, "content": Content.from_model(content)}

        return await run_mutation(info, SavePlaybackPositionPayload, action)
