"""A preview link of a content item (migration 0030).

Tenant table: the organization's staff read and write its rows (``enable_tenant_rls``). The link's holder is
nobody's tenant: ``codex_content_preview(token_hash)`` (SECURITY DEFINER) reads the one link with that hash, and
its item, when the link is live; the table's ``preview_by_token`` policy admits that function's owner to the row
of the hash it set, and no role the API runs as. ``token_hash`` is the hex SHA-256 of the token; the token
itself is never stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin


class ContentPreviewLink(IdMixin, TimestampMixin, Base):
    """One link: live from ``created_at`` until ``expires_at`` or ``revoked_at``, whichever comes first."""

    __tablename__ = "content_preview_link"
    __table_args__ = (
        Index("ix_content_preview_link_org_content", "organization_id", "content_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    revoked_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
