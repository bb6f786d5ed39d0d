from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.authz import OrgRole
from codex_graphql.db import Base, IdMixin, TimestampMixin


class Organization(IdMixin, TimestampMixin, Base):
    """A tenant: a business selling content. Its public face (name, slug) is readable by anyone."""

    __tablename__ = "organization"
    __table_args__ = (CheckConstraint("creator_share_percent BETWEEN 0 AND 100", name="creator_share_percent_range"),)

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The creators' share of each sale (net of tax, after the platform fee: earnings/split.py), unless the
    # item overrides it; exposed as the setting defaultCreatorSharePercent.
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


class OrganizationInvitation(IdMixin, TimestampMixin, Base):
    """An email invitation to join with a role. Tenant table: row-level security applies; the invitee
    (no member yet) reads only the row whose token hash the transaction names. The token exists in
    clear only in the mail: the mail job mints it and stores its SHA-256 here."""

    __tablename__ = "organization_invitation"
    __table_args__ = (
        Index("ix_organization_invitation_org_created", "organization_id", "created_at", "id"),
        # One pending invitation per address: inviting again replaces it.
        Index("ix_organization_invitation_pending", "organization_id", "email", unique=True,
              postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL")),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # normalized like account emails
    role: Mapped[OrgRole] = mapped_column(Enum(OrgRole, name="org_role", native_enum=False, length=32))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    invited_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None]
    accepted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
