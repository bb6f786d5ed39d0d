"""requestDownload: a fresh signed download link to the original file or a rendition's MP4, counted against the
limit of the viewer's access."""

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
    rendition: str | None = strawberry.field(
        default=None, description="The name of one of the item's renditions with `downloadable: true` (e.g. "
        "`720p`, `audio`, as `Content.renditions { name }` lists them) to download its MP4 instead of the original "
        "file; null or left out: the original file. Any other name is INVALID_INPUT (field `rendition`), nothing "
        "counted.")


@strawberry.type
class DownloadMutations:
    @mutation_field(
        IsAuthenticated(),
        description="Issue a fresh signed download link (valid a few minutes) to an item's original file, or to the "
        "MP4 of one of its renditions (`rendition`). Entitled "
        "viewers (a purchase, grant or free claim, or a subscription covering the item) use one download of "
        "their access's limit per call (DOWNLOAD_LIMIT_REACHED when used up, nothing "
        "counted); staff are not counted. NOT_ALLOWED when the item does not allow downloads or the viewer has "
        "no access; INVALID_INPUT (field `rendition`) for a rendition without a download file. A rendition's "
        "download counts like one of the original (same counter, same limit).",
        input_description="The content item whose original file (or rendition) to download. Entitled viewers use one download of "
        "their access's limit; staff are not counted.",
        payload={"download": (Download, "The signed link and the allowance left."), "content": (Content, "The item.")},
    )
    async def request_download(ctx: Context, input: RequestDownloadInput) -> dict:
        content, entitled = await queries.named_item(ctx, input.content_id, deleted_too=False)
        issued = await downloads.issue(ctx.db, ctx.services.storage, ctx.viewer, content, entitled, reuse_window=False,
                                       rendition=input.rendition)
        return {"download": Download.of(issued), "content": Content.from_model(content)}


__all__ = ["DownloadMutations"]
