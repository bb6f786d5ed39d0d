"""Per-request batch loaders of offerings' sessions and categories (one statement per page of offerings)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import GroupedLoader, KeyedLoader
from codex_graphql.offerings import availability_repository, portal_repository, repository, stats_repository
from codex_graphql.offerings.models import Offering, OfferingAvailability, OfferingSession
from codex_graphql.offerings.portal_models import Announcement, PortalItem
from codex_graphql.offerings.stats_repository import OfferingFigures

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class SessionsLoader(KeyedLoader[uuid.UUID, list[OfferingSession]]):
    """An offering's sessions by start (RLS: the organization's, or a visible offering's)."""

    missing: list[OfferingSession] = []
    query = staticmethod(repository.sessions_of)


class OfferingLoader(KeyedLoader[uuid.UUID, Offering | None]):
    """Offerings by id, as RLS shows them to the viewer."""

    query = staticmethod(repository.by_ids)


class CategoryIdsLoader(KeyedLoader[uuid.UUID, list[uuid.UUID]]):
    """An offering's category ids."""

    missing: list[uuid.UUID] = []
    query = staticmethod(repository.category_ids_of)


class AvailabilityLoader(GroupedLoader[tuple[uuid.UUID, uuid.UUID], OfferingAvailability | None]):
    """Services' availability by (offering id, organization id), one statement per organization (RLS: the
    organization's, or a published offering's)."""

    query = staticmethod(availability_repository.of_offerings)


class FiguresLoader(GroupedLoader[tuple[uuid.UUID, uuid.UUID], OfferingFigures | None]):
    """Offerings' figures by (offering id, organization id), one statement per organization."""

    query = staticmethod(stats_repository.figures_of)


def figures(ctx: Context) -> FiguresLoader:
    return ctx.loaders.offering_figures


def availability(ctx: Context) -> AvailabilityLoader:
    return ctx.loaders.offering_availability


def sessions(ctx: Context) -> SessionsLoader:
    return ctx.loaders.offering_sessions


def category_ids(ctx: Context) -> CategoryIdsLoader:
    return ctx.loaders.offering_category_ids


def offerings(ctx: Context) -> OfferingLoader:
    return ctx.loaders.offerings


class PortalItemsLoader(KeyedLoader[uuid.UUID, list[PortalItem]]):
    """The portal items of offerings, by position (RLS: the organization's staff, or a participant)."""

    missing: list[PortalItem] = []
    query = staticmethod(portal_repository.items_of_offerings)


class AnnouncementsLoader(KeyedLoader[uuid.UUID, list[Announcement]]):
    """The latest announcements of offerings, newest first (RLS as ``PortalItemsLoader``)."""

    missing: list[Announcement] = []
    query = staticmethod(portal_repository.announcements_of_offerings)


def portal_items(ctx: Context) -> PortalItemsLoader:
    return ctx.loaders.offering_portal_items


def announcements(ctx: Context) -> AnnouncementsLoader:
    return ctx.loaders.offering_announcements


class ParticipatingLoader(KeyedLoader[uuid.UUID, bool]):
    """True for the offerings the signed-in viewer holds a CONFIRMED booking of (a portal's participants)."""

    per = "user"
    missing = False
    query = staticmethod(portal_repository.participating)

    async def fetch(self, keys: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
        return dict.fromkeys(await super().fetch(keys), True)


def participating(ctx: Context) -> ParticipatingLoader:
    return ctx.loaders.offering_participating
