"""SQL of article bodies. Reads are scoped by row-level security (``article_body``'s policies follow its item's
visibility, migration 0028); writes name the organization."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.articles.models import ArticleBody


async def bodies(session: AsyncSession, content_ids: list[uuid.UUID]) -> dict[uuid.UUID, ArticleBody]:
    """The bodies of these articles that the reader may see (one statement for a page of items)."""
    statement = select(ArticleBody).where(ArticleBody.content_id.in_(content_ids))
    return {row.content_id: row for row in (await session.scalars(statement)).all()}


async def save(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
               values: dict[str, Any]) -> None:
    """Insert or replace the article's body."""
    statement = insert(ArticleBody).values(content_id=content_id, organization_id=organization_id, **values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ArticleBody.content_id], set_={**values, "updated_at": statement.excluded.updated_at},
        where=ArticleBody.organization_id == organization_id))

