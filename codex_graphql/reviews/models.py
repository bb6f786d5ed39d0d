"""Reviews of content items and the per-item rating summary.

One review per customer and item (unique ``content_id, user_id``); submitting again edits it. Only
PUBLISHED reviews count in ``content_rating``, which the service keeps in step with every change in
the same transaction, so an item's average and count are one row read.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import strawberry
from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow


@strawberry.enum(description="Where a review stands in moderation. Only PUBLISHED reviews are shown to everyone "
                 "and counted in `ratingAverage` / `ratingCount`.")
class ReviewStatus(enum.Enum):
    PUBLISHED = strawberry.enum_value("PUBLISHED", description="Visible to everyone and counted in the rating.")
    PENDING = strawberry.enum_value(
        "PENDING", description="Waiting for staff approval (moderation level PRE); visible to its author and staff."
    )
    HIDDEN = strawberry.enum_value(
        "HIDDEN", description="Published, then hidden by staff; visible to its author and staff, not counted."
    )
    REJECTED = strawberry.enum_value(
        "REJECTED", description="Refused by staff while pending; visible to its author and staff, not counted."
    )


class Review(IdMixin, TimestampMixin, Base):
    """A customer's rating (1 to 5) and sanitized text about one content item. Tenant table."""

    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        UniqueConstraint("content_id", "user_id"),
        Index("ix_review_content_status_created", "content_id", "status", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[ReviewStatus] = mapped_column(Enum(ReviewStatus, name="review_status", native_enum=False, length=16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
    moderated_at: Mapped[datetime | None]
    moderated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class ContentRating(Base):
    """Count and sum of the PUBLISHED ratings of one item, maintained incrementally."""

    __tablename__ = "content_rating"
    __table_args__ = (
        CheckConstraint("rating_count >= 0 AND rating_sum >= 0", name="not_negative"),
    )

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    rating_sum: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
