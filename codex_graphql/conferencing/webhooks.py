"""Zoom's webhooks, verified, stored once and handled by a job (docs/conferencing.md, "Recordings").

The meeting is found by Zoom's meeting id under the platform scope (the one cross-organization read: a meeting
row's organization), then the event is stored in that organization's inbox (``conferencing_event``, unique by
provider and event id) and its job queued in the same transaction. Zoom sends no event id; a recording's is
``recording.completed:<meeting instance uuid>``, one per meeting instance, so a replayed or concurrent duplicate
stores nothing and queues nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from codex_graphql import events
from codex_graphql.conferencing import hooks, repository, zoom
from codex_graphql.conferencing.models import ConferencingEvent, ConferencingProviderName
from codex_graphql.db import Database, TenantScope

RECORDING_COMPLETED = "recording.completed"
URL_VALIDATION = "endpoint.url_validation"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    queued: bool = False


async def ingest(db: Database, secret: str | None, raw: bytes, timestamp: str | None, signed: str | None,
                 payload: dict[str, Any]) -> Outcome:
    if not zoom.verify(secret, raw, timestamp, signed):
        return Outcome(400, {"error": "invalid signature"})
    assert secret is not None
    kind = str(payload.get("event") or "")
    if kind == URL_VALIDATION:
        plain = str((payload.get("payload") or {}).get("plainToken") or "")
        return Outcome(200, zoom.url_validation(secret, plain))
    if kind != RECORDING_COMPLETED:
        return Outcome(200, {"received": True, "ignored": kind})
    found = (payload.get("payload") or {}).get("object") or {}
    meeting_number, instance = str(found.get("id") or ""), str(found.get("uuid") or "")
    if not meeting_number or not instance:
        return Outcome(400, {"error": "no meeting in the event"})
    async with db.transaction(TenantScope.platform_wide()) as session:
        meeting = await repository.by_provider_id(session, ConferencingProviderName.ZOOM, meeting_number)
        organization_id, meeting_id = (meeting.organization_id, meeting.id) if meeting else (None, None)
    if organization_id is None or meeting_id is None:
        return Outcome(200, {"received": True, "ignored": "unknown meeting"})
    async with db.transaction(TenantScope(organization_id=organization_id)) as session:
        stored = await repository.add_event(session, ConferencingEvent(
            id=uuid.uuid4(), organization_id=organization_id, provider=ConferencingProviderName.ZOOM,
            event_id=f"{RECORDING_COMPLETED}:{instance}"[:200], event_type=kind, meeting_id=meeting_id,
            payload=payload))
        if stored is not None:
            events.enqueue(session, hooks.RECORDING_ACTOR, organization_id,
                           meeting_organization_id=str(organization_id), event_id=str(stored))
    return Outcome(200, {"received": True}, queued=stored is not None)
