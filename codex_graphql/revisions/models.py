"""One revision of a content item (migration 0031): the item's editable state after a change, written in the
transaction of the change. Tenant table (the organization's staff read it); append-only for the API role.

``snapshot`` holds title, description, price (minor units and currency), tags and category ids after the change;
``body_document`` an article's body, only in revisions that changed it (or created the item), so that bodies are
not copied on every change of a price. A purchase keeps the amount it was made at: restoring an old price
changes what new buyers pay, never a past purchase.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ARRAY, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin


class ContentRevision(IdMixin, TimestampMixin, Base):
    __tablename__ = "content_revision"
    __table_args__ = (
        Index("ix_content_revision_content", "content_id", "created_at", "id"),
        Index("ix_content_revision_organization_id", "organization_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    changed: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body_document: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    restored_from: Mapped[uuid.UUID | None]
