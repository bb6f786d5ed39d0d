"""submitReview (entitled customers) and moderateReview (staff with CONTENT_MANAGE)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import queries as content_queries
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.errors import UserError
from codex_graphql.payloads import errors_field, run_mutation
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded_mutation
from codex_graphql.relay import decode_id
from codex_graphql.reviews import rules, service
from codex_graphql.reviews.rules import ModerationAction
from codex_graphql.reviews.types import Review


@strawberry.input(description="A rating and review of an item the viewer owns. Submitting again edits the "
                  "viewer's existing review of the item (one per customer and item).")
class SubmitReviewInput:
    content_id: strawberry.ID = strawberry.field(description="The content item; it must accept reviews.")
    rating: int = strawberry.field(description="Stars, a whole number from 1 to 5.")
    body: str = strawberry.field(
        default="",
        description=f"Review text, at most {rules.MAX_BODY_CHARS} characters. Simple HTML (paragraphs, emphasis, "
        "lists, quotes, http(s) links) is kept; everything else (scripts, event handlers, styles, "
        "javascript: links) is removed.",
    )


@strawberry.input(description="A moderation decision on one review.")
class ModerateReviewInput:
    review_id: strawberry.ID = strawberry.field(description="The review, in the active organization.")
    action: ModerationAction = strawberry.field(description="APPROVE, REJECT, HIDE or UNHIDE.")


@strawberry.type(description="Result of submitReview.")
class SubmitReviewPayload:
    errors: list[UserError] = errors_field()
    review: Review | None = strawberry.field(
        default=None, description="The viewer's review after the change; PENDING while it awaits approval."
    )
    content: Content | None = strawberry.field(default=None, description="The item, with its updated rating.")


@strawberry.type(description="Result of moderateReview.")
class ModerateReviewPayload:
    errors: list[UserError] = errors_field()
    review: Review | None = strawberry.field(default=None, description="The review after the decision.")


@strawberry.type
class ReviewMutations:
    @guarded_mutation(
        IsAuthenticated(),
        description="Rate and review an item you bought, were given or claimed. One review per customer and item: "
        "submitting again edits it (under moderation level PRE the edit waits for approval again). Refused with "
        "NOT_ALLOWED when the item does not accept reviews or you are not entitled to it, INVALID_INPUT for a "
        "rating outside 1 to 5 or an oversized body.",
    )
    async def submit_review(
        self, info: strawberry.Info,
        input: Annotated[SubmitReviewInput, strawberry.argument(description=(
            "The content item, the rating (whole stars, 1 to 5) and optional text; the viewer "
            "must own the item. Submitting again edits the review."
        ))],
    ) -> SubmitReviewPayload:
        ctx: Context = info.context

        async def action() -> dict:
            content, entitled = await content_queries.named_item(ctx, input.content_id, deleted_too=False)
            review = await service.submit(ctx.db, ctx.viewer, content, entitled,
                                          service.Submission(rating=input.rating, body=input.body))
            return {"review": Review.from_model(review), "content": Content.from_model(content)}

        return await run_mutation(info, SubmitReviewPayload, action)

    @guarded_mutation(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Approve, reject, hide or unhide a review of the active organization's content (creators: of the "
        "items they created; CONTENT_MANAGE_ALL: of every item). Written to the audit log. INVALID_STATE when the action does not apply to the review's status (or HIDE under moderation "
        "level NONE).",
    )
    async def moderate_review(
        self, info: strawberry.Info,
        input: Annotated[ModerateReviewInput, strawberry.argument(description=(
            "The review and the moderation action (APPROVE, REJECT, HIDE, UNHIDE) to apply."
        ))],
    ) -> ModerateReviewPayload:
        ctx: Context = info.context

        async def action() -> dict:
            review = await service.moderate(ctx.db, ctx.viewer, decode_id(input.review_id, "Review"), input.action)
            return {"review": Review.from_model(review)}

        return await run_mutation(info, ModerateReviewPayload, action)


__all__ = ["ReviewMutations"]
