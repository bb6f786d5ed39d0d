"""Scheduled publication: a READY item's chosen publication time, one row per item until the periodic job
publishes it (or it is cancelled). Rows are transient: publishing (by the job or by hand), cancelling, deleting
the item or moving it out of READY deletes the row (a trigger on ``content`` does the last two, migration 0029)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, TimestampMixin, utcnow


class ContentPublishSchedule(TimestampMixin, Base):
    """When the ``scheduled-publishing`` job publishes an item (``publish_at``, an instant: timestamptz).

    A table of its own rather than a column of ``content``: the job's cross-organization work list is read
    under the platform scope (``platform_read`` on this table only), which then sees ids and times, never an
    unpublished item's title or description; the due index holds exactly the pending schedules; and the wide,
    hot ``content`` row (every catalogue page reads it) does not grow for a transient value."""

    __tablename__ = "content_publish_schedule"
    __table_args__ = (
        Index("ix_content_publish_schedule_due", "publish_at", "organization_id"),
        Index("ix_content_publish_schedule_org_due", "organization_id", "publish_at"),
    )

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    publish_at: Mapped[datetime]
    # Who chose the time (the audit log has every change); kept when their account goes.
    scheduled_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
