"""Imports every model so metadata (alembic, tests) sees the whole schema."""

from codex_graphql.accounts.models import EmailToken, User, UserSession
from codex_graphql.analytics.models import (
    AnalyticsTotals,
    ContentSalesSummary,
    ContentView,
    CustomerSummary,
    PurchaseDailyStats,
)
from codex_graphql.articles.models import ArticleBody
from codex_graphql.audit.models import AuditLogEntry
from codex_graphql.categories.models import Category, ContentCategory
from codex_graphql.commerce.models import (
    CheckoutSession,
    IdempotencyRecord,
    PendingGrant,
    Purchase,
    PurchaseRefund,
    StripeEvent,
)
from codex_graphql.conferencing.models import ConferencingConnection, ConferencingEvent, OfferingMeeting
from codex_graphql.content.download_models import DownloadCounter
from codex_graphql.content.models import Content, ContentEntitlement, PlaybackPosition
from codex_graphql.content.scheduling_models import ContentPublishSchedule
from codex_graphql.credits.models import CreditBalance, CreditLot, CreditTransaction
from codex_graphql.db import Base
from codex_graphql.devices.models import PlaybackDevice
from codex_graphql.earnings.models import (
    ContentContributor,
    ContentPlayDaily,
    CreatorEarningSummary,
    CreatorItemDaily,
    CreatorPoolPeriod,
    EarningEntry,
    PlatformSettings,
)
from codex_graphql.earnings.payout_models import CreatorPayoutAccount, CreatorStatement, Payout
from codex_graphql.events import OutboxMessage, ProcessedMessage
from codex_graphql.media.models import ContentProcessing, ContentProcessingChunk
from codex_graphql.offerings.models import (
    Booking,
    Offering,
    OfferingAvailability,
    OfferingCategory,
    OfferingSession,
)
from codex_graphql.offerings.portal_models import Announcement, AnnouncementDelivery, PortalItem
from codex_graphql.offerings.reminder_models import BookingReminder, CalendarFeed
from codex_graphql.organizations.models import Organization, OrganizationInvitation, OrganizationMembership
from codex_graphql.previews.models import ContentPreviewLink
from codex_graphql.reviews.models import ContentRating, Review
from codex_graphql.revisions.models import ContentRevision
from codex_graphql.search.models import ContentSearchPublic, ContentSearchStaff
from codex_graphql.series.models import Series, SeriesItem
from codex_graphql.storage.models import StorageCleanup
from codex_graphql.subscriptions.models import (
    SubscriberSummary,
    Subscription,
    SubscriptionInvoice,
    SubscriptionTier,
    SubscriptionTierCategory,
    SubscriptionTierPrice,
    SubscriptionTierSummary,
)

TENANT_TABLES = (
    "organization_membership", "content", "content_entitlement", "playback_position", "checkout_session", "purchase",
    "content_view", "purchase_daily_stats", "customer_summary", "content_sales_summary", "audit_log_entry",
    # Platform-wide readers (the outbox relay, the webhook inbox, clean-ups) see these under the platform scope.
    "outbox_message", "stripe_event", "idempotency_record", "storage_cleanup",
    "review", "content_rating", "download_counter",
    "organization_invitation",
    "pending_grant",
    "purchase_refund",
    "analytics_totals",
    "category", "content_category",
    "credit_transaction", "credit_balance", "credit_lot",
    "subscription_tier", "subscription_tier_category", "subscription_tier_price",
    "subscription",
    "subscription_invoice", "subscription_tier_summary", "subscriber_summary",
    "content_publish_schedule",
    "article_body",
    "content_preview_link",
    "content_search_public", "content_search_staff",
    "content_revision",
    "series", "series_item",
    "content_contributor", "earning_entry", "creator_earning_summary",
    "creator_item_daily", "content_play_daily", "payout", "creator_statement", "creator_pool_period",
    "content_processing", "content_processing_chunk",
    "playback_device",
    "offering", "offering_category", "offering_session", "offering_availability", "booking",
    "booking_reminder",
    "offering_portal_item", "offering_announcement", "offering_announcement_delivery",
    "conferencing_connection", "offering_meeting", "conferencing_event",
)

__all__ = [
    "AnalyticsTotals", "ArticleBody", "ContentProcessing", "ContentProcessingChunk", "ContentContributor", "CreatorEarningSummary", "CreatorItemDaily", "ContentPlayDaily", "CreatorPoolPeriod", "CreatorPayoutAccount", "CreatorStatement", "Payout", "EarningEntry", "PlatformSettings", "ContentRevision", "Series", "SeriesItem", "Category", "ContentCategory", "ContentRating", "ContentSearchPublic", "ContentSearchStaff", "DownloadCounter", "Review", "PendingGrant", "PurchaseRefund", "PlaybackDevice", "Booking", "Offering", "OfferingAvailability", "OfferingCategory", "OfferingSession",
    "AuditLogEntry", "Base", "CheckoutSession", "Content", "ContentSalesSummary", "CreditBalance", "CreditLot", "CreditTransaction", "ContentView", "CustomerSummary", "PurchaseDailyStats", "IdempotencyRecord", "Purchase", "StripeEvent", "ContentEntitlement", "ContentPreviewLink", "ContentPublishSchedule", "EmailToken", "PlaybackPosition", "Organization", "OrganizationInvitation", "OrganizationMembership", "OutboxMessage",
    "ProcessedMessage", "StorageCleanup", "SubscriberSummary", "Subscription", "SubscriptionInvoice", "SubscriptionTier", "SubscriptionTierCategory",
    "SubscriptionTierPrice", "SubscriptionTierSummary", "TENANT_TABLES", "User", "UserSession",
    "BookingReminder", "CalendarFeed",
    "ConferencingConnection", "ConferencingEvent", "OfferingMeeting",
    "Announcement", "AnnouncementDelivery", "PortalItem",
]
