"""restoreContentRevision."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import service as content_service
from codex_graphql.content.mutations import MANAGE_RULE
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id
from codex_graphql.revisions import service
from codex_graphql.revisions.types import ContentRevision


@strawberry.input(description="The revision to put back.")
class RestoreContentRevisionInput:
    content_id: strawberry.ID = strawberry.field(description="The content item.")
    revision_id: strawberry.ID = strawberry.field(description="One of the item's revisions (`Content.revisions`).")


@strawberry.type
class RevisionMutations:
    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Put an earlier revision's title, description, price, tags, categories and (articles) body back, "
        "as a new change with its own revision. Categories deleted since are left out; past purchases keep what "
        "they were bought at. `revision` is null when the item already was in that state. NOT_FOUND on "
        "`revisionId` for a revision of another item." + MANAGE_RULE,
        input_description="The item and the revision.",
        payload={"content": (Content, "The item after the restore."),
                 "revision": (ContentRevision, "The new revision; null when nothing changed.")},
    )
    async def restore_content_revision(ctx: Context, input: RestoreContentRevisionInput) -> dict:
        content = await content_service.managed(ctx.db, ctx.viewer, decode_id(input.content_id, "Content"))
        revision = await service.restore(ctx.db, ctx.viewer, content, decode_id(input.revision_id, "ContentRevision"))
        return {"content": Content.from_model(content),
                "revision": ContentRevision.from_model(revision) if revision else None}
