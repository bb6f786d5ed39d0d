"""SQL for the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.audit.models import AuditAction, AuditLogEntry
from codex_graphql.authz import in_organization
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: AuditAction | None = None
    actor_user_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    from_: datetime | None = None
    to: datetime | None = None


def _filtered(statement: Select[Any], organization_id: uuid.UUID, where: AuditFilter) -> Select[Any]:
    statement = in_organization(statement, AuditLogEntry, organization_id)
    if where.action is not None:
        statement = statement.where(AuditLogEntry.action == where.action)
    if where.actor_user_id is not None:
        statement = statement.where(AuditLogEntry.actor_user_id == where.actor_user_id)
    if where.target_id is not None:
        statement = statement.where(AuditLogEntry.target_id == where.target_id)
    if where.from_ is not None:
        statement = statement.where(AuditLogEntry.created_at >= where.from_)
    if where.to is not None:
        statement = statement.where(AuditLogEntry.created_at < where.to)
    return statement


async def organization_page(session: AsyncSession, organization_id: uuid.UUID, where: AuditFilter, first: int,
                            after: str | None) -> Page[AuditLogEntry]:
    statement = _filtered(select(AuditLogEntry), organization_id, where)
    return await keyset_page(session, statement, created_col=AuditLogEntry.created_at, id_col=AuditLogEntry.id,
                             first=first, after=after)


async def organization_count(session: AsyncSession, organization_id: uuid.UUID, where: AuditFilter) -> int:
    statement = _filtered(select(func.count()).select_from(AuditLogEntry), organization_id, where)
    return int(await session.scalar(statement) or 0)
