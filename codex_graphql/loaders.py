"""The request's dataloaders: one typed attribute per kind, built on first use.

``ctx.loaders.users`` is the request's one ``UserLoader`` (so its batches and cache are shared by every
resolver of the request); a misspelt kind fails type checking instead of creating a second loader at run
time. ``Context.become`` and ``Context.next_event`` drop the object, so the next use builds fresh loaders
(state read before a mutation, or before the previous subscription event, is not served again).
Each domain keeps its loader classes and the function its resolvers call (``accounts.loaders.users(ctx)``);
a new loader is a new attribute here. The classes only declare their query (and default, and whether it
runs per viewer or per active organization) on the generic loaders of ``codex_graphql.batching``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from codex_graphql.accounts.loaders import UserLoader
from codex_graphql.analytics.loaders import CustomerPurchasesLoader, OwnedContentLoader
from codex_graphql.analytics.stats import StatsLoader, ViewRecorder
from codex_graphql.articles.loaders import ArticleBodyLoader
from codex_graphql.categories.loaders import ContentCategoriesLoader, ListedCountLoader
from codex_graphql.commerce.loaders import PurchasedContentLoader, RevenueLoader
from codex_graphql.conferencing.loaders import JoinUrlLoader
from codex_graphql.content.loaders import EntitlementLoader, PositionLoader
from codex_graphql.content.scheduling_loaders import ScheduleLoader
from codex_graphql.devices.loaders import CustomerDevicesLoader
from codex_graphql.media.loaders import ProcessingLoader
from codex_graphql.offerings.loaders import (
    AnnouncementsLoader,
    AvailabilityLoader,
    CategoryIdsLoader,
    FiguresLoader,
    OfferingLoader,
    ParticipatingLoader,
    PortalItemsLoader,
    SessionsLoader,
)
from codex_graphql.organizations.loaders import OrganizationLoader
from codex_graphql.previews.loaders import PreviewLinksLoader
from codex_graphql.reviews.loaders import CountLoader, OwnReviewLoader, PageLoader, SummaryLoader
from codex_graphql.series.loaders import PlaceLoader, SeriesLoader
from codex_graphql.subscriptions.loaders import SubscriberCountLoader

if TYPE_CHECKING:
    from codex_graphql.context import Context


class Loaders:
    """One request's dataloaders (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @cached_property
    def users(self) -> UserLoader:
        return UserLoader(self._ctx)

    @cached_property
    def organizations(self) -> OrganizationLoader:
        return OrganizationLoader(self._ctx)

    @cached_property
    def content_entitlements(self) -> EntitlementLoader:
        return EntitlementLoader(self._ctx)

    @cached_property
    def content_positions(self) -> PositionLoader:
        return PositionLoader(self._ctx)

    @cached_property
    def content_schedules(self) -> ScheduleLoader:
        return ScheduleLoader(self._ctx)

    @cached_property
    def content_processing(self) -> ProcessingLoader:
        return ProcessingLoader(self._ctx)

    @cached_property
    def customer_devices(self) -> CustomerDevicesLoader:
        return CustomerDevicesLoader(self._ctx)

    @cached_property
    def offerings(self) -> OfferingLoader:
        return OfferingLoader(self._ctx)

    @cached_property
    def offering_sessions(self) -> SessionsLoader:
        return SessionsLoader(self._ctx)

    @cached_property
    def offering_category_ids(self) -> CategoryIdsLoader:
        return CategoryIdsLoader(self._ctx)

    @cached_property
    def offering_availability(self) -> AvailabilityLoader:
        return AvailabilityLoader(self._ctx)

    @cached_property
    def offering_participating(self) -> ParticipatingLoader:
        return ParticipatingLoader(self._ctx)

    @cached_property
    def offering_figures(self) -> FiguresLoader:
        return FiguresLoader(self._ctx)

    @cached_property
    def offering_portal_items(self) -> PortalItemsLoader:
        return PortalItemsLoader(self._ctx)

    @cached_property
    def offering_announcements(self) -> AnnouncementsLoader:
        return AnnouncementsLoader(self._ctx)

    @cached_property
    def conferencing_join_urls(self) -> JoinUrlLoader:
        return JoinUrlLoader(self._ctx)

    @cached_property
    def commerce_revenue(self) -> RevenueLoader:
        return RevenueLoader(self._ctx)

    @cached_property
    def commerce_content(self) -> PurchasedContentLoader:
        return PurchasedContentLoader(self._ctx)

    @cached_property
    def analytics_stats(self) -> StatsLoader:
        return StatsLoader(self._ctx)

    @cached_property
    def analytics_views(self) -> ViewRecorder:
        return ViewRecorder(self._ctx)

    @cached_property
    def analytics_customer_purchases(self) -> CustomerPurchasesLoader:
        return CustomerPurchasesLoader(self._ctx)

    @cached_property
    def analytics_owned_content(self) -> OwnedContentLoader:
        return OwnedContentLoader(self._ctx)

    @cached_property
    def reviews_summaries(self) -> SummaryLoader:
        return SummaryLoader(self._ctx)

    @cached_property
    def reviews_own(self) -> OwnReviewLoader:
        return OwnReviewLoader(self._ctx)

    @cached_property
    def reviews_pages(self) -> PageLoader:
        return PageLoader(self._ctx)

    @cached_property
    def reviews_counts(self) -> CountLoader:
        return CountLoader(self._ctx)

    @cached_property
    def series_places(self) -> PlaceLoader:
        return PlaceLoader(self._ctx)

    @cached_property
    def series_by_id(self) -> SeriesLoader:
        return SeriesLoader(self._ctx)

    @cached_property
    def articles_bodies(self) -> ArticleBodyLoader:
        return ArticleBodyLoader(self._ctx)

    @cached_property
    def preview_links(self) -> PreviewLinksLoader:
        return PreviewLinksLoader(self._ctx)

    @cached_property
    def categories_of_content(self) -> ContentCategoriesLoader:
        return ContentCategoriesLoader(self._ctx)

    @cached_property
    def categories_listed_counts(self) -> ListedCountLoader:
        return ListedCountLoader(self._ctx)

    @cached_property
    def subscriptions_subscriber_counts(self) -> SubscriberCountLoader:
        return SubscriberCountLoader(self._ctx)
