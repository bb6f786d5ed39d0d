"""requestDownload: a fresh signed download link, counted against the limit of the viewer's access."""

from __future__ import annotations

import strawberry

from codex_graphql.content import downloads, queries
from codex_graphql.content.types import Content, Download
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import IsAuthenticated


@strawberry.input(description="The item to download.")
class RequestDownloadInput:
    content_id: strawberry.ID = strawberry.field(description="The content item; it must allow downloads.")


@strawberry.type
class DownloadMutations:
    @mutation_field(
        IsAuthenticated(),
        description="Issue a fresh signed download link (valid a few minutes) to an item's original file. Entitled "
        "viewers (a purchase, grant or free claim, or a subscription covering the item) use one download of "
        "their access's limit per call (DOWNLOAD_LIMIT_REACHED when used up, nothing "
        "counted); staff are not counted. NOT_ALLOWED when the item does not allow downloads or the viewer has "
        "no access.",
        input_description="The content item whose original file to download. Entitled viewers use one download of "
        "their access's limit; staff are not counted.",
        payload={"download": (Download, "The signed link and the allowance left."), "content": (Content, "The item.")},
    )
    async def request_download(ctx: Context, input: RequestDownloadInput) -> dict:
        content, entitled = await queries.named_item(ctx, input.content_id, deleted_too=False)
        issued = await downloads.issue(ctx.db, ctx.services.storage, ctx.viewer, content, entitled, reuse_window=False)
        return {"download": Download.of(issued), "content": Content.from_model(content)}


__all__ = ["DownloadMutations"]
