"""Adding a row that a unique constraint may refuse, without losing the surrounding transaction."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.errors import DomainError


async def add_unique(session: AsyncSession, row: object, error: DomainError) -> None:
    """Add ``row`` and flush it under a savepoint. When the database refuses it (a concurrent twin
    committed first, past the caller's own check), only the savepoint rolls back and ``error`` is raised,
    so the request's transaction stays usable."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise error from exc
