"""Offerings: create, edit, publish and cancel them; add dated sessions (docs/offerings.md).

Staff manage offerings as they manage content: CONTENT_CREATE to create one, then its creator (CONTENT_MANAGE)
or anyone with CONTENT_MANAGE_ALL edits, publishes and cancels it. Every input is checked before anything is
written; a refusal is a DomainError (the payload's ``errors``) and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.authz import Permission, Viewer
from codex_graphql.categories import repository as categories
from codex_graphql.conferencing import hooks as conferencing_hooks
from codex_graphql.content.rules import MAX_PRICE_CENTS
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings import paid, repository
from codex_graphql.offerings.models import Offering, OfferingSession, OfferingStatus, OfferingType
from codex_graphql.org_settings import service as org_settings
from codex_graphql.org_settings.models import check_timezone

MAX_CAPACITY = 100_000
MAX_CREDIT_PRICE = 1_000_000
MAX_CANCELLATION_HOURS = 24 * 365
MAX_SESSION_HOURS = 24 * 14
MAX_CATEGORIES = 10
UNSET: object = object()  # an input field left out (as opposed to null)
PUBLISHED_EVENT = "offering.published"
CANCELLED_EVENT = "offering.cancelled"


@dataclass
class OfferingChanges:
    """What createOffering / updateOffering set; ``UNSET`` leaves a field as it is (update only)."""

    title: object = UNSET
    description: object = UNSET
    price_cents: object = UNSET
    currency: object = UNSET
    credit_price: object = UNSET
    capacity: object = UNSET
    time_zone: object = UNSET
    location: object = UNSET
    online: object = UNSET
    cancellation_hours: object = UNSET
    category_ids: object = UNSET
    given: set[str] = field(default_factory=set)

    def has(self, name: str) -> bool:
        return getattr(self, name) is not UNSET


def _text(value: object, name: str, *, maximum: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be null.", name)
        return None
    text = str(value).strip()
    if required and not text:
        raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be empty.", name)
    if len(text) > maximum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {maximum} characters.", name)
    return text


def _number(value: object, name: str, *, minimum: int, maximum: int, nullable: bool = False) -> int | None:
    if value is None:
        if nullable:
            return None
        raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be null.", name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A whole number from {minimum} to {maximum}.", name)
    return value


def _currency(value: object) -> str:
    text = str(value or "").strip().upper()
    if len(text) != 3 or not text.isalpha() or not text.isascii():
        raise DomainError(ErrorCode.INVALID_INPUT, "An ISO 4217 currency code such as USD or EUR.", "currency")
    return text


def _time_zone(value: object) -> str:
    try:
        return check_timezone(str(value or ""))
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, str(exc), "timeZone") from None


async def _apply(session: AsyncSession, offering: Offering, changes: OfferingChanges) -> list[uuid.UUID] | None:
    """Checked values onto ``offering`` (nothing written when one is refused); the categories to link, if given."""
    checked: dict[str, object] = {}
    if changes.has("title"):
        checked["title"] = _text(changes.title, "title", maximum=200, required=True)
    if changes.has("description"):
        checked["description"] = _text(changes.description, "description", maximum=20_000) or ""
    if changes.has("price_cents"):
        checked["price_cents"] = _number(changes.price_cents, "priceCents", minimum=0, maximum=MAX_PRICE_CENTS)
    if changes.has("currency"):
        checked["currency"] = _currency(changes.currency)
    if changes.has("credit_price"):
        checked["credit_price"] = _number(changes.credit_price, "creditPrice", minimum=1, maximum=MAX_CREDIT_PRICE,
                                          nullable=True)
    if changes.has("capacity"):
        checked["capacity"] = _number(changes.capacity, "capacity", minimum=1, maximum=MAX_CAPACITY)
    if changes.has("time_zone"):
        checked["time_zone"] = _time_zone(changes.time_zone)
    if changes.has("location"):
        checked["location"] = _text(changes.location, "location", maximum=300) or None
    if changes.has("online"):
        if changes.online is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be null.", "online")
        checked["online"] = bool(changes.online)
    if changes.has("cancellation_hours"):
        checked["cancellation_hours"] = _number(changes.cancellation_hours, "cancellationHours", minimum=0,
                                                maximum=MAX_CANCELLATION_HOURS)
    categories_wanted = None
    if changes.has("category_ids"):
        categories_wanted = await _categories(session, offering.organization_id, changes.category_ids)
    for name, value in checked.items():
        setattr(offering, name, value)
    return categories_wanted


async def _categories(session: AsyncSession, organization_id: uuid.UUID, raw: object) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(raw or []))  # type: ignore[call-overload]
    if len(wanted) > MAX_CATEGORIES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_CATEGORIES} categories.", "categoryIds")
    known = await categories.ids_in_organization(session, organization_id, [i for i in wanted if i]) if wanted else set()
    if any(c is None or c not in known for c in wanted):
        raise DomainError(ErrorCode.NOT_FOUND, "No category of this organization has one of these ids.", "categoryIds")
    return wanted


def _active(viewer: Viewer) -> uuid.UUID:
    organization_id = viewer.active_organization_id
    if organization_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "Choose an active organization first.", "offeringId")
    return organization_id


async def create(session: AsyncSession, viewer: Viewer, offering_type: OfferingType, changes: OfferingChanges) -> Offering:
    organization_id = _active(viewer)
    assert viewer.user_id is not None
    currency, time_zone = await org_settings.currency_and_timezone(session, organization_id)
    offering = Offering(organization_id=organization_id, type=offering_type, status=OfferingStatus.DRAFT, title="",
                        description="", price_cents=0, currency=currency, capacity=1 if offering_type is
                        OfferingType.SERVICE else 0, time_zone=time_zone, online=False, cancellation_hours=24,
                        created_by=viewer.user_id)
    if not changes.has("title"):
        raise DomainError(ErrorCode.INVALID_INPUT, "This field cannot be empty.", "title")
    if offering_type is not OfferingType.SERVICE and not changes.has("capacity"):
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the number of seats per session.", "capacity")
    wanted = await _apply(session, offering, changes)
    await repository.add(session, offering)
    await paid.sync_offer(session, offering)
    if wanted:
        await repository.replace_categories(session, organization_id, offering.id, wanted)
    return offering


async def managed(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None) -> Offering:
    """Lock an offering the viewer may manage: their own with CONTENT_MANAGE, any with CONTENT_MANAGE_ALL."""
    organization_id = viewer.active_organization_id
    offering = (await repository.for_update(session, organization_id, offering_id)
                if offering_id and organization_id else None)
    if offering is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No offering has this id in your organization.", "offeringId")
    if offering.created_by != viewer.user_id and not viewer.can(Permission.CONTENT_MANAGE_ALL, organization_id):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You can only manage offerings you created.", "offeringId")
    return offering


def _not_cancelled(offering: Offering) -> None:
    if offering.status is OfferingStatus.CANCELLED:
        raise DomainError(ErrorCode.INVALID_STATE, "This offering was cancelled.", "offeringId")


async def update(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None,
                 changes: OfferingChanges) -> Offering:
    offering = await managed(session, viewer, offering_id)
    _not_cancelled(offering)
    was_online = offering.online
    wanted = await _apply(session, offering, changes)
    if wanted is not None:
        await repository.replace_categories(session, offering.organization_id, offering.id, wanted)
    await paid.sync_offer(session, offering)
    if offering.online and not was_online:  # a published offering moved online: its sessions' meetings (a job)
        conferencing_hooks.offering_published(session, offering)
    return offering


async def publish(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None) -> Offering:
    """Public and bookable: an event, program or cohort needs a session still to come, a service its weekly
    availability. Publishing a published offering changes nothing."""
    offering = await managed(session, viewer, offering_id)
    _not_cancelled(offering)
    if offering.status is OfferingStatus.PUBLISHED:
        return offering
    if offering.type is OfferingType.SERVICE:
        if not await repository.has_availability(session, offering.organization_id, offering.id):
            raise DomainError(ErrorCode.INVALID_STATE, "Set the service's availability first "
                              "(setServiceAvailability).", "offeringId")
    elif not await repository.live_session_count(session, offering.organization_id, offering.id, utcnow()):
        raise DomainError(ErrorCode.INVALID_STATE, "Add a session still to come first (addOfferingSession).",
                          "offeringId")
    offering.status, offering.published_at = OfferingStatus.PUBLISHED, utcnow()
    await paid.sync_offer(session, offering)
    events.emit(session, PUBLISHED_EVENT, {"offeringId": str(offering.id)}, offering.organization_id)
    conferencing_hooks.offering_published(session, offering)  # meetings of an online offering's sessions (a job)
    return offering


async def add_session(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None, starts_at: datetime,
                      ends_at: datetime, capacity: int | None) -> tuple[Offering, OfferingSession]:
    """The offering (locked) and its new session."""
    offering = await managed(session, viewer, offering_id)
    _not_cancelled(offering)
    if offering.type is OfferingType.SERVICE:
        raise DomainError(ErrorCode.INVALID_STATE, "A service is booked in its availability's slots, not in added "
                          "sessions (setServiceAvailability).", "offeringId")
    if ends_at <= starts_at:
        raise DomainError(ErrorCode.INVALID_INPUT, "A session ends after it starts.", "endsAt")
    if ends_at - starts_at > timedelta(hours=MAX_SESSION_HOURS):
        raise DomainError(ErrorCode.INVALID_INPUT, f"A session lasts at most {MAX_SESSION_HOURS // 24} days.",
                          "endsAt")
    if starts_at <= utcnow():
        raise DomainError(ErrorCode.INVALID_INPUT, "A session starts in the future.", "startsAt")
    seats = offering.capacity if capacity is None else _number(capacity, "capacity", minimum=1,
                                                                maximum=MAX_CAPACITY)
    if await repository.session_exists_at(session, offering.organization_id, offering.id, starts_at):
        raise DomainError(ErrorCode.ALREADY_EXISTS, "The offering has a session starting then.", "startsAt")
    added = await repository.add_session(session, OfferingSession(
        organization_id=offering.organization_id, offering_id=offering.id, starts_at=starts_at, ends_at=ends_at,
        capacity=seats, seats_taken=0))
    conferencing_hooks.session_added(session, offering, added)
    return offering, added


async def mark_cancelled(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None) -> Offering:
    """The offering CANCELLED (its bookings are the caller's: ``bookings.cancel_offering``)."""
    offering = await managed(session, viewer, offering_id)
    if offering.status is OfferingStatus.CANCELLED:
        return offering
    offering.status, offering.cancelled_at = OfferingStatus.CANCELLED, utcnow()
    await session.flush()
    events.emit(session, CANCELLED_EVENT, {"offeringId": str(offering.id)}, offering.organization_id)
    conferencing_hooks.offering_cancelled(session, offering)
    return offering


def staff_sees_all(viewer: Viewer, organization_id: uuid.UUID) -> bool:
    return viewer.can(Permission.CONTENT_READ, organization_id)


def visible_to(viewer: Viewer, offering: Offering) -> bool:
    """Drafts are their organization's staff's; published and cancelled offerings everyone's."""
    return offering.status is not OfferingStatus.DRAFT or staff_sees_all(viewer, offering.organization_id)


__all__: Sequence[str] = ["OfferingChanges", "add_session", "create", "managed", "mark_cancelled", "publish", "update"]
