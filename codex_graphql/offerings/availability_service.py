"""A service's availability: ``setServiceAvailability`` and the open slots of ``Offering.availableSlots``
(the slot rule is in ``offerings/availability.py``; docs/offerings.md, "Service availability").

Setting the rules takes what managing the offering takes (``service.managed``: its creator with CONTENT_MANAGE,
anyone with CONTENT_MANAGE_ALL), only for a SERVICE that is not cancelled. Every input is checked first; a
refusal lists every field at fault and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import Viewer
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.offerings import availability_repository as repository
from codex_graphql.offerings import service
from codex_graphql.offerings.availability import (
    Interval,
    as_utc,
    check_range,
    open_slots,
    parse_weekly,
    weekly_from_json,
)
from codex_graphql.offerings.models import Offering, OfferingAvailability, OfferingStatus, OfferingType

# The ranges of the table's check constraints (models.OfferingAvailability): python name, input field, bounds.
LIMITS = (("slot_minutes", "slotMinutes", 5, 1440), ("buffer_minutes", "bufferMinutes", 0, 1440),
          ("notice_minutes", "noticeMinutes", 0, 525_600), ("horizon_days", "horizonDays", 1, 366))
DEFAULT_HORIZON_DAYS = 60


@dataclass
class AvailabilityInput:
    """What setServiceAvailability sets (it replaces the rules as a whole)."""

    weekly: Sequence[Any]
    slot_minutes: int
    buffer_minutes: int = 0
    notice_minutes: int = 0
    horizon_days: int = DEFAULT_HORIZON_DAYS


def _checked(rules: AvailabilityInput) -> dict[str, Any]:
    errors: list[UserError] = []
    values: dict[str, Any] = {}
    for name, field, minimum, maximum in LIMITS:
        value = getattr(rules, name)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", field],
                                    message=f"A whole number from {minimum:,} to {maximum:,}."))
        values[name] = value
    try:
        values["weekly"] = [window.to_json() for window in parse_weekly(rules.weekly)]
    except DomainError as refused:
        errors = [*refused.errors, *errors]
    if errors:
        raise DomainError.many(errors)
    return values


async def set_availability(session: AsyncSession, viewer: Viewer, offering_id: uuid.UUID | None,
                           rules: AvailabilityInput) -> tuple[Offering, OfferingAvailability]:
    """Replace a service's weekly hours, slot length, buffer, notice and horizon."""
    offering = await service.managed(session, viewer, offering_id)
    if offering.type is not OfferingType.SERVICE:
        raise DomainError(ErrorCode.INVALID_STATE, "Only a SERVICE has availability; add dated sessions to other "
                          "offerings (addOfferingSession).", "offeringId")
    if offering.status is OfferingStatus.CANCELLED:
        raise DomainError(ErrorCode.INVALID_STATE, "This offering was cancelled.", "offeringId")
    values = _checked(rules)
    row = await repository.put(session, offering.organization_id, offering.id, **values)
    return offering, row


async def available_slots(session: AsyncSession, offering: Offering, rules: OfferingAvailability | None,
                          start: datetime, end: datetime, now: datetime | None = None) -> list[Interval]:
    """The open slots of a service starting in ``[start, end)``: none for other types, a cancelled offering or
    a service without rules. INVALID_INPUT (fields ``from``/``to``) for an empty or too long range."""
    check_range(start, end)
    start, end = as_utc(start), as_utc(end)
    if offering.type is not OfferingType.SERVICE or offering.status is OfferingStatus.CANCELLED or rules is None:
        return []
    slot = timedelta(minutes=rules.slot_minutes)
    buffer = timedelta(minutes=rules.buffer_minutes)
    busy = await repository.busy(session, offering.organization_id, offering.id, start - buffer,
                                 end + slot + buffer)
    return open_slots(weekly_from_json(rules.weekly), time_zone=offering.time_zone,
                      slot_minutes=rules.slot_minutes, buffer_minutes=rules.buffer_minutes,
                      notice_minutes=rules.notice_minutes, horizon_days=rules.horizon_days,
                      now=now or utcnow(), start=start, end=end, busy=busy)


__all__ = ["DEFAULT_HORIZON_DAYS", "LIMITS", "AvailabilityInput", "available_slots", "set_availability"]
