"""SQL for settings: the organization row itself (RLS lets only its own scope update it)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.organizations.models import Organization


async def for_update(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.id == organization_id).with_for_update())


async def settings_of(session: AsyncSession, organization_id: uuid.UUID) -> tuple[str, str, dict] | None:
    row = (await session.execute(
        select(Organization.name, Organization.timezone, Organization.settings).where(Organization.id == organization_id)
    )).first()
    return (row[0], row[1], row[2]) if row else None
