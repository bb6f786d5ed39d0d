from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.authz import PlatformRole
from codex_graphql.db import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    """A platform account: customers and staff alike. Platform table (not tenant-scoped)."""

    __tablename__ = "user_account"
    # Trigram indexes for the customers list's ``search`` (ILIKE '%words%' on email and name; migration 0020).
    __table_args__ = tuple(
        Index(f"ix_user_account_{column}_trgm", column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})
        for column in ("email", "name"))
    # Stored normalized (trimmed, lower-cased) by the service, so a plain unique index suffices.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    platform_role: Mapped[PlatformRole] = mapped_column(
        Enum(PlatformRole, name="platform_role", native_enum=False, length=32),
        default=PlatformRole.CUSTOMER,
    )
    email_verified_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class UserSession(IdMixin, TimestampMixin, Base):
    """A signed-in device. Only a hash of the token is stored."""

    __tablename__ = "user_session"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    active_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL")
    )
    user_agent: Mapped[str] = mapped_column(String(400), default="", server_default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="", server_default="")


class EmailToken(IdMixin, TimestampMixin, Base):
    """Single-use token for email verification or password reset, hashed at rest."""

    __tablename__ = "email_token"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
