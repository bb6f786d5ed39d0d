"""An offering's portal (migration 0044): items attached by staff and announcements, for its participants.

Participants are not stored: they are the people holding a CONFIRMED booking of the offering (``booking``), so a
cancelled booking ends their access with nothing to revoke. A portal item is either a content item of the
offering's organization (an entitlement source: ``content.access.entitled_set_sql``) or a file uploaded for the portal
alone (served by short-lived signed GETs). An announcement is stored once and mailed to every participant by one
job; ``offering_announcement_delivery`` records each person mailed, so a job run twice mails nobody twice.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import strawberry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="What a portal item is.")
class PortalItemKind(enum.StrEnum):
    CONTENT = "CONTENT"
    FILE = "FILE"


describe_values(PortalItemKind, {
    "CONTENT": "A content item of the organization (video, audio, article): participants read and play it as if "
               "they had bought it, even when it is unlisted or unpublished.",
    "FILE": "A file uploaded for the portal only (slides, worksheets): participants download it through a "
            "short-lived signed URL.",
})


class PortalItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "offering_portal_item"
    __table_args__ = (
        UniqueConstraint("offering_id", "content_id"),
        CheckConstraint("(kind = 'CONTENT') = (content_id IS NOT NULL)", name="content_iff_content_kind"),
        CheckConstraint("kind = 'CONTENT' OR (filename IS NOT NULL AND storage_key IS NOT NULL)",
                        name="file_has_object"),
        CheckConstraint("size_bytes IS NULL OR size_bytes > 0", name="size_positive"),
        Index("ix_offering_portal_item_offering", "offering_id", "position", "created_at"),
        Index("ix_offering_portal_item_content", "content_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"))
    kind: Mapped[PortalItemKind] = mapped_column(
        Enum(PortalItemKind, name="portal_item_kind", native_enum=False, length=16))
    content_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # FILE items: the object (a staging key until ``uploaded_at``, then its final key).
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(512))
    uploaded_at: Mapped[datetime | None] = mapped_column()
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class Announcement(IdMixin, TimestampMixin, Base):
    __tablename__ = "offering_announcement"
    __table_args__ = (
        CheckConstraint("char_length(title) BETWEEN 1 AND 200", name="title_length"),
        CheckConstraint("char_length(body) <= 20000", name="body_length"),
        Index("ix_offering_announcement_offering", "offering_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    posted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class AnnouncementDelivery(Base):
    """One participant's mail of an announcement: claimed (``claimed_at``) before the mail is sent, ``sent_at``
    after. A claim left unsent by a crashed runner is taken over once it is older than the job's lease."""

    __tablename__ = "offering_announcement_delivery"

    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offering_announcement.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    claimed_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
