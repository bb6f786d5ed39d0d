from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql.accounts.types import User
from codex_graphql.analytics import stats as analytics_stats
from codex_graphql.authz import Permission
from codex_graphql.batched import batched
from codex_graphql.commerce import loaders as commerce_loaders
from codex_graphql.content import answers, downloads, loaders, service
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.content.models import ContentKind, ContentStatus
from codex_graphql.context import Context
from codex_graphql.devices import service as devices
from codex_graphql.errors import DomainError, ErrorCode, Forbidden, Unauthenticated
from codex_graphql.media import streaming
from codex_graphql.media.types import HlsPlayback
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection, Node
from codex_graphql.reviews import loaders as review_loaders
from codex_graphql.reviews import service as review_service
from codex_graphql.reviews import types as review_types
from codex_graphql.reviews.models import ReviewStatus
from codex_graphql.reviews.types import Review
from codex_graphql.row_types import from_row
from codex_graphql.storage import SignedRequest


@strawberry.type(description="An HTTP header to send with a signed request.")
class Header:
    name: str = strawberry.field(description="Header name.")
    value: str = strawberry.field(description="Header value.")


@strawberry.type(description="The original file as one signed, expiring URL (HTTP Range requests supported).")
class ProgressivePlayback:
    url: str = strawberry.field(description="Signed URL of the original media file.")
    expires_at: datetime = strawberry.field(description="When the URL stops working.")


@strawberry.type(description="A signed, expiring URL to play the media.")
class Playback:
    url: str = strawberry.field(description="Signed URL of the media file; supports HTTP Range requests. The same "
                                "as `progressive.url`.")
    expires_at: datetime = strawberry.field(description="When the URL stops working.")
    hls: HlsPlayback | None = strawberry.field(
        default=None, description="The item's HLS ladder as a signed stream, issued with `url` to the same "
        "viewers; null when the item has no ladder (HLS was off when it was processed): `url` then plays the "
        "original file.")

    @strawberry.field(description="The original file, for players without HLS (and audio players that want one file).")
    def progressive(self) -> ProgressivePlayback:
        return ProgressivePlayback(url=self.url, expires_at=self.expires_at)


@strawberry.type(description="A signed, short-lived download link to an item's original file (or a rendition's MP4), "
                 "and the viewer's "
                 "download allowance for their access to it (a purchase, grant or free claim, or a subscription "
                 "covering the item).")
class Download:
    url: str | None = strawberry.field(
        description="Signed URL that downloads the original file, or the chosen rendition's MP4 (Content-Disposition: "
        "attachment, named `<original name>-<rendition>.mp4`); null when the "
        "downloads of the viewer's access are used up."
    )
    expires_at: datetime | None = strawberry.field(description="When the URL stops working (minutes from issue).")
    used: int | None = strawberry.field(description="Downloads counted for the viewer's access; null for staff (not counted).")
    limit: int | None = strawberry.field(description="Downloads allowed per access; null means no limit.")
    remaining: int | None = strawberry.field(description="Downloads left for the viewer's access; null means no limit.")

    @classmethod
    def of(cls, issued: downloads.IssuedDownload) -> Download:
        return cls(url=issued.url, expires_at=issued.expires_at, used=issued.used, limit=issued.limit,
                   remaining=issued.remaining)


@strawberry.type(description="A thumbnail image: a frame of a video, or the cover art embedded in an audio file.")
class Thumbnail:
    url: str = strawberry.field(description="Signed URL of the JPEG image.")
    width: int = strawberry.field(description="Width in pixels.")
    height: int = strawberry.field(description="Height in pixels.")


@strawberry.type(description="Facts about the media file, from probing it.")
class MediaInfo:
    container: str | None = strawberry.field(description="Container format, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.")
    video_codec: str | None = strawberry.field(description="Video codec, e.g. `h264`.")
    audio_codec: str | None = strawberry.field(description="Audio codec, e.g. `aac`.")
    width: int | None = strawberry.field(description="Video width in pixels.")
    height: int | None = strawberry.field(description="Video height in pixels.")
    bit_rate: int | None = strawberry.field(description="Overall bit rate in bits per second.")


FirstArg = Annotated[int | None, strawberry.argument(
    description="Page size: how many items to return, 0 to 100 (default 20). Outside that range the request fails "
    "with a BAD_USER_INPUT error.")]
AfterArg = Annotated[str | None, strawberry.argument(
    description="`pageInfo.endCursor` of the previous page, to continue after it; omit for the first page. A "
    "malformed cursor is a BAD_USER_INPUT error.")]


def signed_headers(request: SignedRequest) -> list[Header]:
    return [Header(name=k, value=v) for k, v in request.headers.items()]


@strawberry.type(description="A video, audio or written item sold (or given away) by an organization.")
class Content(Node):
    kind: ContentKind = strawberry.field(description="VIDEO, AUDIO or ARTICLE.")
    status: ContentStatus = strawberry.field(description="Where the item is in its lifecycle.")
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(description="Description (plain text).")
    price_cents: int = strawberry.field(description="Price in minor units of `currency`; 0 means free.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    tags: list[str] = strawberry.field(description="Normalized tags: lower-case, hyphenated.")
    duration_seconds: float | None = strawberry.field(description="Duration in seconds, once processed (null before).")
    created_at: datetime = strawberry.field(description="When the item was created.")
    updated_at: datetime = strawberry.field(description="When the item last changed.")
    published_at: datetime | None = strawberry.field(description="When the item was last published.")
    listed: bool = strawberry.field(
        description="Whether the item appears in the public catalogue list once published; unlisted items are "
        "reachable by id only. New items follow the organization's default visibility."
    )
    allow_downloads: bool = strawberry.field(description="Whether buyers may download the file.")
    reviews_enabled: bool = strawberry.field(description="Whether the item accepts reviews.")
    row: strawberry.Private[ContentModel]

    @classmethod
    def from_model(cls, content: ContentModel) -> Content:
        return from_row(cls, content, "Content", tags=list(content.tags), row=content)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="The member who uploaded the item.")
    @batched(answers.creators)
    async def creator(self, info: strawberry.Info) -> User | None:
        """Answered by content/answers.py, for one item or a whole list at once."""

    @strawberry.field(description="URL of the smallest thumbnail, signed (videos, and audio with cover art, once processed); null without one.")
    @batched(answers.thumbnail_urls)
    async def thumbnail_url(self, info: strawberry.Info) -> str | None:
        """Answered by content/answers.py, for one item or a whole list at once."""

    @strawberry.field(description="Every thumbnail size, smallest first (videos, and audio with cover art, once processed).")
    async def thumbnails(self, info: strawberry.Info) -> list[Thumbnail]:
        storage = info.context.services.storage
        return [
            Thumbnail(url=(await storage.presign_get(t["key"], service.URL_TTL_SECONDS)).url, width=t["width"], height=t["height"])
            for t in sorted(self.row.thumbnails, key=lambda t: t["width"])
        ]

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Revenue from this item's purchases in minor units, net of tax and of refunds (partial ones included).")
    async def revenue_cents(self, info: strawberry.Info) -> int | None:
        return await commerce_loaders.revenue(info.context).load(self.row.id)

    @guarded(
        HasOrgPermission(Permission.ANALYTICS_READ),
        description="Purchases, revenue (net of tax and refunds), refunds, views and unique viewers.",
    )
    async def stats(self, info: strawberry.Info) -> analytics_stats.ContentStats | None:
        return await analytics_stats.stats(info.context).load(self.row.id)

    @guarded(HasOrgPermission(Permission.CONTENT_READ), description="Why processing failed, when status is FAILED.")
    def failure_reason(self) -> str | None:
        return self.row.failure_reason

    @guarded(HasOrgPermission(Permission.CONTENT_READ), description="Facts from probing the media file.")
    def media(self) -> MediaInfo | None:
        info = self.row.media_info or {}
        return MediaInfo(
            container=info.get("container"), video_codec=info.get("video_codec"), audio_codec=info.get("audio_codec"),
            width=info.get("width"), height=info.get("height"), bit_rate=info.get("bit_rate"),
        )

    @strawberry.field(description="Whether the viewer may play this item: a purchase, grant or free claim, or staff of the organization.")
    @batched(answers.access)
    async def viewer_has_access(self, info: strawberry.Info) -> bool:
        """Answered by content/answers.py, for one item or a whole list at once."""

    @strawberry.field(
        description="A signed URL valid for one hour. FORBIDDEN (and null) for viewers without access; null for "
        "an article, whoever asks (no media: see `body`). Issuing it to a signed-in viewer counts a view (once per "
        "viewer per hour). Customers name the device they play on with `deviceId`: the first playback on a device "
        "registers it in the organization; where the organization limits devices (`maxDevicesPerCustomer`), "
        "`deviceId` is required (DEVICE_REQUIRED) and a device over the limit is refused with "
        "DEVICE_LIMIT_REACHED, whose `extensions.devices` lists the registered ones (`removeDevice` frees a place)."
    )
    async def playback(self, info: strawberry.Info, device_id: Annotated[str | None, strawberry.argument(
            description="A stable id of the device playing, chosen by the client (8 to 128 letters, digits or "
            ". _ : -; for example a random UUID kept in localStorage). The HLS stream issued is bound to it: "
            "removing the device stops its segment keys.")] = None) -> Playback | None:
        ctx: Context = info.context
        if not self.row.storage_key:
            return None  # an article: no media (its body is `body`)
        entitled = await loaders.entitlements(ctx).load(self.row.id)
        if not service.can_play(ctx.viewer, self.row, entitled):
            if not ctx.viewer.is_authenticated:
                raise Unauthenticated("Sign in to play this content.")
            raise Forbidden("You do not have access to play this content.")
        device = await devices.register(ctx.db, ctx.viewer, self.row.organization_id, device_id, ctx.user_agent)
        signed = await service.playback_url(ctx.services.storage, self.row)
        assert signed.expires_at is not None
        await analytics_stats.record_view(ctx, self.row.id, self.row.organization_id)
        hls = streaming.issue(ctx.settings.secret_key, ctx.settings.public_base_url, self.row, ctx.viewer.user_id,
                              service.URL_TTL_SECONDS, device_id=device)
        return Playback(url=signed.url, expires_at=signed.expires_at,
                        hls=HlsPlayback(url=hls[0], expires_at=hls[1]) if hls else None)

    @strawberry.field(description="Where the viewer stopped, in seconds; null when never played or without access.")
    @batched(answers.playback_positions)
    async def playback_position(self, info: strawberry.Info) -> float | None:
        """Answered by content/answers.py, for one item or a whole list at once."""

    @strawberry.field(
        description="A signed download link for viewers entitled to the item (a purchase, grant or free claim, or a "
        "subscription covering it) and for staff, when the item allows downloads; null when it does not. FORBIDDEN "
        "(and null) without access. The first read counts one download against the limit of the viewer's access "
        "(per purchase, grant or claim; per item for a subscription) and opens a link window of a few "
        "minutes; reads within that window return a link with the same expiry and count nothing. Once the "
        "limit is used up `url` is null. `requestDownload` always issues (and counts) a fresh link. With "
        "`rendition` the link is to that rendition's MP4, counted like the original (one counter and limit, one "
        "window for any file of the item); a rendition without a download file is a BAD_USER_INPUT error."
    )
    async def download(
        self, info: strawberry.Info,
        rendition: Annotated[str | None, strawberry.argument(
            description="A rendition with `downloadable: true` (`Content.renditions { name }`, e.g. `720p`) whose "
            "MP4 to download; null: the original file.")] = None,
    ) -> Download | None:
        ctx: Context = info.context
        if not self.row.allow_downloads:
            return None
        entitled = await loaders.entitlements(ctx).load(self.row.id)
        if not service.can_play(ctx.viewer, self.row, entitled):
            if not ctx.viewer.is_authenticated:
                raise Unauthenticated("Sign in to download this content.")
            raise Forbidden("You do not have access to download this content.")
        if downloads.file_of(self.row, rendition) is None:
            raise downloads.rendition_error(self.row)
        try:
            issued = await downloads.issue(ctx.db, ctx.services.storage, ctx.viewer, self.row, entitled,
                                           reuse_window=True, rendition=rendition)
        except DomainError as error:
            if error.errors[0].code is not ErrorCode.DOWNLOAD_LIMIT_REACHED:
                raise
            used, limit = getattr(error, "used", None), getattr(error, "limit", None)
            issued = downloads.IssuedDownload(url=None, expires_at=None, used=used, limit=limit)
        return Download.of(issued)

    @strawberry.field(description="Average of the published ratings (1 to 5, two decimals); null without any.")
    async def rating_average(self, info: strawberry.Info) -> float | None:
        count, total = await review_loaders.summaries(info.context).load(self.row.id)
        return review_service.average(count, total)

    @strawberry.field(description="Number of published reviews.")
    async def rating_count(self, info: strawberry.Info) -> int:
        return (await review_loaders.summaries(info.context).load(self.row.id))[0]

    @strawberry.field(description="Published reviews, newest first.")
    async def reviews(
        self, info: strawberry.Info,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> Connection[Review]:
        return await review_types.connection(info.context, self.row.id, review_service.PUBLIC_STATUSES, first, after,
                                              published_only=True)

    @guarded(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Every review of the item in any status (PENDING, PUBLISHED, HIDDEN, REJECTED), newest first, "
        "for moderation; narrowed to one status with `status`.",
    )
    async def moderation_reviews(
        self, info: strawberry.Info,
        first: FirstArg = None,
        after: AfterArg = None,
        status: Annotated[ReviewStatus | None, strawberry.argument(description="Only reviews in this status.")] = None,
    ) -> Connection[Review] | None:
        statuses = (status,) if status is not None else review_service.ALL_STATUSES
        return await review_types.connection(info.context, self.row.id, statuses, first, after, published_only=False)

    @strawberry.field(description="The signed-in viewer's own review of this item, in any status; null when none.")
    async def viewer_review(self, info: strawberry.Info) -> Review | None:
        if info.context.viewer.user_id is None:
            return None
        review = await review_loaders.own_reviews(info.context).load(self.row.id)
        return Review.from_model(review) if review else None


@strawberry.type(description="Where to send the file: one signed PUT, or a multipart upload. The URLs write a "
                 "staging location that takes one upload: a second PUT to a used URL is refused (409 on the local "
                 "backend, 412 on S3), and completeContentUpload copies the checked file to where it is served from, "
                 "which no upload URL can write.")
class Upload:
    url: str | None = strawberry.field(description="Single upload: PUT the whole file here. Null for multipart.")
    method: str = strawberry.field(description="HTTP method for `url` and every part: PUT.")
    headers: list[Header] = strawberry.field(description="Headers to send with the single PUT, every one of them "
                                             "(on S3 they are signed, `If-None-Match: *` included).")
    expires_at: datetime | None = strawberry.field(description="When the signed URLs stop working.")
    part_size: int | None = strawberry.field(description="Multipart: bytes per part (the last may be smaller).")
    parts: list[UploadPart] = strawberry.field(description="Multipart: one signed URL per part, in order.")


@strawberry.type(description="One part of a multipart upload. Keep the ETag response header for completeContentUpload.")
class UploadPart:
    part_number: int = strawberry.field(description="1-based part number.")
    url: str = strawberry.field(description="Signed URL to PUT this part's bytes to.")


def upload_from(plan: service.UploadPlan) -> Upload:
    if plan.request is not None:
        return Upload(url=plan.request.url, method="PUT", headers=signed_headers(plan.request),
                      expires_at=plan.request.expires_at, part_size=None, parts=[])
    return Upload(
        url=None, method="PUT", headers=[], expires_at=plan.parts[0].expires_at if plan.parts else None,
        part_size=plan.part_size,
        parts=[UploadPart(part_number=i, url=p.url) for i, p in enumerate(plan.parts, start=1)],
    )
