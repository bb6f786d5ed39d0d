"""Series and their items (migration 0033).

``series`` is an ordered sequence of an organization's items; DRAFT series are the organization's, PUBLISHED
ones are public (their items still show only where the listing rule shows them). ``series_item`` places one
item at one position (0-based, contiguous) of one series of the same organization; an item is in at most one
series. Tenant tables; a published series and its item rows are readable by everyone.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import strawberry
from sqlalchemy import (
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow


@strawberry.enum(description="Whether a series is public.")
class SeriesStatus(enum.Enum):
    DRAFT = strawberry.enum_value("DRAFT", description="Being prepared: only the organization's staff see it.")
    PUBLISHED = strawberry.enum_value("PUBLISHED", description="Public: everyone sees it and the items of it that "
                                      "the catalogue lists.")


class Series(IdMixin, TimestampMixin, Base):
    __tablename__ = "series"
    __table_args__ = (
        UniqueConstraint("id", "organization_id"),  # the target of series_item's composite key
        Index("ix_series_org_created", "organization_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[SeriesStatus] = mapped_column(
        Enum(SeriesStatus, name="series_status", native_enum=False, length=16), default=SeriesStatus.DRAFT,
        server_default="DRAFT")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
    # The item sold for the whole series (kind BUNDLE, migration 0034); null: the series is not for sale.
    offer_content_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("content.id", ondelete="SET NULL"), unique=True)
    for_sale: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class SeriesItem(Base):
    __tablename__ = "series_item"
    __table_args__ = (
        ForeignKeyConstraint(["series_id", "organization_id"], ["series.id", "series.organization_id"],
                             ondelete="CASCADE"),
        UniqueConstraint("content_id"),  # an item is in at most one series
        UniqueConstraint("series_id", "position", deferrable=True, initially="DEFERRED"),
        Index("ix_series_item_organization_id", "organization_id"),
    )

    series_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
