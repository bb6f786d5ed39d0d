"""Conferencing rows (migration 0045; docs/conferencing.md).

``conferencing_connection``: an organization's connected provider (one per organization) with its OAuth
tokens encrypted at rest (``credentials.py``). ``offering_meeting``: the meeting of one session of an online
offering, reserved before the provider is called and recorded after (``status``). ``conferencing_event``: the
provider webhooks received, stored once by the provider's event id (the inbox).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Enum, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin, utcnow
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="A conferencing provider that hosts the meetings of online offerings.")
class ConferencingProviderName(enum.StrEnum):
    ZOOM = "ZOOM"
    GOOGLE_MEET = "GOOGLE_MEET"
    LOCAL = "LOCAL"


describe_values(ConferencingProviderName, {
    "ZOOM": "Zoom meetings, created through Zoom's REST API with the organization's Zoom account (OAuth).",
    "GOOGLE_MEET": "Google Meet links, created as Google Calendar events with a Meet conference (OAuth).",
    "LOCAL": "The demo provider: a meeting page served by this server; nothing leaves it. Never in production.",
})


class MeetingStatus(enum.StrEnum):
    PENDING = "PENDING"  # reserved; no provider call in flight
    CREATING = "CREATING"  # a job is calling the provider (``claimed_at``: its lease)
    CREATED = "CREATED"  # the provider made it: ``join_url`` is set
    DELETING = "DELETING"  # the session or offering was cancelled; the provider's meeting is being deleted
    DELETED = "DELETED"  # deleted at the provider (or never made)


class ConferencingConnection(Base):
    __tablename__ = "conferencing_connection"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"),
                                                       primary_key=True)
    provider: Mapped[ConferencingProviderName] = mapped_column(
        Enum(ConferencingProviderName, name="conferencing_provider", native_enum=False, length=16))
    access_token: Mapped[bytes] = mapped_column(LargeBinary)  # nonce || AES-GCM, bound to the organization
    refresh_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None] = mapped_column()
    scope: Mapped[str] = mapped_column(Text, default="", server_default="")
    connected_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    connected_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class OfferingMeeting(IdMixin, TimestampMixin, Base):
    __tablename__ = "offering_meeting"
    __table_args__ = (
        UniqueConstraint("session_id"),
        UniqueConstraint("provider", "provider_meeting_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    offering_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering_session.id", ondelete="CASCADE"))
    provider: Mapped[ConferencingProviderName] = mapped_column(
        Enum(ConferencingProviderName, name="conferencing_provider", native_enum=False, length=16))
    status: Mapped[MeetingStatus] = mapped_column(
        Enum(MeetingStatus, name="meeting_status", native_enum=False, length=16))
    provider_meeting_id: Mapped[str | None] = mapped_column(String(200))
    join_url: Mapped[str | None] = mapped_column(String(2000))
    claimed_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    recording_content_id: Mapped[uuid.UUID | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=text("now()"))


class ConferencingEvent(IdMixin, Base):
    __tablename__ = "conferencing_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    provider: Mapped[ConferencingProviderName] = mapped_column(
        Enum(ConferencingProviderName, name="conferencing_provider", native_enum=False, length=16))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offering_meeting.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    processed_at: Mapped[datetime | None] = mapped_column()
