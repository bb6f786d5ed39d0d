"""Review rules with the database: submit (or edit) the customer's one review of an item, moderate it,
and keep the item's published-rating summary in step in the same transaction. Services never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.authz import Permission, Viewer
from codex_graphql.content import repository as content_repository
from codex_graphql.content.models import Content
from codex_graphql.db import acting_in, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings import service as org_settings
from codex_graphql.reviews import repository, rules
from codex_graphql.reviews.models import Review, ReviewStatus
from codex_graphql.reviews.rules import ModerationAction


@dataclass(frozen=True, slots=True)
class Submission:
    rating: int
    body: str


async def _apply_delta(session: AsyncSession, review: Review, before: tuple[int, int]) -> None:
    after = rules.counted(review.status, review.rating)
    count, total = after[0] - before[0], after[1] - before[1]
    if count or total:
        await repository.add_to_summary(session, review.organization_id, review.content_id, count, total)


async def submit(session: AsyncSession, viewer: Viewer, content: Content, entitled: bool,
                 submission: Submission) -> Review:
    """The customer's review of ``content``: created the first time, edited afterwards. Everything is
    checked before anything is written."""
    rating = rules.check_rating(submission.rating)
    body = rules.sanitize_body(submission.body)
    if not content.reviews_enabled:
        raise DomainError(ErrorCode.NOT_ALLOWED, "This item does not accept reviews.", "contentId")
    if not entitled:
        raise DomainError(ErrorCode.NOT_ALLOWED, "Only people who bought (or were given) this item can review it.",
                          "contentId")
    assert viewer.user_id is not None
    level = (await org_settings.content_defaults(session, content.organization_id)).moderation_level
    # The customer writes into the item's organization; the entitlement was checked above.
    async with acting_in(session, content.organization_id):
        created = await repository.insert_if_absent(session, {
            "id": uuid.uuid4(), "organization_id": content.organization_id, "content_id": content.id,
            "user_id": viewer.user_id, "rating": rating, "body": body,
            "status": rules.status_for_submission(level, None),
        })
        review = await repository.own_for_update(session, content.organization_id, content.id, viewer.user_id)
        assert review is not None
        if created is not None:
            before = (0, 0)
        else:
            before = rules.counted(review.status, review.rating)
            review.status = rules.status_for_submission(level, review.status)
            review.rating = rating
            review.body = body
            review.updated_at = utcnow()
            await session.flush()
        await _apply_delta(session, review, before)
    return review


async def moderate(session: AsyncSession, viewer: Viewer, review_id: uuid.UUID | None,
                   action: ModerationAction) -> Review:
    organization_id = viewer.active_organization_id
    review = await repository.for_update(session, organization_id, review_id) if review_id and organization_id else None
    if review is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No review has this id in your organization.", "reviewId")
    if not viewer.can(Permission.CONTENT_MANAGE_ALL, review.organization_id):
        # As for the items themselves: creators moderate the reviews of the items they created.
        content = await content_repository.by_id(session, review.content_id)
        if content is None or content.creator_id != viewer.user_id:
            raise DomainError(ErrorCode.NOT_ALLOWED, "You can only moderate reviews of content you created.",
                              "reviewId")
    level = (await org_settings.content_defaults(session, review.organization_id)).moderation_level
    before_status = review.status
    before = rules.counted(review.status, review.rating)
    review.status = rules.status_after(action, level, review.status)
    review.moderated_at = utcnow()
    review.moderated_by = viewer.user_id
    await session.flush()
    await _apply_delta(session, review, before)
    await audit.record(session, audit.AuditAction.REVIEW_MODERATED, organization_id=review.organization_id,
                       target_type="Review", target_id=review.id, before={"status": before_status.name},
                       after={"status": review.status.name, "action": action.name})
    return review


def sees_every_status(viewer: Viewer, organization_id: uuid.UUID) -> bool:
    return viewer.can(Permission.CONTENT_MANAGE, organization_id)


def average(count: int, total: int) -> float | None:
    return round(total / count, 2) if count else None


PUBLIC_STATUSES = (ReviewStatus.PUBLISHED,)
ALL_STATUSES = tuple(ReviewStatus)
