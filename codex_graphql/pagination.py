"""Keyset pagination for repositories: stable order on (created_at, id), opaque cursors."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.relay import Page


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{id_}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, _, raw_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        # Normalized to UTC here: a forged offset near year 1 or 9999 would otherwise overflow in the driver.
        return created_at.astimezone(UTC), uuid.UUID(raw_id)
    except (ValueError, OverflowError) as exc:
        raise GraphQLError("Invalid cursor.", extensions={"code": "BAD_USER_INPUT"}) from exc


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    *,
    created_col: Any,
    id_col: Any,
    first: int,
    after: str | None,
    newest_first: bool = True,
) -> Page[Any]:
    """One page of ``statement`` (which selects ORM entities or rows), newest first by default."""
    if after:
        created_at, id_ = decode_cursor(after)
        if newest_first:
            statement = statement.where(
                or_(created_col < created_at, and_(created_col == created_at, id_col < id_))
            )
        else:
            statement = statement.where(
                or_(created_col > created_at, and_(created_col == created_at, id_col > id_))
            )
    order = (created_col.desc(), id_col.desc()) if newest_first else (created_col.asc(), id_col.asc())
    rows = list((await session.execute(statement.order_by(*order).limit(first + 1))).scalars())
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=rows,
        cursors=[encode_cursor(r.created_at, r.id) for r in rows],
        has_next_page=has_next,
        has_previous_page=bool(after),
    )
