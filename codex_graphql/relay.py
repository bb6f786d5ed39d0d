"""Relay conventions: global ids, the Node interface, and connections.

On the request path, the shape of every list field and ``node(id:)`` for the resolvers and the compiled
path alike (GraphQL Relay; the outbox relay of the event path is ``events.OutboxRelay``).

Connections expose ``edges { cursor node }``, ``nodes``, ``pageInfo`` and ``totalCount``; ``first`` is
capped at 100. ``totalCount`` runs its count query only when a client selects it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")


def to_global_id(type_name: str, id_: uuid.UUID | str) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{id_}".encode()).decode().rstrip("="))


MEMO_BOUND = 8_192  # global ids kept per type by ``GlobalIds`` (then the memo starts over)


class GlobalIds:
    """``to_global_id`` for one type, remembered by raw id: the same items are answered request after
    request (a catalogue page encodes a hundred ids), and a dict lookup costs a fraction of the encoding.
    Bounded: at ``bound`` entries the memo is cleared and starts over (no per-entry bookkeeping on a hit).
    ``ids`` stays the same dict for the memo's life, so generated code may hold it (``ids.get(raw) or memo(raw)``).
    """

    __slots__ = ("bound", "ids", "type_name")

    def __init__(self, type_name: str, bound: int = MEMO_BOUND) -> None:
        self.type_name = type_name
        self.bound = bound
        self.ids: dict[Any, str] = {}

    def __call__(self, id_: uuid.UUID | str) -> str:
        found = self.ids.get(id_)
        if found is None:
            found = to_global_id(self.type_name, id_)
            if len(self.ids) >= self.bound:
                self.ids.clear()
            self.ids[id_] = found
        return found


_GLOBAL_IDS: dict[str, GlobalIds] = {}


def global_ids(type_name: str) -> GlobalIds:
    """The process's memo of ``type_name``'s global ids (one per type, so at most types x MEMO_BOUND entries).

    ``to_global_id`` itself stays a plain function: the raw-SQL benchmark server imports it as its baseline."""
    memo = _GLOBAL_IDS.get(type_name)
    if memo is None:
        memo = _GLOBAL_IDS[type_name] = GlobalIds(type_name)
    return memo


def from_global_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    """Decode a global id; ``None`` for anything malformed (callers answer NOT_FOUND)."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def decode_id(global_id: str, expected_type: str) -> uuid.UUID | None:
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != expected_type:
        return None
    return decoded[1]


@strawberry.interface(description="An object with a globally unique, opaque ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Globally unique opaque identifier.")


@strawberry.type(description="Where a page sits in a list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item on the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass as `after` for the next page.")


@strawberry.type(description="An item in a connection, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay-style.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="Items with their cursors.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The items of this page without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Number of items in the whole list, across pages.")
    async def total_count(self) -> int:
        return await self._count()


def check_first(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > MAX_PAGE_SIZE:
        raise GraphQLError(
            f"`first` must be between 0 and {MAX_PAGE_SIZE}.", extensions={"code": "BAD_USER_INPUT"}
        )
    return first


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """What a repository returns for one page: rows in order plus their cursors."""

    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def build_connection(page: Page[Any], to_node: Callable[[Any], T], count: Callable[[], Awaitable[int]]) -> Connection[T]:
    edges = [Edge(cursor=c, node=to_node(item)) for item, c in zip(page.items, page.cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        _count=count,
    )


NodeResolver = Callable[[Any, uuid.UUID], Awaitable[Any | None]]
NODE_RESOLVERS: dict[str, NodeResolver] = {}


def register_node(type_name: str) -> Callable[[NodeResolver], NodeResolver]:
    """Register how ``node(id:)`` loads a type; the resolver must apply the same visibility rules."""

    def decorator(resolver: NodeResolver) -> NodeResolver:
        NODE_RESOLVERS[type_name] = resolver
        return resolver

    return decorator
