"""GraphQL shapes of reviews, and the connection builder used by ``Content.reviews``."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.context import Context
from codex_graphql.pagination import encode_cursor
from codex_graphql.relay import (
    Connection,
    Node,
    Page,
    build_connection,
    check_first,
    register_node,
    to_global_id,
)
from codex_graphql.reviews import loaders, repository, service
from codex_graphql.reviews.models import Review as ReviewModel
from codex_graphql.reviews.models import ReviewStatus
from codex_graphql.row_types import from_row


@strawberry.type(description="A customer's rating and review of a content item.")
class Review(Node):
    rating: int = strawberry.field(description="Stars, 1 to 5.")
    body: str = strawberry.field(
        description="The review text as sanitized HTML (paragraphs, emphasis, lists, quotes and http(s) links "
        "with rel=\"nofollow ugc\"); may be empty."
    )
    status: ReviewStatus = strawberry.field(
        description="PUBLISHED for everyone; authors and staff with CONTENT_MANAGE also see their PENDING, "
        "HIDDEN and REJECTED reviews."
    )
    created_at: datetime = strawberry.field(description="When the review was first submitted.")
    updated_at: datetime = strawberry.field(description="When the review was last edited or moderated.")
    row: strawberry.Private[ReviewModel]

    @classmethod
    def from_model(cls, review: ReviewModel) -> Review:
        return from_row(cls, review, "Review", row=review)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="Who wrote it (display name only).")
    async def author(self, info: strawberry.Info) -> User | None:
        user = await account_loaders.users(info.context).load(self.row.user_id)
        return User.from_model(user) if user else None

    @strawberry.field(description="The content item's global id.")
    def content_id(self) -> strawberry.ID:
        return to_global_id("Content", self.row.content_id)


async def connection(ctx: Context, content_id: uuid.UUID, statuses: tuple[ReviewStatus, ...], first: int | None,
                     after: str | None, *, published_only: bool) -> Connection[Review]:
    size = check_first(first)
    rows = await loaders.pages(ctx).load((content_id, statuses, size, after))
    items = rows[:size]
    page = Page(items=items, cursors=[encode_cursor(r.created_at, r.id) for r in items],
                has_next_page=len(rows) > size, has_previous_page=bool(after))

    async def count() -> int:
        if published_only:  # O(1): the maintained summary row
            return (await loaders.summaries(ctx).load(content_id))[0]
        return await loaders.counts(ctx).load((content_id, statuses))

    return build_connection(page, Review.from_model, count)


@register_node("Review")
async def visible_review(ctx: Context, review_id: uuid.UUID) -> Review | None:
    """Published reviews for everyone, the author's own, and any of the active organization's for staff
    with CONTENT_MANAGE."""
    review = await repository.by_id(ctx.db, review_id)
    if review is None:
        return None
    if (review.status is ReviewStatus.PUBLISHED or review.user_id == ctx.viewer.user_id
            or service.sees_every_status(ctx.viewer, review.organization_id)):
        return Review.from_model(review)
    return None
