"""An article's body (migration 0028), one row per content item of kind ARTICLE.

Kept apart from ``content`` so that catalogue reads never carry bodies. Tenant table: the organization's staff
read and write its rows; everyone may read the row of a published, live article (as ``content`` itself), and
the API serves ``html`` only to viewers the one access rule admits (``Content.body``), like a media file's
signed URL. ``excerpt_html``, ``word_count`` and reading time are public.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ForeignKey, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, utcnow


class ArticleBody(Base):
    __tablename__ = "article_body"

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    html: Mapped[str] = mapped_column(Text)
    excerpt_html: Mapped[str] = mapped_column(Text)
    plain_text: Mapped[str] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(Integer)
    reading_minutes: Mapped[int] = mapped_column(Integer)
    image_keys: Mapped[list[str]] = mapped_column(ARRAY(String(400)), default=list, server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))
