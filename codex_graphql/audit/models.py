"""The audit log: who did what sensitive thing, to what, from where, with the values before and after."""

from __future__ import annotations

import enum
import uuid
from typing import Any

import strawberry
from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from codex_graphql.db import Base, IdMixin, TimestampMixin


@strawberry.enum(description="What an audit log entry records.")
class AuditAction(enum.Enum):
    PURCHASE_REFUNDED = strawberry.enum_value("PURCHASE_REFUNDED", description="A paid purchase was refunded (or its refund requested).")
    ACCESS_GRANTED = strawberry.enum_value("ACCESS_GRANTED", description="Staff gave a person access without payment.")
    ACCESS_REVOKED = strawberry.enum_value("ACCESS_REVOKED", description="Staff took back granted access.")
    MEMBER_ADDED = strawberry.enum_value("MEMBER_ADDED", description="A person joined the organization with a role.")
    MEMBER_INVITED = strawberry.enum_value("MEMBER_INVITED", description="Staff invited an email address to join with a role.")
    INVITATION_REVOKED = strawberry.enum_value("INVITATION_REVOKED", description="Staff withdrew a pending invitation.")
    INVITATION_ACCEPTED = strawberry.enum_value("INVITATION_ACCEPTED", description="A person joined by accepting an invitation.")
    MEMBER_ROLE_CHANGED = strawberry.enum_value("MEMBER_ROLE_CHANGED", description="A member's role changed.")
    MEMBER_REMOVED = strawberry.enum_value("MEMBER_REMOVED", description="Staff removed a member from the organization.")
    MEMBER_LEFT = strawberry.enum_value("MEMBER_LEFT", description="A member left the organization.")
    OWNERSHIP_TRANSFERRED = strawberry.enum_value(
        "OWNERSHIP_TRANSFERRED", description="An owner made another member OWNER and became ADMIN."
    )
    SETTINGS_CHANGED = strawberry.enum_value("SETTINGS_CHANGED", description="Organization settings changed (changed fields only).")
    CONTENT_PUBLISHED = strawberry.enum_value("CONTENT_PUBLISHED", description="A content item was published.")
    CONTENT_UNPUBLISHED = strawberry.enum_value("CONTENT_UNPUBLISHED", description="A content item was taken off the catalogue.")
    CONTENT_PUBLISH_SCHEDULED = strawberry.enum_value(
        "CONTENT_PUBLISH_SCHEDULED", description="Staff scheduled (or rescheduled) the publication of a content item, "
        "or of several at once (`scheduleContentPublishBulk`: one entry listing the items); the time before and after.")
    CONTENT_BULK_UPDATED = strawberry.enum_value(
        "CONTENT_BULK_UPDATED", description="Staff changed several content items at once (`bulkUpdateContent`): one "
        "entry with the change and the items it changed.")
    CONTENT_PUBLISH_UNSCHEDULED = strawberry.enum_value(
        "CONTENT_PUBLISH_UNSCHEDULED", description="Staff cancelled the scheduled publication of a content item.")
    PURCHASE_DISPUTED = strawberry.enum_value(
        "PURCHASE_DISPUTED", description="The buyer opened a dispute (chargeback) with their bank; reported by Stripe.")
    DISPUTE_CLOSED = strawberry.enum_value(
        "DISPUTE_CLOSED", description="A dispute was decided (won: nothing changes; lost: counts as a full refund).")
    REVIEW_MODERATED = strawberry.enum_value(
        "REVIEW_MODERATED", description="Staff approved, rejected, hid or unhid a review (status before and after)."
    )
    CONTENT_PREVIEW_LINK_CREATED = strawberry.enum_value(
        "CONTENT_PREVIEW_LINK_CREATED", description="Staff created a preview link of a content item (the item and "
        "when the link expires; never the token).")
    CONTENT_PREVIEW_LINK_REVOKED = strawberry.enum_value(
        "CONTENT_PREVIEW_LINK_REVOKED", description="Staff revoked a preview link of a content item before it expired.")
    CREDITS_ADJUSTED = strawberry.enum_value(
        "CREDITS_ADJUSTED", description="Staff corrected a customer's credit balance (amount, reason, balance before "
        "and after).")
    SUBSCRIPTION_TIER_CREATED = strawberry.enum_value(
        "SUBSCRIPTION_TIER_CREATED", description="Staff created a subscription tier (its settings and prices).")
    SUBSCRIPTION_TIER_CHANGED = strawberry.enum_value(
        "SUBSCRIPTION_TIER_CHANGED", description="Staff changed a subscription tier: settings, prices, categories or "
        "publication (changed values only, before and after).")
    SUBSCRIPTION_TIER_ARCHIVED = strawberry.enum_value(
        "SUBSCRIPTION_TIER_ARCHIVED", description="Staff archived a subscription tier: no new subscribers; existing "
        "subscribers keep it.")
    SUBSCRIPTION_TIER_PRICE_MIGRATED = strawberry.enum_value(
        "SUBSCRIPTION_TIER_PRICE_MIGRATED", description="Staff moved a tier's subscribers on older prices of one "
        "interval to its current price, from their next renewal (the interval, the price and how many were queued).")
    REVENUE_SPLIT_CHANGED = strawberry.enum_value(
        "REVENUE_SPLIT_CHANGED", description="Staff changed how an item's sales are divided: its creators' share "
        "and co-creators (before and after).")
    LOGIN_NEW_DEVICE = strawberry.enum_value(
        "LOGIN_NEW_DEVICE", description="A sign-in from a browser and network (IP /24) not seen for this account before."
    )


class AuditLogEntry(IdMixin, TimestampMixin, Base):
    """Append-only: the application role may insert and read rows, never change or delete them.
    Organization rows are read by the organization's scope; platform rows (no organization, e.g.
    sign-ins) by the acting user."""

    __tablename__ = "audit_log_entry"
    __table_args__ = (
        Index("ix_audit_log_entry_org_created", "organization_id", "created_at", "id"),
        Index("ix_audit_log_entry_actor_created", "actor_user_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    # Who acted when no person did: ``stripe`` for changes the payment provider reported (webhooks).
    actor_service: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[AuditAction] = mapped_column(Enum(AuditAction, name="audit_action", native_enum=False, length=40))
    target_type: Mapped[str] = mapped_column(String(60))
    target_id: Mapped[uuid.UUID | None]
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))

