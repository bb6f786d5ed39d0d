"""SQL of the revenue split terms: an item's co-creators."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.earnings.models import ContentContributor


async def contributors(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID) -> list[ContentContributor]:
    """An item's co-creators, in the order they were added."""
    return list((await session.scalars(select(ContentContributor).where(
        ContentContributor.organization_id == organization_id, ContentContributor.content_id == content_id,
    ).order_by(ContentContributor.created_at, ContentContributor.user_id))).all())


async def replace_contributors(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                               shares: list[tuple[uuid.UUID, int]]) -> None:
    """The item's co-creators become ``shares`` (user, percent); the caller holds the item's row lock."""
    await session.execute(delete(ContentContributor).where(ContentContributor.organization_id == organization_id,
                                                           ContentContributor.content_id == content_id))
    session.add_all(ContentContributor(content_id=content_id, user_id=user_id, organization_id=organization_id,
                                       share_percent=percent) for user_id, percent in shares)
    await session.flush()


__all__ = ["contributors", "replace_contributors"]
