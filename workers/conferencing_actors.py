"""Conferencing actors: make the meetings of online sessions, delete a cancelled offering's meetings, store a
Zoom recording. Ids in; each is safe to run twice and side by side (codex_graphql/conferencing/jobs.py).

A provider that is down, a refused token being refreshed or a meeting another runner holds (MeetingBusy) raise
and are retried with backoff; the meeting row is PENDING again in between (nothing half made). A refusal that
no retry can fix (no account connected, provider not configured, a 4xx) is logged and the job ends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable

import dramatiq

from codex_graphql.conferencing import hooks, jobs
from codex_graphql.conferencing.protocol import ProviderError
from workers.runtime import runtime

log = logging.getLogger(__name__)
RETRY = {"max_retries": 10, "min_backoff": 5_000, "max_backoff": 600_000, "time_limit": 120_000}


async def _unless_final(work: Awaitable[object], actor: str, **ids: str | None) -> None:
    try:
        await work
    except ProviderError as exc:
        if exc.retryable:
            raise
        log.warning("conferencing job refused for good", extra={"actor": actor, "error": str(exc), **ids})


@dramatiq.actor(actor_name=hooks.MEETINGS_ACTOR, **RETRY)
async def conferencing_meetings(job_id: str, meeting_organization_id: str, offering_id: str,
                                session_id: str | None = None) -> None:
    rt = runtime()
    await _unless_final(jobs.ensure_meetings(rt.db, rt.settings, uuid.UUID(meeting_organization_id),
                                             uuid.UUID(offering_id), uuid.UUID(session_id) if session_id else None),
                        hooks.MEETINGS_ACTOR, offering_id=offering_id, session_id=session_id)


@dramatiq.actor(actor_name=hooks.DELETE_ACTOR, **RETRY)
async def conferencing_delete_meetings(job_id: str, meeting_organization_id: str, offering_id: str) -> None:
    rt = runtime()
    await _unless_final(jobs.delete_meetings(rt.db, rt.settings, uuid.UUID(meeting_organization_id),
                                             uuid.UUID(offering_id)), hooks.DELETE_ACTOR, offering_id=offering_id)


@dramatiq.actor(actor_name=hooks.RECORDING_ACTOR, max_retries=10, min_backoff=10_000, max_backoff=900_000,
                time_limit=60 * 60_000)
async def conferencing_recording(job_id: str, meeting_organization_id: str, event_id: str) -> None:
    rt = runtime()
    await _unless_final(jobs.store_recording(rt.db, rt.settings, rt.storage, uuid.UUID(meeting_organization_id),
                                             uuid.UUID(event_id)), hooks.RECORDING_ACTOR, event_id=event_id)
