"""Errors: domain errors raised by services, and the GraphQL shapes clients see.

Services raise ``DomainError``; mutations turn it into ``errors: [UserError!]!`` on the payload.
Authentication and permission failures are GraphQL errors carrying ``extensions.code``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import strawberry
from graphql import GraphQLError


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


@strawberry.type(description="A problem with the input of a mutation. Nothing was changed.")
class UserError:
    code: ErrorCode = strawberry.field(description="Machine-readable error code.")
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, e.g. [\"input\", \"email\"]; null when not tied to one."
    )
    message: str = strawberry.field(description="Human-readable explanation, safe to show to end users.")


class DomainError(Exception):
    """A rule of the domain said no. Carries one or more user-facing errors."""

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
