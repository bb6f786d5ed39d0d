"""GraphQL shapes of preview links: ``ContentPreviewLink`` (staff's view of a link, never its token) and
``ContentPreview`` (what the link's holder sees), and ``node(id:)`` for a link."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.content import queries as content_queries
from codex_graphql.content.models import ContentKind, ContentStatus
from codex_graphql.content.types import Content, Playback
from codex_graphql.context import Context
from codex_graphql.db import utcnow
from codex_graphql.previews import repository, service
from codex_graphql.previews.models import ContentPreviewLink as LinkModel
from codex_graphql.relay import Node, register_node
from codex_graphql.row_types import from_row


@strawberry.enum(description="Whether a preview link still works.")
class ContentPreviewLinkStatus(enum.Enum):
    ACTIVE = strawberry.enum_value("ACTIVE", description="Works: whoever holds the link sees the item until `expiresAt`.")
    EXPIRED = strawberry.enum_value("EXPIRED", description="Past `expiresAt`: the link shows nothing any more.")
    REVOKED = strawberry.enum_value("REVOKED", description="Revoked by staff (`revokeContentPreviewLink`): the link "
                                    "shows nothing any more.")


async def _user(info: strawberry.Info, user_id: uuid.UUID | None) -> User | None:
    if user_id is None:
        return None
    user = await account_loaders.users(info.context).load(user_id)
    return User.from_model(user) if user else None


@strawberry.type(description="A link that shows a content item, drafts included, to whoever holds it, without an "
                 "account, until it expires or is revoked (`createContentPreviewLink`). Its token is shown once, "
                 "when it is made: only a hash of it is kept, so no field shows it again.")
class ContentPreviewLink(Node):
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    created_at: datetime = strawberry.field(description="When the link was made.")
    revoked_at: datetime | None = strawberry.field(description="When staff revoked it; null while not revoked.")
    url: str | None = strawberry.field(description="The link to share (`{PUBLIC_BASE_URL}/preview/{token}`): in "
                                       "createContentPreviewLink's answer only, null everywhere else (the token is "
                                       "not stored).")
    row: strawberry.Private[LinkModel]

    @classmethod
    def from_model(cls, link: LinkModel, url: str | None = None) -> ContentPreviewLink:
        return from_row(cls, link, "ContentPreviewLink", url=url, row=link)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="ACTIVE, EXPIRED or REVOKED.")
    def status(self) -> ContentPreviewLinkStatus:
        if self.row.revoked_at is not None:
            return ContentPreviewLinkStatus.REVOKED
        return ContentPreviewLinkStatus.ACTIVE if self.row.expires_at > utcnow() else ContentPreviewLinkStatus.EXPIRED

    @strawberry.field(description="The member who made the link; null when that account was deleted.")
    async def created_by(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.created_by_user_id)

    @strawberry.field(description="The member who revoked the link; null while not revoked, or when that account was "
                      "deleted.")
    async def revoked_by(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.revoked_by_user_id)

    @strawberry.field(description="The item the link shows; null once the item is deleted.")
    async def content(self, info: strawberry.Info) -> Content | None:
        return await content_queries.visible_content(info.context, self.row.content_id)


@register_node("ContentPreviewLink")
async def visible_link(ctx: Context, link_id: uuid.UUID) -> ContentPreviewLink | None:
    """A link for staff who may manage its item (``service.may_manage``); null for everyone else."""
    link = await repository.by_id(ctx.db, link_id)
    if link is None:
        return None
    content = await content_queries.readable_content(ctx, link.content_id)
    if content is None or not service.may_manage(ctx.viewer, content):
        return None
    return ContentPreviewLink.from_model(link)


@strawberry.type(description="What a preview link shows its holder: a content item as its staff see it, drafts "
                 "included, and its media to play, until the link expires or is revoked. Looking at a preview "
                 "counts no view and gives no access to the item itself.")
class ContentPreview:
    kind: ContentKind = strawberry.field(description="VIDEO, AUDIO or ARTICLE.")
    status: ContentStatus = strawberry.field(description="Where the item is in its lifecycle (a draft is READY).")
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(description="Description (plain text).")
    duration_seconds: float | None = strawberry.field(description="Duration in seconds, once processed (null "
                                                      "before, and for articles).")
    expires_at: datetime = strawberry.field(description="When the link stops working; every URL in this preview "
                                            "stops working no later.")
    found: strawberry.Private[service.Preview]

    @classmethod
    def of(cls, found: service.Preview) -> ContentPreview:
        row = found.content
        return cls(kind=row.kind, status=row.status, title=row.title, description=row.description,
                   duration_seconds=row.duration_seconds, expires_at=found.expires_at, found=found)

    @strawberry.field(description="URL of the smallest thumbnail, signed, valid at most an hour and never past "
                      "`expiresAt`; null without one.")
    async def thumbnail_url(self, info: strawberry.Info) -> str | None:
        return await service.thumbnail_url(info.context.services.storage, self.found)

    @strawberry.field(description="A signed URL of the media, valid at most an hour and never past `expiresAt` "
                      "(supports HTTP Range requests); null for an item without playable media (an article, an "
                      "upload not processed yet, a failed one). Counts no view.")
    async def playback(self, info: strawberry.Info) -> Playback | None:
        signed = await service.playback(info.context.services.storage, self.found)
        if signed is None or signed.expires_at is None:
            return None
        return Playback(url=signed.url, expires_at=signed.expires_at)

    @strawberry.field(description="An article's whole text as sanitized HTML (its images signed like `playback`); "
                      "null for media items.")
    async def body(self, info: strawberry.Info) -> str | None:
        ctx: Context = info.context
        return await service.body(ctx.db, ctx.services.storage, self.found)
