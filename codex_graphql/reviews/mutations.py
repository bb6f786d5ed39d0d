"""submitReview (entitled customers) and moderateReview (staff with CONTENT_MANAGE)."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content import queries as content_queries
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated
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


@strawberry.type
class ReviewMutations:
    @mutation_field(
        IsAuthenticated(),
        description="Rate and review an item you bought, were given or claimed. One review per customer and item: "
        "submitting again edits it (under moderation level PRE the edit waits for approval again). Refused with "
        "NOT_ALLOWED when the item does not accept reviews or you are not entitled to it, INVALID_INPUT for a "
        "rating outside 1 to 5 or an oversized body.",
        input_description="The content item, the rating (whole stars, 1 to 5) and optional text; the viewer must own "
        "the item. Submitting again edits the review.",
        payload={"review": (Review, "The viewer's review after the change; PENDING while it awaits approval."),
                 "content": (Content, "The item, with its updated rating.")},
    )
    async def submit_review(ctx: Context, input: SubmitReviewInput) -> dict:
        content, entitled = await content_queries.named_item(ctx, input.content_id, deleted_too=False)
        review = await service.submit(ctx.db, ctx.viewer, content, entitled,
                                      service.Submission(rating=input.rating, body=input.body))
        return {"review": Review.from_model(review), "content": Content.from_model(content)}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE),
        description="Approve, reject, hide or unhide a review of the active organization's content (creators: of the "
        "items they created; CONTENT_MANAGE_ALL: of every item). Written to the audit log. INVALID_STATE when the "
        "action does not apply to the review's status (or HIDE under moderation level NONE).",
        input_description="The review and the moderation action (APPROVE, REJECT, HIDE, UNHIDE) to apply.",
        payload={"review": (Review, "The review after the decision.")},
    )
    async def moderate_review(ctx: Context, input: ModerateReviewInput) -> dict:
        review = await service.moderate(ctx.db, ctx.viewer, decode_id(input.review_id, "Review"), input.action)
        return {"review": Review.from_model(review)}


__all__ = ["ReviewMutations"]
