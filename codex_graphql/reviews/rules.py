"""Review rules on plain values: rating bounds, body size and sanitizing, and which status a submission
or a moderation action leads to under each moderation level.

Submission (new review or edit of the customer's one review of the item):

=========  =====================================  ============================================
level      new review                             edit of an existing review
=========  =====================================  ============================================
NONE       PUBLISHED                              PUBLISHED
PRE        PENDING                                PENDING (every edit is approved again)
POST       PUBLISHED                              PUBLISHED; HIDDEN and REJECTED stay as they are
=========  =====================================  ============================================

Moderation: APPROVE (PENDING or REJECTED -> PUBLISHED), REJECT (PENDING -> REJECTED), HIDE
(PUBLISHED -> HIDDEN; not under NONE, which means "no moderation"), UNHIDE (HIDDEN -> PUBLISHED).
"""

from __future__ import annotations

import enum

import nh3
import strawberry

from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings.models import ModerationLevel
from codex_graphql.reviews.models import ReviewStatus

MIN_RATING = 1
MAX_RATING = 5
MAX_BODY_CHARS = 5000
TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "blockquote", "a"}
ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https"}


@strawberry.enum(description="What staff do with a review.")
class ModerationAction(enum.Enum):
    APPROVE = strawberry.enum_value("APPROVE", description="Publish a PENDING (or REJECTED) review.")
    REJECT = strawberry.enum_value("REJECT", description="Refuse a PENDING review; it is never shown publicly.")
    HIDE = strawberry.enum_value(
        "HIDE", description="Take a PUBLISHED review out of public view (moderation level PRE or POST)."
    )
    UNHIDE = strawberry.enum_value("UNHIDE", description="Show a HIDDEN review again.")


def check_rating(rating: int) -> int:
    if not MIN_RATING <= rating <= MAX_RATING:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The rating must be a whole number from {MIN_RATING} to {MAX_RATING}.",
                          "rating")
    return rating


def sanitize_body(body: str) -> str:
    """Size first (on what was sent), then nh3: only simple formatting and http(s) links (rel=nofollow ugc)
    survive; scripts, event handlers, styles and ``javascript:`` URLs are removed."""
    if len(body) > MAX_BODY_CHARS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A review may have at most {MAX_BODY_CHARS} characters.", "body")
    return nh3.clean(body, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="nofollow noopener noreferrer ugc", strip_comments=True).strip()


def status_for_submission(level: ModerationLevel, current: ReviewStatus | None) -> ReviewStatus:
    level = level.effective
    if level is ModerationLevel.PRE:
        return ReviewStatus.PENDING
    if level is ModerationLevel.POST and current in (ReviewStatus.HIDDEN, ReviewStatus.REJECTED):
        return current
    return ReviewStatus.PUBLISHED


_TRANSITIONS = {
    ModerationAction.APPROVE: ({ReviewStatus.PENDING, ReviewStatus.REJECTED}, ReviewStatus.PUBLISHED),
    ModerationAction.REJECT: ({ReviewStatus.PENDING}, ReviewStatus.REJECTED),
    ModerationAction.HIDE: ({ReviewStatus.PUBLISHED}, ReviewStatus.HIDDEN),
    ModerationAction.UNHIDE: ({ReviewStatus.HIDDEN}, ReviewStatus.PUBLISHED),
}


def status_after(action: ModerationAction, level: ModerationLevel, current: ReviewStatus) -> ReviewStatus:
    if action is ModerationAction.HIDE and level.effective is ModerationLevel.NONE:
        raise DomainError(ErrorCode.INVALID_STATE, "Moderation is off (level NONE): reviews cannot be hidden. "
                          "Set the moderation level to POST or PRE, or turn reviews off for the item.", "action")
    allowed, after = _TRANSITIONS[action]
    if current not in allowed:
        raise DomainError(ErrorCode.INVALID_STATE,
                          f"A {current.name} review cannot be given {action.name}.", "action")
    return after


def counted(status: ReviewStatus | None, rating: int | None) -> tuple[int, int]:
    """What a review adds to the rating summary: (1, rating) when PUBLISHED, else nothing."""
    if status is ReviewStatus.PUBLISHED and rating is not None:
        return 1, rating
    return 0, 0
