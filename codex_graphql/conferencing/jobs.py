"""The conferencing jobs' work (workers/conferencing_actors.py runs them): make the meetings of sessions,
delete those of cancelled offerings, store a recording. Ids in, safe to run twice and side by side, and no
network call inside an open transaction: each reserves in one short transaction, calls the provider with none
open, and records the outcome in a second (docs/conferencing.md, "Meetings").
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.conferencing import credentials, recordings, repository
from codex_graphql.conferencing import service as conferencing
from codex_graphql.conferencing.models import ConferencingProviderName, MeetingStatus
from codex_graphql.conferencing.protocol import ConferencingProvider, ProviderError, TokenExpired
from codex_graphql.conferencing.zoom import ZoomProvider
from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.offerings import repository as offerings
from codex_graphql.offerings.models import OfferingStatus
from codex_graphql.settings import Settings
from codex_graphql.storage import Storage

LEASE = timedelta(minutes=2)  # a CREATING claim older than this is taken over (its runner crashed)
REFRESH_MARGIN = timedelta(seconds=60)


class MeetingBusy(Exception):
    """Another runner is creating or deleting this meeting right now: the job is retried later."""


@dataclass(frozen=True, slots=True)
class _Claim:
    meeting_id: uuid.UUID
    provider: ConferencingProviderName
    claimed_at: datetime
    marker: str
    topic: str
    start: datetime
    end: datetime
    time_zone: str
    retry: bool


def marker_of(meeting_id: uuid.UUID) -> str:
    return f"codex-{meeting_id}"


async def access_token(db: Database, settings: Settings, organization_id: uuid.UUID, provider: ConferencingProvider,
                       *, force: bool = False) -> str:
    """The organization's access token, refreshed first when it expires within a minute (or ``force``). The
    refresh is a network call between two short transactions; when two runners refresh at once, the one that
    stores second keeps the first one's tokens (Zoom's refresh tokens are single-use)."""
    if provider.name == ConferencingProviderName.LOCAL:
        return "local"
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        row = await repository.connection(session, organization_id)
        if row is None or row.provider != provider.name:
            raise ProviderError("the organization's conferencing account is not connected", retryable=False)
        sealed, sealed_refresh, expires_at = row.access_token, row.refresh_token, row.expires_at
    key = settings.secret_key
    if not force and (expires_at is None or expires_at > utcnow() + REFRESH_MARGIN):
        return credentials.decrypt(key, organization_id, "access", sealed)
    if sealed_refresh is None:
        raise ProviderError("the access token expired and there is no refresh token: reconnect", retryable=False)
    refresh = credentials.decrypt(key, organization_id, "refresh", sealed_refresh)
    try:
        tokens = await provider.refresh(refresh)
    except ProviderError:
        async with db.transaction(scope) as session:  # another runner may have refreshed (and rotated) first
            now = await repository.connection(session, organization_id)
            if now is not None and now.access_token != sealed:
                return credentials.decrypt(key, organization_id, "access", now.access_token)
        raise
    async with db.transaction(scope) as session:
        stored = await repository.update_tokens(
            session, organization_id, sealed,
            access_token=credentials.encrypt(key, organization_id, "access", tokens.access_token),
            refresh_token=credentials.encrypt(key, organization_id, "refresh", tokens.refresh_token or refresh),
            expires_at=tokens.expires_at, updated_at=utcnow())
        if not stored:
            now = await repository.connection(session, organization_id)
            if now is not None:
                return credentials.decrypt(key, organization_id, "access", now.access_token)
    return tokens.access_token


async def _provider_of(session: AsyncSession, settings: Settings,
                       organization_id: uuid.UUID) -> ConferencingProviderName | None:
    row = await repository.connection(session, organization_id)
    return row.provider if row is not None else conferencing.default_provider(settings)


async def _claim(db: Database, settings: Settings, organization_id: uuid.UUID, session_id: uuid.UUID) -> _Claim | None:
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        found = await repository.session_with_offering(session, organization_id, session_id)
        if found is None:
            return None
        target, offering = found
        now = utcnow()
        if (offering.status is not OfferingStatus.PUBLISHED or not offering.online or target.cancelled_at is not None
                or target.ends_at <= now):
            return None
        name = await _provider_of(session, settings, organization_id)
        existing = await repository.for_update(session, organization_id, session_id)
        if existing is None and name is None:
            return None
        if existing is None:
            assert name is not None
        meeting = existing or await repository.reserve(session, organization_id, offering.id, session_id, name)
        if meeting.status in (MeetingStatus.CREATED, MeetingStatus.DELETING, MeetingStatus.DELETED):
            return None
        if meeting.status is MeetingStatus.CREATING and meeting.claimed_at and meeting.claimed_at > now - LEASE:
            raise MeetingBusy(str(meeting.id))
        retry = meeting.attempts > 0
        if meeting.status is MeetingStatus.PENDING and name is not None:
            meeting.provider = name  # not called yet: the organization may have connected another provider since
        meeting.status, meeting.claimed_at, meeting.attempts = MeetingStatus.CREATING, now, meeting.attempts + 1
        return _Claim(meeting.id, meeting.provider, now, marker_of(meeting.id), offering.title, target.starts_at,
                      target.ends_at, offering.time_zone, retry)


async def _release(db: Database, organization_id: uuid.UUID, session_id: uuid.UUID, claim: _Claim,
                   error: str) -> None:
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        meeting = await repository.for_update(session, organization_id, session_id)
        if meeting is not None and meeting.status is MeetingStatus.CREATING and meeting.claimed_at == claim.claimed_at:
            meeting.status, meeting.claimed_at, meeting.last_error = MeetingStatus.PENDING, None, error[:2000]


async def ensure_meeting(db: Database, settings: Settings, organization_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """Make the session's meeting unless it exists; True when this run made it. Raises MeetingBusy while another
    runner holds it, ProviderError when the provider failed (the row is PENDING again: nothing half made)."""
    claim = await _claim(db, settings, organization_id, session_id)
    if claim is None:
        return False
    provider = conferencing.provider_for(settings, claim.provider)
    try:
        if provider is None:
            raise ProviderError(f"{claim.provider.value} is not configured on this server", retryable=False)
        token = await access_token(db, settings, organization_id, provider)
        options = {"topic": claim.topic, "start": claim.start, "end": claim.end, "time_zone": claim.time_zone,
                   "marker": claim.marker}
        try:
            made = await provider.create_meeting(token, retry=claim.retry, **options)
        except TokenExpired:  # revoked or expired early: refresh once and try again
            token = await access_token(db, settings, organization_id, provider, force=True)
            made = await provider.create_meeting(token, retry=True, **options)
    except (ProviderError, credentials.CredentialsUnavailable) as exc:
        await _release(db, organization_id, session_id, claim, str(exc))
        raise
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        meeting = await repository.for_update(session, organization_id, session_id)
        if meeting is None or meeting.status is MeetingStatus.CREATED:
            return False
        meeting.status, meeting.provider_meeting_id, meeting.join_url = (
            MeetingStatus.CREATED, made.provider_meeting_id, made.join_url)
        meeting.claimed_at, meeting.last_error = None, None
    return True


async def ensure_meetings(db: Database, settings: Settings, organization_id: uuid.UUID, offering_id: uuid.UUID,
                          session_id: uuid.UUID | None = None) -> int:
    """The meetings of one session, or of every upcoming session of the offering; how many this run made."""
    if session_id is not None:
        ids = [session_id]
    else:
        async with db.transaction(TenantScope(organization_id=organization_id)) as session:
            found = await offerings.sessions_of(session, [offering_id])
        now = utcnow()
        ids = [s.id for s in found.get(offering_id, []) if s.cancelled_at is None and s.ends_at > now]
    made = 0
    for one in ids:
        made += await ensure_meeting(db, settings, organization_id, one)
    return made


async def delete_meetings(db: Database, settings: Settings, organization_id: uuid.UUID, offering_id: uuid.UUID) -> int:
    """Delete the provider's meetings of a cancelled offering; how many this run deleted."""
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        session_ids = await repository.live_session_ids(session, organization_id, offering_id)
    deleted = 0
    for session_id in session_ids:
        async with db.transaction(scope) as session:
            meeting = await repository.for_update(session, organization_id, session_id)
            if meeting is None or meeting.status is MeetingStatus.DELETED:
                continue
            if meeting.status is MeetingStatus.CREATING and meeting.claimed_at and meeting.claimed_at > utcnow() - LEASE:
                raise MeetingBusy(str(meeting.id))
            if meeting.provider_meeting_id is None:  # never made at the provider
                meeting.status, meeting.join_url = MeetingStatus.DELETED, None
                continue
            meeting.status = MeetingStatus.DELETING
            name, provider_meeting_id = meeting.provider, meeting.provider_meeting_id
        provider = conferencing.provider_for(settings, name)
        if provider is not None:
            token = await access_token(db, settings, organization_id, provider)
            try:
                await provider.delete_meeting(token, provider_meeting_id)
            except TokenExpired:
                token = await access_token(db, settings, organization_id, provider, force=True)
                await provider.delete_meeting(token, provider_meeting_id)
        async with db.transaction(scope) as session:
            meeting = await repository.for_update(session, organization_id, session_id)
            if meeting is not None and meeting.status is MeetingStatus.DELETING:
                meeting.status, meeting.join_url = MeetingStatus.DELETED, None
                deleted += 1
    return deleted


async def store_recording(db: Database, settings: Settings, storage: Storage, organization_id: uuid.UUID,
                          event_row_id: uuid.UUID) -> uuid.UUID | None:
    """A ``recording.completed`` event's MP4 into storage, then its content item (PROCESSING, processing queued)
    attached to the portal; the event marked processed. A rerun finds the event processed, or the item made."""
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        event = await repository.event_for_update(session, organization_id, event_row_id)
        if event is None or event.processed_at is not None:
            return None
        picked = recordings.pick_file(event.payload)
        if picked is None:
            event.processed_at = utcnow()
            return None
        content_id = recordings.content_id_for(event.id)
        meeting = await repository.meeting_by_id(session, organization_id, event.meeting_id, lock=True)
        if meeting is None:
            event.processed_at = utcnow()
            return None
        meeting.recording_content_id = content_id
        session_id = meeting.session_id
    url, download_token = picked
    provider = conferencing.provider_for(settings, ConferencingProviderName.ZOOM)
    if not isinstance(provider, ZoomProvider):
        raise ProviderError("Zoom is not configured on this server", retryable=False)
    key = recordings.storage_key(organization_id, content_id)
    with tempfile.TemporaryDirectory(prefix="codex-recording-") as folder:
        path = Path(folder) / "recording.mp4"
        with path.open("wb") as sink:
            size = await provider.download(url, download_token or "", sink, settings.storage_max_object_bytes)
        await storage.upload_file(key, path, "video/mp4")
    async with db.transaction(scope) as session:
        event = await repository.event_for_update(session, organization_id, event_row_id)
        if event is None or event.processed_at is not None:
            return None
        found = await repository.session_with_offering(session, organization_id, session_id)
        if found is None:
            event.processed_at = utcnow()
            return None
        target, offering = found
        content = await recordings.add_downloaded(session, offering, target, content_id, size)
        await recordings.attach_to_portal(session, offering, content.id, content.title)
        event.processed_at = utcnow()
    return content_id
