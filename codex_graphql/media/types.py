"""HLS fields of ``Content`` (``processing``, ``renditions``), declared here and attached by schema assembly
(codex_graphql/contributions.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.media import loaders
from codex_graphql.media.models import ProcessingStage
from codex_graphql.permissions import HasOrgPermission, guarded


@strawberry.type(description="Progress of an item's processing job (probe, thumbnails, HLS ladder).")
class ContentProcessing:
    stage: ProcessingStage = strawberry.field(description="The step the job is at, or how it ended.")
    percent: int = strawberry.field(
        description="How far the job is, 0 to 100: transcoding counts every rendition's encoded time against the "
        "item's duration; 100 once DONE. Updated at most every two seconds.")
    message: str | None = strawberry.field(description="Why processing failed, for FAILED; null otherwise.")
    updated_at: datetime = strawberry.field(description="When `stage` or `percent` last changed.")


@strawberry.type(description="One rendition of an item's HLS ladder: a stream of its own quality that players "
                 "switch between.")
class Rendition:
    name: str = strawberry.field(
        description="The rendition's name (`240p`, `720p`, ... by the short side of the picture, or `audio`): what "
        "`Content.download(rendition:)` and `requestDownload(input: {rendition})` take.")
    height: int | None = strawberry.field(
        description="Picture height in pixels as displayed (rotation applied); null for the audio rendition.")
    width: int | None = strawberry.field(
        description="Picture width in pixels as displayed; null for the audio rendition.")
    bandwidth: int = strawberry.field(
        description="Peak bitrate in bits per second, measured on the stored segments (the master playlist's "
        "BANDWIDTH).")
    downloadable: bool = strawberry.field(
        description="True when the item allows downloads and this rendition has a progressive MP4 (made after the "
        "ladder while HLS_RENDITION_DOWNLOADS is on): viewers who may download the item can then download it "
        "(`Content.download(rendition:)`), counted like the original file.")
    download_bytes: int | None = strawberry.field(
        description="Size in bytes of the rendition's MP4 download; null when it has none.")


@strawberry.type(description="A signed, expiring HLS stream of an item's ladder, its segments AES-128 encrypted with a "
                 "key served only to viewers who may play the item (docs/media.md, Protected streaming).")
class HlsPlayback:
    url: str = strawberry.field(
        description="The master playlist (application/vnd.apple.mpegurl) of the item's ladder, behind a signed "
        "token; its media playlists, segment links (each redirecting to a storage URL signed for about 90 seconds "
        "when fetched) and key link are issued under the same token. Refused (403) once expired or after the item "
        "was processed again.")
    expires_at: datetime = strawberry.field(description="When the token, and with it every playlist URL, stops working.")


@strawberry.type(description="HLS fields of `Content` (never served as a type of its own).")
class ContentMedia:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @guarded(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Progress of the item's processing job when its file goes through the HLS ladder "
        "(HLS_ENABLED); null when it did not (the ladder was off, or the item has no media file).",
    )
    async def processing(self, info: strawberry.Info) -> ContentProcessing | None:
        found = await loaders.processing(info.context).load(self.row.id)
        if found is None:
            return None
        return ContentProcessing(stage=found.stage, percent=found.percent, message=found.message,
                                 updated_at=found.updated_at)

    @strawberry.field(description="The renditions of the item's HLS ladder, lowest bandwidth first; empty until "
                      "the item is READY with a ladder (and always when HLS is off, where the original file "
                      "plays).")
    def renditions(self) -> list[Rendition]:
        listed = sorted(self.row.hls_renditions or [], key=lambda r: r["bandwidth"])
        return [Rendition(name=r["name"], height=r.get("height"), width=r.get("width"), bandwidth=r["bandwidth"],
                          downloadable=bool(self.row.allow_downloads and r.get("download_key")),
                          download_bytes=r.get("download_bytes") if r.get("download_key") else None)
                for r in listed]


__all__ = ["ContentMedia", "ContentProcessing", "HlsPlayback", "Rendition"]
