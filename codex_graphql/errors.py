"""Errors: domain errors raised by services, and the GraphQL shapes clients see.

Services raise ``DomainError``; mutations turn it into ``errors: [UserError!]!`` on the payload.
Authentication and permission failures are GraphQL errors carrying ``extensions.code``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError

from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="Machine-readable reason a mutation did not do what was asked.")
class ErrorCode(enum.StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"
    EXPIRED_TOKEN = "EXPIRED_TOKEN"
    THROTTLED = "THROTTLED"
    NOT_ALLOWED = "NOT_ALLOWED"
    INVALID_STATE = "INVALID_STATE"
    CONFLICT = "CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ALREADY_OWNED = "ALREADY_OWNED"
    PAYMENT_PROVIDER_ERROR = "PAYMENT_PROVIDER_ERROR"
    REFUND_EXCEEDS_REMAINING = "REFUND_EXCEEDS_REMAINING"
    DOWNLOAD_LIMIT_REACHED = "DOWNLOAD_LIMIT_REACHED"
    LAST_OWNER = "LAST_OWNER"
    EMAIL_ALREADY_VERIFIED = "EMAIL_ALREADY_VERIFIED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"


describe_values(ErrorCode, {
    "INVALID_INPUT": "An input field is malformed or out of range (length, format, number limits); `field` "
                     "names it. Fix the input and retry.",
    "NOT_FOUND": "The id, slug or email given names nothing the viewer can see (missing, deleted or in "
                 "another organization).",
    "ALREADY_EXISTS": "The thing to create exists already: a taken or reserved organization slug, a "
                      "registered email, a person who is already a member.",
    "WEAK_PASSWORD": "The new password is refused: shorter than 10 characters, longer than 1024 characters,"
                     " equal to the email address, or too repetitive (fewer than 4 different characters). "
                     "The message says which.",
    "INVALID_CREDENTIALS": "Sign-in failed: unknown email or wrong password (deliberately not told apart).",
    "INVALID_TOKEN": "A link token (email verification, password reset, invitation) is not valid, was "
                     "withdrawn or was already used.",
    "EXPIRED_TOKEN": "A link token was valid but is past its expiry; ask for a new link.",
    "THROTTLED": "Too many attempts (sign-ins, verification emails and the like) in the current window; the"
                 " message says when to retry. Nothing was changed.",
    "NOT_ALLOWED": "The viewer may call the mutation but not on this object: for example managing content "
                   "someone else created without CONTENT_MANAGE_ALL, or reviewing an item they do not own.",
    "INVALID_STATE": "The object is not in a state where this applies: an upload already completed, content"
                     " not READY to publish, an expired logo upload, a moderation action that does not fit "
                     "the review's status.",
    "CONFLICT": "A concurrent request changed the same thing at the same moment; retrying is safe.",
    "IDEMPOTENCY_KEY_REUSED": "The `idempotencyKey` was already used with a different input; use a new key "
                              "for a new request.",
    "ALREADY_OWNED": "The person already has access to the content (bought, claimed or granted); nothing to"
                     " buy, claim or grant.",
    "PAYMENT_PROVIDER_ERROR": "The payment provider (Stripe) refused or could not be reached; nothing was "
                              "charged or refunded twice. Retrying with the same idempotency key is safe.",
    "REFUND_EXCEEDS_REMAINING": "The refund asked for is more than what remains refundable on the purchase "
                                "(amount minus what was already refunded).",
    "DOWNLOAD_LIMIT_REACHED": "The viewer has used all downloads their access to the item allows (the "
                              "organization's download limit per purchase, grant or claim, or per item of a "
                              "subscription; 5 by default).",
    "LAST_OWNER": "The change would leave the organization without an OWNER (removing, demoting or the "
                  "leaving of its last owner).",
    "EMAIL_ALREADY_VERIFIED": "The account's email address is verified already; no verification email is "
                              "sent.",
    "INSUFFICIENT_CREDITS": "The customer's credit balance is smaller than the credits to spend or take away; "
                            "balances never go below zero. Nothing was changed.",
})


@strawberry.type(description="A problem with the input of a mutation. Nothing was changed.")
class UserError:
    code: ErrorCode = strawberry.field(description="Machine-readable error code.")
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, e.g. [\"input\", \"email\"]; null when not tied to one."
    )
    message: str = strawberry.field(description="Human-readable explanation, safe to show to end users.")


class DomainError(Exception):
    """A rule of the domain said no. Carries one or more user-facing errors.

    ``after_rollback``: work that must survive the refusal (e.g. the lockout notice of a failed
    sign-in). ``run_mutation`` rolls back the mutation's savepoint, then awaits each with the session.
    """

    after_rollback: tuple[Callable[[Any], Awaitable[None]], ...] = ()

    def __init__(self, code: ErrorCode, message: str, field: str | Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.errors = [_user_error(code, message, field)]

    @classmethod
    def many(cls, errors: list[UserError]) -> DomainError:
        error = cls(errors[0].code, errors[0].message, errors[0].field)
        error.errors = errors
        return error


def _user_error(code: ErrorCode, message: str, field: str | Sequence[str] | None) -> UserError:
    if isinstance(field, str):
        path: list[str] | None = ["input", *field.split(".")]
    elif field is not None:
        path = ["input", *field]
    else:
        path = None
    return UserError(code=code, field=path, message=message)


class AuthError(GraphQLError):
    code = "FORBIDDEN"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class Unauthenticated(AuthError):
    code = "UNAUTHENTICATED"


class Forbidden(AuthError):
    code = "FORBIDDEN"


# Codes clients may see verbatim; anything else is masked to INTERNAL_SERVER_ERROR.
VISIBLE_CODES = frozenset({
    "UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT", "THROTTLED", "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED", "OPERATION_NOT_ALLOWED", "PERSISTED_QUERY_NOT_FOUND",
    "DEVICE_LIMIT_REACHED", "DEVICE_REQUIRED",
})


def is_client_error(error: GraphQLError) -> bool:
    """Errors of the request itself (parse, validation, variable coercion) or raised deliberately
    with a visible code; everything else is a bug or an outage and gets masked."""
    original = error.original_error
    if original is None:
        return True
    if not isinstance(original, GraphQLError):
        return False
    code = (original.extensions or {}).get("code")
    if code is not None:
        return code in VISIBLE_CODES
    # graphql-core's own errors about the request carry no path (e.g. a variable of the wrong
    # type, or a required variable not provided); an error raised inside a resolver always has one.
    return error.path is None
