"""The storage clean-up queue: objects to delete once they are no longer needed.

Rows are written in the transaction that makes an object unneeded (a logo replaced, an upload
abandoned, an item purged), so the decision and the intent to delete commit together; the hygiene job
(``storage.hygiene``) deletes the objects outside any transaction and then removes the rows.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin


class CleanupReason(enum.StrEnum):
    LOGO_UPLOAD = "LOGO_UPLOAD"  # a logo upload not (yet) used; removed from the queue when it becomes the logo
    LOGO_REPLACED = "LOGO_REPLACED"  # a logo replaced or removed in the settings
    UPLOAD_ABANDONED = "UPLOAD_ABANDONED"  # a content upload not completed in time (multipart aborted)
    CONTENT_PURGED = "CONTENT_PURGED"  # every file of a purged content item (the key is its folder)


class StorageCleanup(IdMixin, TimestampMixin, Base):
    """One object (or, with ``prefix``, every object under a folder) to delete after ``delete_after``.
    Tenant table under row-level security; the hygiene job reads it under the platform scope."""

    __tablename__ = "storage_cleanup"
    __table_args__ = (
        Index("ix_storage_cleanup_due", "delete_after"),
        Index("ix_storage_cleanup_key", "organization_id", "key"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1024))
    prefix: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    upload_id: Mapped[str | None] = mapped_column(String(400))  # a multipart upload to abort first
    reason: Mapped[CleanupReason] = mapped_column(Enum(CleanupReason, name="cleanup_reason", native_enum=False, length=32))
    delete_after: Mapped[datetime]
    # Set by the pass that is deleting the object; a pass that crashed leaves it, and the row is taken
    # again once the claim is older than the lease.
    claimed_at: Mapped[datetime | None]
