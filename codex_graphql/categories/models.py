"""An organization's content categories and the many-to-many link between categories and content items.

Categories are what subscription tiers grant (issue 15). ``category`` is a tenant table (slug unique per
organization); ``content_category`` links an item to a category of the same organization (the composite
foreign key on ``(category_id, organization_id)`` makes a cross-tenant link impossible). Row-level
security (migration 0021): a link is readable exactly when its item is (the ``content`` policy, applied
inside the link policy), a category when it is the active organization's or holds an item the reader may
see; writes stay in the active organization.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
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


class Category(IdMixin, TimestampMixin, Base):
    """A named group of an organization's content items (e.g. "Yoga"). Tenant table."""

    __tablename__ = "category"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug"),
        UniqueConstraint("id", "organization_id"),  # the target of content_category's composite key
        Index("ix_category_org_position", "organization_id", "position", "name", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class ContentCategory(Base):
    """One item in one category (same organization). Tenant table."""

    __tablename__ = "content_category"
    __table_args__ = (
        ForeignKeyConstraint(["category_id", "organization_id"], ["category.id", "category.organization_id"],
                             ondelete="CASCADE"),
        Index("ix_content_category_category", "category_id", "content_id"),
        Index("ix_content_category_organization_id", "organization_id"),
    )

    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
