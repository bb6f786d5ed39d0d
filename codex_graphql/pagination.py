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


CURSOR_MEMO_BOUND = 8_192


class Cursors:
    """``encode_cursor`` remembered by row id (with the instant it was encoded for, compared on every hit,
    so a row whose ``created_at`` differs, or is in another time zone, gets its own cursor): a page's rows come back request after
    request. Bounded: at ``bound`` entries the memo is cleared and starts over (``known`` stays the same dict,
    so a caller may hold it)."""

    __slots__ = ("bound", "known")

    def __init__(self, bound: int = CURSOR_MEMO_BOUND) -> None:
        self.bound = bound
        self.known: dict[Any, tuple[datetime, str]] = {}

    def __call__(self, created_at: datetime, id_: uuid.UUID) -> str:
        found = self.known.get(id_)
        # Equal instants in the same tzinfo object encode alike (the driver's are UTC); anything else is a miss.
        if found is not None and found[0] == created_at and found[0].tzinfo is created_at.tzinfo:
            return found[1]
        cursor = encode_cursor(created_at, id_)
        if len(self.known) >= self.bound:
            self.known.clear()
        self.known[id_] = (created_at, cursor)
        return cursor


memo_cursor = Cursors()  # the process's memo (the compiled path's connections); ``encode_cursor`` stays plain


def invalid_cursor() -> GraphQLError:
    return GraphQLError("Invalid cursor.", extensions={"code": "BAD_USER_INPUT"})


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def cursor_instant(raw: object) -> datetime:
    """An aware instant from a cursor, normalized to UTC: a forged offset near year 1 or 9999 would
    otherwise overflow in the driver (ValueError/OverflowError for the caller to turn into a bad cursor)."""
    if not isinstance(raw, str):
        raise ValueError("not a timestamp")
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None:
        raise ValueError("naive timestamp")
    return instant.astimezone(UTC)


def cursor_int(raw: object) -> int:
    """A bigint from a cursor: JSON integers are unbounded, PostgreSQL's bigint is not."""
    if not isinstance(raw, int) or isinstance(raw, bool) or not BIGINT_MIN <= raw <= BIGINT_MAX:
        raise ValueError("not a bigint")
    return raw


def cursor_text(raw: object) -> str:
    """Text from a cursor; NUL (which PostgreSQL's text refuses) makes it invalid."""
    if not isinstance(raw, str) or "\x00" in raw:
        raise ValueError("not text")
    return raw


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, _, raw_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return cursor_instant(created), uuid.UUID(raw_id)
    except (ValueError, OverflowError) as exc:
        raise invalid_cursor() from exc


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
