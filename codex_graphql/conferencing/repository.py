"""SQL of conferencing: connections, meetings and the webhook inbox (every tenant statement through
``in_organization``; RLS below it, migration 0045)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.conferencing.models import (
    ConferencingConnection,
    ConferencingEvent,
    ConferencingProviderName,
    MeetingStatus,
    OfferingMeeting,
)
from codex_graphql.offerings.models import Offering, OfferingSession


async def connection(session: AsyncSession, organization_id: uuid.UUID) -> ConferencingConnection | None:
    return await session.scalar(in_organization(select(ConferencingConnection), ConferencingConnection,
                                                organization_id))


async def save_connection(session: AsyncSession, row: ConferencingConnection) -> None:
    """Insert or replace the organization's connection (one per organization)."""
    values = {"organization_id": row.organization_id, "provider": row.provider, "access_token": row.access_token,
              "refresh_token": row.refresh_token, "expires_at": row.expires_at, "scope": row.scope,
              "connected_by": row.connected_by}
    statement = insert(ConferencingConnection).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ConferencingConnection.organization_id],
        set_={**{k: statement.excluded[k] for k in values if k != "organization_id"},
              "connected_at": statement.excluded.connected_at, "updated_at": statement.excluded.updated_at}))


async def update_tokens(session: AsyncSession, organization_id: uuid.UUID, was: bytes, **values: Any) -> bool:
    """Store refreshed tokens unless another runner replaced the access token first (``was``)."""
    result = await session.execute(in_organization(update(ConferencingConnection), ConferencingConnection,
                                                   organization_id)
                                   .where(ConferencingConnection.access_token == was).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_connection(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    result = await session.execute(in_organization(delete(ConferencingConnection), ConferencingConnection,
                                                   organization_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def session_with_offering(session: AsyncSession, organization_id: uuid.UUID,
                                session_id: uuid.UUID) -> tuple[OfferingSession, Offering] | None:
    statement = (in_organization(select(OfferingSession, Offering), OfferingSession, organization_id)
                 .join(Offering, Offering.id == OfferingSession.offering_id)
                 .where(OfferingSession.id == session_id))
    found = (await session.execute(statement)).first()
    return (found[0], found[1]) if found else None


async def reserve(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID, session_id: uuid.UUID,
                  provider: ConferencingProviderName) -> OfferingMeeting:
    """The session's meeting row, made PENDING the first time, locked."""
    await session.execute(insert(OfferingMeeting).values(
        id=uuid.uuid4(), organization_id=organization_id, offering_id=offering_id, session_id=session_id,
        provider=provider, status=MeetingStatus.PENDING).on_conflict_do_nothing(
        index_elements=[OfferingMeeting.session_id]))
    found = await for_update(session, organization_id, session_id)
    assert found is not None
    return found


async def for_update(session: AsyncSession, organization_id: uuid.UUID, session_id: uuid.UUID) -> OfferingMeeting | None:
    statement = in_organization(select(OfferingMeeting), OfferingMeeting, organization_id).where(
        OfferingMeeting.session_id == session_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def of_session(session: AsyncSession, organization_id: uuid.UUID, session_id: uuid.UUID) -> OfferingMeeting | None:
    return await session.scalar(in_organization(select(OfferingMeeting), OfferingMeeting, organization_id)
                                .where(OfferingMeeting.session_id == session_id))


async def live_session_ids(session: AsyncSession, organization_id: uuid.UUID, offering_id: uuid.UUID) -> list[uuid.UUID]:
    """Sessions of the offering whose meeting exists or is being made (what a cancellation deletes)."""
    rows = await session.scalars(in_organization(select(OfferingMeeting.session_id), OfferingMeeting, organization_id)
                                 .where(OfferingMeeting.offering_id == offering_id,
                                        OfferingMeeting.status != MeetingStatus.DELETED))
    return list(rows)


async def by_provider_id(session: AsyncSession, provider: ConferencingProviderName,
                         provider_meeting_id: str) -> OfferingMeeting | None:
    """A meeting by the provider's id, in any organization (the webhook, under the platform scope)."""
    return await session.scalar(select(OfferingMeeting).where(OfferingMeeting.provider == provider,
                                                              OfferingMeeting.provider_meeting_id == provider_meeting_id))


async def join_urls_of(session: AsyncSession, session_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Join URLs of the sessions' meetings as RLS shows them: the organization's staff, or a person holding a
    confirmed seat (``participant_read``)."""
    rows = await session.execute(select(OfferingMeeting.session_id, OfferingMeeting.join_url).where(
        OfferingMeeting.session_id.in_(list(session_ids)), OfferingMeeting.status == MeetingStatus.CREATED))
    return {row.session_id: row.join_url for row in rows if row.join_url}


async def add_event(session: AsyncSession, row: ConferencingEvent) -> uuid.UUID | None:
    """Store a webhook once by the provider's event id; None when it was stored before."""
    result = await session.execute(insert(ConferencingEvent).values(
        id=row.id or uuid.uuid4(), organization_id=row.organization_id, provider=row.provider, event_id=row.event_id,
        event_type=row.event_type, meeting_id=row.meeting_id, payload=row.payload,
    ).on_conflict_do_nothing(index_elements=[ConferencingEvent.provider, ConferencingEvent.event_id])
        .returning(ConferencingEvent.id))
    return result.scalar()


async def event_for_update(session: AsyncSession, organization_id: uuid.UUID,
                           event_id: uuid.UUID) -> ConferencingEvent | None:
    statement = in_organization(select(ConferencingEvent), ConferencingEvent, organization_id).where(
        ConferencingEvent.id == event_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def meeting_by_id(session: AsyncSession, organization_id: uuid.UUID, meeting_id: uuid.UUID,
                        lock: bool = False) -> OfferingMeeting | None:
    statement = in_organization(select(OfferingMeeting), OfferingMeeting, organization_id).where(
        OfferingMeeting.id == meeting_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)
