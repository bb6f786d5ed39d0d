"""SQL for reviews and rating summaries. Statements on tenant tables are scoped with ``in_organization``
or by content/user ids the service has checked; RLS (migration 0012) enforces the boundary below."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from codex_graphql.authz import in_organization
from codex_graphql.pagination import decode_cursor
from codex_graphql.reviews.models import ContentRating, Review, ReviewStatus


async def insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Insert the customer's first review of an item; None when they have one already. A concurrent first
    submission by the same customer waits for the other transaction, then finds the row (no error)."""
    statement = insert(Review).values(**values).on_conflict_do_nothing(
        index_elements=[Review.content_id, Review.user_id]
    ).returning(Review.id)
    return (await session.execute(statement)).scalar_one_or_none()


async def own_for_update(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                         user_id: uuid.UUID) -> Review | None:
    statement = in_organization(select(Review), Review, organization_id).where(
        Review.content_id == content_id, Review.user_id == user_id
    )
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def for_update(session: AsyncSession, organization_id: uuid.UUID, review_id: uuid.UUID) -> Review | None:
    statement = in_organization(select(Review), Review, organization_id).where(Review.id == review_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def by_id(session: AsyncSession, review_id: uuid.UUID) -> Review | None:
    """Any review RLS lets this transaction see (published, the viewer's own, or the active organization's)."""
    return await session.scalar(select(Review).where(Review.id == review_id))


async def add_to_summary(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                         count: int, total: int) -> None:
    """Add a delta to the item's published-rating summary in one atomic upsert (row-locked). A negative
    delta only follows a counted review, so the row exists then; the inserted values (checked by the
    constraint even when the row exists) are never negative."""
    statement = insert(ContentRating).values(
        content_id=content_id, organization_id=organization_id, rating_count=max(count, 0), rating_sum=max(total, 0)
    )
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ContentRating.content_id],
        set_={"rating_count": ContentRating.rating_count + count, "rating_sum": ContentRating.rating_sum + total},
    ))


async def summaries(session: AsyncSession, content_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    rows = await session.execute(
        select(ContentRating.content_id, ContentRating.rating_count, ContentRating.rating_sum)
        .where(ContentRating.content_id.in_(content_ids))
    )
    return {content_id: (count, total) for content_id, count, total in rows.all()}


async def own_reviews(session: AsyncSession, user_id: uuid.UUID, content_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Review]:
    rows = await session.scalars(select(Review).where(Review.user_id == user_id, Review.content_id.in_(content_ids)))
    return {review.content_id: review for review in rows.all()}


async def pages(session: AsyncSession, content_ids: Sequence[uuid.UUID], statuses: Sequence[ReviewStatus],
                first: int, after: str | None) -> dict[uuid.UUID, list[Review]]:
    """Up to ``first + 1`` reviews per item, newest first, in one statement for every item of the batch."""
    conditions = [Review.content_id.in_(content_ids), Review.status.in_(statuses)]
    if after:
        created_at, id_ = decode_cursor(after)
        conditions.append(or_(Review.created_at < created_at, and_(Review.created_at == created_at, Review.id < id_)))
    position = func.row_number().over(
        partition_by=Review.content_id, order_by=(Review.created_at.desc(), Review.id.desc())
    ).label("position")
    ranked = select(Review, position).where(*conditions).subquery()
    row = aliased(Review, ranked)
    statement = select(row).where(ranked.c.position <= first + 1).order_by(ranked.c.content_id, ranked.c.position)
    found: dict[uuid.UUID, list[Review]] = {content_id: [] for content_id in content_ids}
    for review in (await session.scalars(statement)).all():
        found[review.content_id].append(review)
    return found


async def counts(session: AsyncSession, content_ids: Sequence[uuid.UUID],
                 statuses: Sequence[ReviewStatus]) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(Review.content_id, func.count()).where(Review.content_id.in_(content_ids), Review.status.in_(statuses))
        .group_by(Review.content_id)
    )
    return {content_id: int(count) for content_id, count in rows.all()}
