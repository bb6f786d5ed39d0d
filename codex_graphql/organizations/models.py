from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Enum, ForeignKey, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.authz import OrgRole
from codex_graphql.db import Base, IdMixin, TimestampMixin


class Organization(IdMixin, TimestampMixin, Base):
    """A tenant: a business selling content. Its public face (name, slug) is readable by anyone."""

    __tablename__ = "organization"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Share of each sale (net of tax) credited to the content's creator, for payouts.
    creator_share_percent: Mapped[int] = mapped_column(Integer, default=100, server_default=text("100"))
    # IANA zone for "today" and "this month" in analytics; changing it rebuilds the daily rollups.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # Settings and branding as one validated document (see the settings domain).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))


class OrganizationMembership(IdMixin, TimestampMixin, Base):
    """A user's role in an organization. Tenant table: row-level security applies."""

    __tablename__ = "organization_membership"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[OrgRole] = mapped_column(Enum(OrgRole, name="org_role", native_enum=False, length=32))
