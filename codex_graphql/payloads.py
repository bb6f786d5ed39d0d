"""Running a mutation: one savepoint per mutation field; domain errors become payload errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from codex_graphql.errors import DomainError, ErrorCode, UserError

P = TypeVar("P")


async def run_mutation(info: strawberry.Info, payload: type[P], action: Callable[[], Awaitable[dict[str, Any]]]) -> P:
    """Run ``action`` inside a savepoint. On ``DomainError`` nothing it did survives and the
    payload carries the errors; otherwise the payload gets the returned fields and ``errors: []``."""
    session = info.context.db
    savepoint = await session.begin_nested()
    try:
        fields = await action()
    except DomainError as error:
        await savepoint.rollback()
        for effect in error.after_rollback:
            await effect(session)
        return payload(errors=error.errors)  # type: ignore[call-arg]
    except BaseException:
        await savepoint.rollback()
        raise
    await savepoint.commit()
    return payload(errors=[], **fields)  # type: ignore[call-arg]


def invalid_id(field: str, what: str = "object") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"No {what} has this id.", field)


ERRORS_FIELD_DESCRIPTION = "Problems with the input; empty when the mutation succeeded."


def errors_field() -> Any:
    return strawberry.field(description=ERRORS_FIELD_DESCRIPTION)


__all__ = ["UserError", "errors_field", "invalid_id", "run_mutation"]
