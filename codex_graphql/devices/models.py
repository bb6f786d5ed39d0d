"""A customer's playback devices in an organization (``playback_device``, migration 0041)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, utcnow


class PlaybackDevice(Base):
    """One registration of a device by a customer in an organization. The client's device id is stored only as
    its SHA-256 (``device_hash``); ``removed_at`` ends the registration and the row stays as history."""

    __tablename__ = "playback_device"
    __table_args__ = (
        Index("uq_playback_device_active", "organization_id", "user_id", "device_hash", unique=True,
              postgresql_where=text("removed_at IS NULL")),
        Index("ix_playback_device_user_id", "user_id", "organization_id"),
        Index("ix_playback_device_organization_removed", "organization_id", "removed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    device_hash: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(String(120))
    user_agent: Mapped[str] = mapped_column(String(400))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    removed_at: Mapped[datetime | None] = mapped_column()
    removed_by: Mapped[uuid.UUID | None] = mapped_column()

    @property
    def active(self) -> bool:
        return self.removed_at is None
