"""Download counters: one row per source of access (``content.access.admitting_source``): an entitlement
row (a purchase, grant or free claim), a subscription and an item it covers, or the confirmed booking of an
offering whose portal holds the item and that item. Each counts the signed download
URLs issued under it against the organization's download limit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow


class DownloadCounter(IdMixin, TimestampMixin, Base):
    """``used`` only grows, through one conditional UPDATE (``used < limit``), so concurrent requests
    cannot pass the limit. ``window_expires_at`` is when the last issued URL expires: reading
    ``Content.download`` again before then reuses that window instead of counting again."""

    __tablename__ = "download_counter"
    __table_args__ = (
        CheckConstraint("used >= 0", name="used_not_negative"),
        CheckConstraint("num_nonnulls(entitlement_id, subscription_id, booking_id) = 1", name="one_source"),
        UniqueConstraint("subscription_id", "content_id"),
        UniqueConstraint("entitlement_id", "content_id"),  # a bought series' entitlement counts per item (0035)
        UniqueConstraint("booking_id", "content_id"),  # an offering portal's participant, per item (0044)
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("content_entitlement.id", ondelete="CASCADE")
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), index=True)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    window_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
