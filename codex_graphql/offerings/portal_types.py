"""GraphQL of offering portals: ``Offering.portal``, ``Offering.viewerIsParticipant`` and the mutations
attachToOfferingPortal, completePortalFileUpload, detachFromOfferingPortal and postOfferingAnnouncement."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.queries import visible_content
from codex_graphql.content.types import Content, Upload, signed_headers
from codex_graphql.context import Context
from codex_graphql.offerings import loaders
from codex_graphql.offerings import portal_repository as repository
from codex_graphql.offerings import portal_service as service
from codex_graphql.offerings.models import Offering as OfferingModel
from codex_graphql.offerings.portal_models import Announcement as AnnouncementModel
from codex_graphql.offerings.portal_models import PortalItem as PortalItemModel
from codex_graphql.offerings.portal_models import PortalItemKind
from codex_graphql.offerings.types import Offering
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id, to_global_id

RULE = " Staff manage the portals of their own offerings; CONTENT_MANAGE_ALL manages every portal."


@strawberry.type(description="A file attached to a portal, and a short-lived link to download it.")
class PortalFile:
    filename: str = strawberry.field(description="The file's name, as the download saves it.")
    content_type: str = strawberry.field(description="Its media type.")
    size_bytes: float = strawberry.field(description="Its size in bytes.")
    uploaded: bool = strawberry.field(description="Whether its upload was completed (`completePortalFileUpload`); "
                                      "`url` is null until then.")
    url: str | None = strawberry.field(description="A signed GET of the file, valid until `expiresAt` (minutes).")
    expires_at: datetime | None = strawberry.field(description="When `url` stops working.")


@strawberry.type(description="Something attached to an offering's portal: a content item or a file.")
class PortalItem:
    id: strawberry.ID = strawberry.field(description="Global id of the portal item (for detachFromOfferingPortal).")
    kind: PortalItemKind = strawberry.field(description="CONTENT or FILE.")
    title: str | None = strawberry.field(description="A title given in the portal; null: the item's own.")
    position: int = strawberry.field(description="Order in the portal (ascending, then oldest first).")
    created_at: datetime = strawberry.field(description="When it was attached.")
    row: strawberry.Private[PortalItemModel]

    @classmethod
    def from_model(cls, row: PortalItemModel) -> PortalItem:
        return cls(id=strawberry.ID(to_global_id("OfferingPortalItem", row.id)), kind=row.kind, title=row.title,
                   position=row.position, created_at=row.created_at, row=row)

    @strawberry.field(description="The content item (CONTENT items), read and played under the one access rule: "
                      "the offering's participants are entitled to it. Null for a file, or when it is gone.")
    async def content(self, info: strawberry.Info) -> Content | None:
        if self.row.content_id is None:
            return None
        return await visible_content(info.context, self.row.content_id)

    @strawberry.field(description="The file (FILE items), with a short-lived download link; null for content.")
    async def file(self, info: strawberry.Info) -> PortalFile | None:
        row = self.row
        if row.kind is not PortalItemKind.FILE:
            return None
        signed = await service.file_url(info.context.services.storage, row)
        return PortalFile(filename=row.filename or "", content_type=row.content_type or "",
                          size_bytes=float(row.size_bytes or 0), uploaded=row.uploaded_at is not None,
                          url=signed.url if signed else None, expires_at=signed.expires_at if signed else None)


@strawberry.type(description="An announcement posted to an offering's portal (mailed to its participants).")
class OfferingAnnouncement:
    id: strawberry.ID = strawberry.field(description="Global id of the announcement.")
    title: str = strawberry.field(description="Title, 1 to 200 characters.")
    body: str = strawberry.field(description="Plain text, up to 20,000 characters.")
    created_at: datetime = strawberry.field(description="When it was posted.")

    @classmethod
    def from_model(cls, row: AnnouncementModel) -> OfferingAnnouncement:
        return cls(id=strawberry.ID(to_global_id("OfferingAnnouncement", row.id)), title=row.title, body=row.body,
                   created_at=row.created_at)


@strawberry.type(description="An offering's portal: what staff attached for its participants, and announcements.")
class OfferingPortal:
    items: list[PortalItem] = strawberry.field(description="Attached items by position, then oldest first.")
    announcements: list[OfferingAnnouncement] = strawberry.field(
        description=f"Announcements, newest first (the latest {repository.ANNOUNCEMENTS_SHOWN}).")


@strawberry.type(description="Portal fields of `Offering` (never served as a type of its own).")
class OfferingPortalFields:
    row: strawberry.Private[object]  # ``self`` is the Offering object being resolved

    @strawberry.field(description="The portal, for its participants (a CONFIRMED booking of the offering) and "
                      "the staff of its organization (CONTENT_READ); null for everyone else (not an error).")
    async def portal(self, info: strawberry.Info) -> OfferingPortal | None:
        ctx: Context = info.context
        offering: OfferingModel = self.row  # type: ignore[assignment]
        participant = ctx.viewer.is_authenticated and await loaders.participating(ctx).load(offering.id)
        if not service.may_see_portal(ctx.viewer, offering, participant):
            return None
        items = await loaders.portal_items(ctx).load(offering.id)
        announcements = await loaders.announcements(ctx).load(offering.id)
        return OfferingPortal(items=[PortalItem.from_model(i) for i in items],
                              announcements=[OfferingAnnouncement.from_model(a) for a in announcements])

    @strawberry.field(description="Whether the viewer holds a CONFIRMED booking of it (sees its portal); false "
                      "when signed out.")
    async def viewer_is_participant(self, info: strawberry.Info) -> bool:
        ctx: Context = info.context
        offering: OfferingModel = self.row  # type: ignore[assignment]
        return ctx.viewer.is_authenticated and await loaders.participating(ctx).load(offering.id)


@strawberry.input(description="A file to upload for a portal (one signed PUT, then completePortalFileUpload).")
class PortalFileInput:
    filename: str = strawberry.field(description="The file's name, 1 to 255 characters, without slashes.")
    content_type: str = strawberry.field(description="Its media type, such as application/pdf.")
    size_bytes: int = strawberry.field(description="Its exact size in bytes, 1 byte to 512 MB.")


@strawberry.input(description="What to attach to an offering's portal: a content item or a file, not both.")
class AttachToOfferingPortalInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering.")
    content_id: strawberry.ID | None = strawberry.field(default=None, description="A content item of the "
                                                        "organization (any kind but a series' offer).")
    file: PortalFileInput | None = strawberry.field(default=None, description="A file to upload for the portal.")
    title: str | None = strawberry.field(default=None, description="A title in the portal, up to 200 characters.")
    position: int | None = strawberry.field(default=None, description="Order in the portal, 0 (the default) to "
                                            "100,000.")


@strawberry.input(description="A portal item.")
class PortalItemInput:
    item_id: strawberry.ID = strawberry.field(description="The portal item (`PortalItem.id`).")


@strawberry.input(description="An announcement to post to an offering's portal.")
class PostOfferingAnnouncementInput:
    offering_id: strawberry.ID = strawberry.field(description="The offering.")
    title: str = strawberry.field(description="Title, 1 to 200 characters.")
    body: str = strawberry.field(description="Plain text, 1 to 20,000 characters.")


def _item_id(raw: strawberry.ID) -> uuid.UUID | None:
    return decode_id(raw, "OfferingPortalItem")


def _upload(signed: object) -> Upload | None:
    if signed is None:
        return None
    return Upload(url=signed.url, method="PUT", headers=signed_headers(signed),  # type: ignore[attr-defined, arg-type]
                  expires_at=signed.expires_at, part_size=None, parts=[])  # type: ignore[attr-defined]


@strawberry.type
class PortalMutations:
    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"offering": (Offering, "The offering."),
                             "item": (PortalItem, "The item in the portal."),
                             "upload": (Upload, "For a file: where to PUT it (one upload, within 24 hours); then "
                                        "call completePortalFileUpload.")},
                    description="Attach a content item of the organization (its participants may then read and play "
                    "it) or a file to an offering's portal. Attaching the same content item again returns the item "
                    "already there. NOT_FOUND for an offering or content item of another organization." + RULE,
                    input_description="The offering, and a content item or a file.")
    async def attach_to_offering_portal(ctx: Context, input: AttachToOfferingPortalInput) -> dict:
        content_id = None
        if input.content_id is not None:
            content_id = decode_id(input.content_id, "Content")
            if content_id is None:
                content_id = uuid.UUID(int=0)  # malformed: NOT_FOUND like an unknown id
        new_file = None
        if input.file is not None:
            new_file = service.NewFile(input.file.filename, input.file.content_type, input.file.size_bytes)
        offering, item, signed = await service.attach(
            ctx.db, ctx.services.storage, ctx.viewer, decode_id(input.offering_id, "Offering"),
            content_id=content_id, file=new_file, title=input.title, position=input.position)
        return {"offering": Offering.from_model(offering), "item": PortalItem.from_model(item),
                "upload": _upload(signed)}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"item": (PortalItem, "The file item, now downloadable by participants.")},
                    description="Confirm a portal file's upload: the file is checked (it exists, with the declared "
                    "size) and moved to where it is served from, which no upload URL can write." + RULE,
                    input_description="The file item.")
    async def complete_portal_file_upload(ctx: Context, input: PortalItemInput) -> dict:
        async with ctx.outside_transaction():  # its own short transactions around the storage calls
            item_id = await service.complete_file(ctx.services.db, ctx.services.storage, ctx.viewer,
                                                  _item_id(input.item_id))
        item = await repository.item_by_id(ctx.db, item_id)
        return {"item": PortalItem.from_model(item) if item else None}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"offering": (Offering, "The offering.")},
                    description="Remove an item from an offering's portal: its participants lose the access it gave "
                    "(a content item they hold no other entitlement to)." + RULE,
                    input_description="The portal item.")
    async def detach_from_offering_portal(ctx: Context, input: PortalItemInput) -> dict:
        offering = await service.detach(ctx.db, ctx.viewer, _item_id(input.item_id))
        return {"offering": Offering.from_model(offering)}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"offering": (Offering, "The offering."),
                             "announcement": (OfferingAnnouncement, "The announcement posted.")},
                    description="Post an announcement to an offering's portal; every participant (a CONFIRMED "
                    "booking when the mail job runs) is emailed it once. INVALID_INPUT for an empty or oversize "
                    "title or body." + RULE,
                    input_description="The offering, a title and a body.")
    async def post_offering_announcement(ctx: Context, input: PostOfferingAnnouncementInput) -> dict:
        offering, announcement = await service.post_announcement(
            ctx.db, ctx.viewer, decode_id(input.offering_id, "Offering"), input.title, input.body)
        return {"offering": Offering.from_model(offering), "announcement": OfferingAnnouncement.from_model(announcement)}


__all__ = ["OfferingPortalFields", "PortalMutations"]
