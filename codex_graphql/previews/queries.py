"""Reading preview links: ``contentPreview(token:)`` for the link's holder, and ``Content.previewLinks`` for staff
(declared here and attached to ``Content`` by schema assembly, codex_graphql/contributions.py)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.context import Context
from codex_graphql.errors import Forbidden
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.previews import loaders, service
from codex_graphql.previews.types import ContentPreview, ContentPreviewLink


@strawberry.type
class PreviewQueries:
    @strawberry.field(description="What a preview link shows (`createContentPreviewLink`): the item, drafts included, "
                      "and its media to play, for anyone holding the link's token, signed in or not. Null for a "
                      "token that is wrong, expired or revoked, or whose item was deleted (the same null for each). "
                      "Counts no view and gives no access to the item itself.")
    async def content_preview(self, info: strawberry.Info, token: Annotated[str, strawberry.argument(
            description="The token of the link: the last part of its URL (`{PUBLIC_BASE_URL}/preview/{token}`). "
            "Anything that is not such a token returns null.")]) -> ContentPreview | None:
        ctx: Context = info.context
        found = await service.preview(ctx.db, token)
        return ContentPreview.of(found) if found else None


@strawberry.type(description="Preview links' fields of `Content` (never served as a type of its own).")
class ContentPreviewLinks:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @guarded(HasOrgPermission(Permission.CONTENT_MANAGE),
             description=f"The item's preview links, newest first (at most {loaders.LISTED}): the working ones, or "
             "every one with `includeInactive`. Never their tokens. Creators see the links of their own items; "
             "CONTENT_MANAGE_ALL those of every item (FORBIDDEN otherwise).")
    async def preview_links(
        self, info: strawberry.Info,
        include_inactive: Annotated[bool, strawberry.argument(
            description="Also list expired and revoked links (default: only the working ones).")] = False,
    ) -> list[ContentPreviewLink] | None:
        ctx: Context = info.context
        if not service.may_manage(ctx.viewer, self.row):
            raise Forbidden("You can only see the preview links of content you created.")
        rows = await loaders.links(ctx).load((self.row.id, include_inactive))
        return [ContentPreviewLink.from_model(row) for row in rows]
