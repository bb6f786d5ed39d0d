"""SQL of the participants CSV export: one batch of an offering's bookings with their person and session, in
booking order (keyset on ``created_at, id``), in the organization's scope."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts.models import User
from codex_graphql.authz import in_organization
from codex_graphql.offerings.models import Booking, OfferingSession


async def batch(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID,
                after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Any]:
    """Up to ``limit`` bookings of the offering after the keyset position ``after`` (oldest first): rows with
    ``id created_at status pay_with credits_spent checked_in_at cancelled_at name email starts_at``."""
    statement = in_organization(select(
        Booking.id, Booking.created_at, Booking.status, Booking.pay_with, Booking.credits_spent,
        Booking.checked_in_at, Booking.cancelled_at, User.name, User.email, OfferingSession.starts_at,
    ).select_from(Booking), Booking, organization_id).join(User, User.id == Booking.user_id).join(
        OfferingSession, OfferingSession.id == Booking.session_id).where(Booking.offering_id == offering_id)
    if after is not None:
        statement = statement.where(tuple_(Booking.created_at, Booking.id) > tuple_(*after))
    return list(await session.execute(statement.order_by(Booking.created_at, Booking.id).limit(limit)))
