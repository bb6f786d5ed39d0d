"""createContentPreviewLink and revokeContentPreviewLink: staff with CONTENT_MANAGE, on items they may manage
(their own; every item with CONTENT_MANAGE_ALL), audited."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.previews import service
from codex_graphql.previews.types import ContentPreviewLink
from codex_graphql.relay import decode_id


@strawberry.input(description="A new preview link of a content item.")
class CreateContentPreviewLinkInput:
    content_id: strawberry.ID = strawberry.field(description="The content item (any status but deleted), in the "
                                                 "active organization.")
    expires_in_hours: int = strawberry.field(
        default=service.DEFAULT_HOURS, description=f"How long the link works, {service.MIN_HOURS} to "
        f"{service.MAX_HOURS} hours (default {service.DEFAULT_HOURS}); INVALID_INPUT otherwise.")


@strawberry.input(description="The preview link to revoke.")
class RevokeContentPreviewLinkInput:
    preview_link_id: strawberry.ID = strawberry.field(description="The link (`ContentPreviewLink.id`).")


MANAGE_RULE = " Creators act on their own items (NOT_ALLOWED otherwise); CONTENT_MANAGE_ALL on every item."


@strawberry.type
class PreviewMutations:
    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Make a link that shows the item, drafts included, and plays its media to whoever holds it, "
        "without an account, until it expires or is revoked; it counts no views and gives no access to the item "
        f"itself. The token is in this answer only (only its hash is kept). At most {service.MAX_LIVE_LINKS} "
        "working links per item (NOT_ALLOWED beyond). NOT_FOUND for an item that is not the active "
        "organization's or was deleted." + MANAGE_RULE,
        input_description="The item and how many hours the link works.",
        payload={"preview_link": (ContentPreviewLink, "The new link, with its `url` (shown this once)."),
                 "token": (str, "The link's token, the last part of `url` (what `contentPreview(token:)` takes); "
                           "shown this once.")},
    )
    async def create_content_preview_link(ctx: Context, input: CreateContentPreviewLinkInput) -> dict:
        created = await service.create(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"),
                                       input.expires_in_hours)
        url = service.link_url(ctx.settings.public_base_url, created.token)
        return {"preview_link": ContentPreviewLink.from_model(created.link, url=url), "token": created.token}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Stop a preview link at once: its holder sees nothing any more (media URLs it already handed "
        "out lapse within the hour, never later than the link would have). Revoking a revoked link changes "
        "nothing. NOT_FOUND for a link that is not the active organization's, or whose item was deleted (it shows "
        "nothing already)." + MANAGE_RULE,
        input_description="The link to revoke.",
        payload={"preview_link": (ContentPreviewLink, "The link, revoked.")},
    )
    async def revoke_content_preview_link(ctx: Context, input: RevokeContentPreviewLinkInput) -> dict:
        link = await service.revoke(ctx.db, ctx.viewer, decode_id(input.preview_link_id, "ContentPreviewLink"))
        return {"preview_link": ContentPreviewLink.from_model(link)}


__all__ = ["PreviewMutations"]
