from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="What kind of media a content item is.")
class ContentKind(enum.StrEnum):
    VIDEO = "VIDEO"
    AUDIO = "AUDIO"
    ARTICLE = "ARTICLE"
    BUNDLE = "BUNDLE"
    OFFERING = "OFFERING"


describe_values(ContentKind, {
    "VIDEO": "A video file; playback is a video stream (with a thumbnail once processed).",
    "AUDIO": "An audio-only file (podcast, music, lesson); no thumbnail is extracted.",
    "ARTICLE": "Written content (`createArticle`): a rich-text `body` for viewers with access and an `excerpt` for "
               "everyone; no media file, so `playback` and `download` are null.",
    "BUNDLE": "What a priced series sells (`Series.offer`): buying it entitles every item of the series, the ones "
              "added later too. It is never listed in the catalogue and has no media.",
    "OFFERING": "What a priced offering sells (`Offering`): the purchase of a paid booking (`bookOffering` with "
                "PURCHASE) is of this item. It is never listed, never bought on its own and has no media.",
})


@strawberry.enum(description="Lifecycle: UPLOADING → PROCESSING → READY → PUBLISHED; FAILED with a reason.")
class ContentStatus(enum.StrEnum):
    UPLOADING = "UPLOADING"
    PROCESSING = "PROCESSING"
    READY = "READY"
    PUBLISHED = "PUBLISHED"
    FAILED = "FAILED"


describe_values(ContentStatus, {
    "UPLOADING": "Created by `createContent`; waiting for the file to be uploaded and "
                 "`completeContentUpload` to be called.",
    "PROCESSING": "The file was uploaded; a worker is probing and transcoding it (duration, thumbnail). "
                  "Usually seconds to minutes.",
    "READY": "Processed and playable by staff; not in the catalogue until `publishContent`. Also the state "
             "after `unpublishContent`.",
    "PUBLISHED": "In the catalogue: customers can see it, buy or claim it, and play it once they have "
                 "access.",
    "FAILED": "Processing failed (unreadable or unsupported file); `failureReason` says why. Upload a new "
              "item.",
})


@strawberry.enum(description="How a viewer came to have access to a content item.")
class EntitlementSource(enum.StrEnum):
    PURCHASE = "PURCHASE"
    GRANT = "GRANT"
    FREE = "FREE"


class Content(IdMixin, TimestampMixin, Base):
    """A video, audio or written item of an organization. Tenant table; published items are world-readable. An
    article has no media file (empty ``storage_key``); its body is ``articles.models.ArticleBody``."""

    __tablename__ = "content"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("creator_share_percent BETWEEN 0 AND 100", name="creator_share_percent_range"),
        Index("ix_content_org_created", "organization_id", "created_at", "id"),
        Index(
            "ix_content_catalogue", "organization_id", "created_at", "id",
            postgresql_where=text("status = 'PUBLISHED' AND deleted_at IS NULL"),
        ),
        Index("ix_content_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_content_abandoned_uploads", "upload_expires_at",
            postgresql_where=text("status = 'UPLOADING'"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[ContentKind] = mapped_column(Enum(ContentKind, name="content_kind", native_enum=False, length=16))
    status: Mapped[ContentStatus] = mapped_column(
        Enum(ContentStatus, name="content_status", native_enum=False, length=16), default=ContentStatus.UPLOADING
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price_cents: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list, server_default=text("'{}'"))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None]
    media_info: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    thumbnails: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    storage_key: Mapped[str] = mapped_column(String(400))
    mime_type: Mapped[str] = mapped_column(String(100))
    original_filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    multipart_upload_id: Mapped[str | None] = mapped_column(String(400))
    upload_expires_at: Mapped[datetime | None]
    # While UPLOADING: the one-use staging key signed URLs write to (``storage_key`` is never signed for
    # writing); ``upload_claimed_at`` marks a completion copying it to ``storage_key`` right now.
    upload_key: Mapped[str | None] = mapped_column(String(400))
    upload_claimed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
    published_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # Set when the storage hygiene job deleted the files of an item deleted longer ago than the retention
    # period with no active entitlement left; the row stays (purchases reference it).
    purged_at: Mapped[datetime | None]
    # Defaults come from the organization's settings when the item is created.
    listed: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    allow_downloads: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    reviews_enabled: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The creators' share of this item's sales (earnings/split.py); null: the organization's default.
    creator_share_percent: Mapped[int | None] = mapped_column(Integer)
    # Set with READY when the HLS ladder was made (media/transcode.py): the versioned storage folder holding
    # ``master.m3u8`` and the renditions listed in it ({name, width, height, bandwidth, ...}).
    hls_prefix: Mapped[str | None] = mapped_column(String(400))
    hls_renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list,
                                                                 server_default=text("'[]'::jsonb"))


class ContentEntitlement(IdMixin, TimestampMixin, Base):
    """A user's right to play a content item (from a purchase, a staff grant, or a free claim)."""

    __tablename__ = "content_entitlement"
    __table_args__ = (
        Index(
            "uq_content_entitlement_active", "content_id", "user_id", unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_content_entitlement_user", "user_id", "content_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    source: Mapped[EntitlementSource] = mapped_column(
        Enum(EntitlementSource, name="entitlement_source", native_enum=False, length=16)
    )
    source_id: Mapped[uuid.UUID | None]
    revoked_at: Mapped[datetime | None]


class PlaybackPosition(Base):
    """Where a viewer stopped in a content item, for resume."""

    __tablename__ = "playback_position"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    position_seconds: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
