"""Recording audit entries, in the caller's transaction.

Services call ``record(session, ...)`` next to the change they audit, so the entry commits (or
vanishes) with it. Who acted and from where comes from an ``AuditContext`` the request (or job)
attaches to its session (``attach``: the typed ``db.SessionState``), so services never see HTTP objects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.audit.models import AuditAction, AuditLogEntry
from codex_graphql.db import TenantScope, rescope, scope_of, state_of


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts and from where: the signed-in user (if any), the request id, client IP and user agent."""

    actor_user_id: uuid.UUID | None = None
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    # The system acting when no person does (a periodic job), for entries that name no ``actor_service``.
    actor_service: str | None = None


def attach(session: AsyncSession, context: AuditContext) -> None:
    state_of(session).audit = context


def context_of(session: AsyncSession) -> AuditContext:
    return state_of(session).audit or AuditContext()


async def record(session: AsyncSession, action: AuditAction, *, organization_id: uuid.UUID | None,
                 target_type: str, target_id: uuid.UUID | None, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None, actor_user_id: uuid.UUID | None = None,
                 actor_service: str | None = None) -> AuditLogEntry:
    """Add one entry (flushed at once, so row-level security checks it in the current scope).

    ``actor_user_id`` defaults to the context's user; ``actor_service`` names the system that acted when
    no person did (``stripe`` for what the payment provider's webhooks reported). A platform entry (``organization_id`` None) is
    written in the actor's own scope, which its row policy requires; during sign-in the request is
    still anonymous, so the scope is switched for this one insert and then restored.
    """
    context = context_of(session)
    actor = actor_user_id or context.actor_user_id
    entry = AuditLogEntry(
        organization_id=organization_id, actor_user_id=actor, actor_service=actor_service or context.actor_service, action=action, target_type=target_type,
        target_id=target_id, before=before, after=after, request_id=context.request_id,
        ip=(context.ip or None) and context.ip[:64], user_agent=(context.user_agent or None) and context.user_agent[:400],
    )
    session.add(entry)
    previous = scope_of(session)
    if organization_id is None and actor is not None and previous.user_id != actor:
        await rescope(session, TenantScope(user_id=actor, organization_id=previous.organization_id))
        try:
            await session.flush()
        finally:
            await rescope(session, previous)
    else:
        await session.flush()
    return entry


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, as (before, after)."""
    keys = [key for key in after if before.get(key) != after[key]] + [key for key in before if key not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
