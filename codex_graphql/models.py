"""Imports every model so metadata (alembic, tests) sees the whole schema."""

from codex_graphql.accounts.models import EmailToken, User, UserSession
from codex_graphql.analytics.models import (
    ContentSalesSummary,
    ContentView,
    CustomerSummary,
    PurchaseDailyStats,
)
from codex_graphql.audit.models import AuditLogEntry
from codex_graphql.commerce.models import CheckoutSession, IdempotencyRecord, Purchase, StripeEvent
from codex_graphql.content.models import Content, ContentEntitlement, PlaybackPosition
from codex_graphql.db import Base
from codex_graphql.events import OutboxMessage, ProcessedMessage
from codex_graphql.organizations.models import Organization, OrganizationMembership

TENANT_TABLES = (
    "organization_membership", "content", "content_entitlement", "playback_position", "checkout_session", "purchase",
    "content_view", "purchase_daily_stats", "customer_summary", "content_sales_summary", "audit_log_entry",
)

__all__ = [
    "AuditLogEntry", "Base", "CheckoutSession", "Content", "ContentSalesSummary", "ContentView", "CustomerSummary", "PurchaseDailyStats", "IdempotencyRecord", "Purchase", "StripeEvent", "ContentEntitlement", "EmailToken", "PlaybackPosition", "Organization", "OrganizationMembership", "OutboxMessage",
    "ProcessedMessage", "TENANT_TABLES", "User", "UserSession",
]
