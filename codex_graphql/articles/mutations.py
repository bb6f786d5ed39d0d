"""createArticle and createArticleImageUpload (an article's body is changed with ``updateContent(input:
{body})``)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from codex_graphql.articles import document, service
from codex_graphql.authz import Permission
from codex_graphql.categories import service as categories
from codex_graphql.content import service as content_service
from codex_graphql.content.mutations import MANAGE_RULE, ContentPayload
from codex_graphql.content.types import Content, Header, signed_headers
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id
from codex_graphql.revisions import service as revisions

BODY = ("The text: a ProseMirror JSON document (docs/api.md \"Articles\": paragraphs, headings, lists, quotes, code, "
        "links, images uploaded with createArticleImageUpload and one optional `paywall` marker), at most "
        f"{document.MAX_BYTES // 1024} KB. INVALID_INPUT on `body`, naming the node, for anything else.")


@strawberry.input(description="A new article of the active organization.")
class CreateArticleInput:
    title: str = strawberry.field(description="1 to 200 characters.")
    body: JSON = strawberry.field(description=BODY)
    description: str = strawberry.field(default="", description="Plain-text summary, up to 10,000 characters.")
    price_cents: int = strawberry.field(default=0, description="Price in cents; 0 means free.")
    tags: list[str] = strawberry.field(default_factory=list, description="Tags (normalized like content tags).")
    category_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Categories of the organization to put it in (NOT_FOUND otherwise).")


@strawberry.input(description="An image to upload for an article's body.")
class CreateArticleImageUploadInput:
    content_id: strawberry.ID = strawberry.field(description="The article.")
    content_type: str = strawberry.field(description="image/png, image/jpeg, image/webp or image/gif.")
    size_bytes: int = strawberry.field(description=f"The file's size, 1 byte to {service.MAX_IMAGE_BYTES // 2**20} MB.")


@strawberry.input(description="An uploaded article image to check and keep.")
class CompleteArticleImageUploadInput:
    content_id: strawberry.ID = strawberry.field(description="The article.")
    key: str = strawberry.field(description="The `key` createArticleImageUpload answered.")


@strawberry.type(description="Where to PUT an article image, and the key its `image` node names.")
class ArticleImageUpload:
    key: str = strawberry.field(description="After the PUT, pass it to completeArticleImageUpload; then put "
                                "`{\"type\": \"image\", \"attrs\": {\"key\": <this>, \"alt\": …}}` in the body.")
    url: str = strawberry.field(description="PUT the file here, with `headers`.")
    headers: list[Header] = strawberry.field(description="Headers to send with the PUT, every one of them.")
    expires_at: datetime | None = strawberry.field(description="When the URL stops working (15 minutes).")


@strawberry.type
class ArticleMutations:
    @mutation_field(
        HasOrgPermission(Permission.CONTENT_CREATE),
        description="Create an article (kind ARTICLE) in the active organization: READY at once (no file to process), "
        "published with publishContent and sold, granted or subscribed to like any item. INVALID_INPUT for a "
        "refused body, title, description, price or tags; NOT_FOUND for a category that is not the organization's.",
        input_description="Title and body, and optionally description, price, tags and categories.",
        payload=ContentPayload,
    )
    async def create_article(ctx: Context, input: CreateArticleInput) -> dict:
        assert ctx.viewer.active_organization_id is not None
        new = service.NewArticle(title=input.title, body=input.body, description=input.description,
                                 price_cents=input.price_cents, tags=input.tags)
        content = await service.create(ctx.db, ctx.viewer, ctx.viewer.active_organization_id, new)
        if input.category_ids:
            await categories.set_for_content(ctx.db, content, [decode_id(raw, "Category") for raw in input.category_ids])
        await revisions.record(ctx.db, ctx.viewer, content, None, await revisions.state_of(ctx.db, content))
        return {"content": Content.from_model(content)}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="A signed URL to upload one image for an article's body. INVALID_STATE for a media item; "
        "INVALID_INPUT for another type or size." + MANAGE_RULE,
        input_description="The article, and the image's type and size.",
        payload={"upload": (ArticleImageUpload, "Where to upload, and the key to use in the body.")},
    )
    async def create_article_image_upload(ctx: Context, input: CreateArticleImageUploadInput) -> dict:
        content = await content_service.managed(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"))
        signed, key = await service.image_upload(ctx.services.storage, content, input.content_type, input.size_bytes)
        return {"upload": ArticleImageUpload(key=key, url=signed.url, headers=signed_headers(signed),
                                             expires_at=signed.expires_at)}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Check an uploaded article image (its bytes must be the declared PNG, JPEG, WebP or GIF) and keep "
        "it at its key, which the body's `image` nodes can then name. Safe to repeat. NOT_FOUND for a key that is "
        "not an image upload of this article; INVALID_STATE when nothing was uploaded (or the upload expired); "
        "INVALID_INPUT for a file that is not the declared image type (it is deleted)." + MANAGE_RULE,
        input_description="The article and the image's key.",
        payload={"key": (str, "The image's key, now usable in the body.")},
    )
    async def complete_article_image_upload(ctx: Context, input: CompleteArticleImageUploadInput) -> dict:
        content = await content_service.managed(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"))
        async with ctx.outside_transaction():  # storage calls: no transaction open around them
            key = await service.complete_image(ctx.services.storage, content, input.key)
        return {"key": key}
