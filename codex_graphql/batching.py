"""The generic parts of the request's dataloaders; each domain's ``loaders.py`` declares only its query.

- ``ContextLoader``: a loader built for one request's ``Context`` (``self.ctx``); ``load_all(keys)`` is
  ``load_many`` for a page of keys without the per-key futures, callbacks and tasks (batched.py).
- ``KeyedLoader``: one ``query(db, *scope, keys) -> {key: value}`` per batch, answered in key order.
  ``RowLoader``: the query returns rows, each key is answered with the row of that id.
- ``GroupedLoader``: keys are ``(id, *shared)``; ids sharing the rest (page size, cursor, statuses) are
  loaded together by ``query(db, *scope, ids, *shared) -> {id: value}``, one call per distinct rest.

A subclass sets ``query = staticmethod(repository.function)`` (or defines ``async def query(self, ...)``),
``missing``, the answer for a key the batch did not find (``None`` unless set; a fresh copy per key, so a
list default is never shared), and ``per``: ``"user"`` or ``"organization"`` passes the viewer's user or
active organization id as ``scope``; a viewer without one gets ``missing`` for every key and no statement
is sent.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar

from aiodataloader import DataLoader

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders

K = TypeVar("K")
V = TypeVar("V")


class _HasId(Protocol):
    @property
    def id(self) -> Any: ...


Row = TypeVar("Row", bound=_HasId)


def by_id(rows: Iterable[Row]) -> dict[Any, Row]:
    """Rows keyed by their ``id``."""
    return {row.id: row for row in rows}


class ContextLoader(DataLoader[K, V]):
    """A dataloader of one request: ``self.ctx`` gives its database access and viewer."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def load_all(self, keys: list[K]) -> list[V]:
        """``load_many`` for a page of keys, without a queued entry, a gather callback and a task per key.

        The keys not cached yet are loaded at once, in one batch: the statement ``load_many`` would send. Their
        futures are cached before it runs, so a ``load`` of one of them meanwhile waits for this batch instead
        of sending another. When the loader's queue already holds keys (a batch about to be dispatched), the
        keys join it through ``load_many``, as before. A failed batch is forgotten (the next load tries again)."""
        cache = self._cache
        if self._queue or not self.cache:
            return await self.load_many(keys)
        missing = [key for key in dict.fromkeys(keys) if key not in cache]
        if missing:
            futures = [self.loop.create_future() for _ in missing]
            cache.update(zip(missing, futures, strict=True))
            try:
                values = await self.batch_load_fn(missing)
            except BaseException as error:
                for key, future in zip(missing, futures, strict=True):
                    if cache.get(key) is future:
                        del cache[key]
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
                        future.exception()  # retrieved: a waiter (if any) gets it, nothing is logged
                raise
            for future, value in zip(futures, values, strict=True):
                future.set_result(value)
        found = [cache[key] for key in keys]
        return [future.result() if future.done() else await future for future in found]


class _QueryLoader(ContextLoader[K, V]):
    per: ClassVar[Literal["user", "organization"] | None] = None
    missing: Any = None
    query: Callable[..., Awaitable[Any]]

    def _scope(self) -> tuple[uuid.UUID, ...] | None:
        """The query's arguments before the keys; None when the viewer lacks what ``per`` names."""
        if self.per is None:
            return ()
        viewer = self.ctx.viewer
        scope_id = viewer.user_id if self.per == "user" else viewer.active_organization_id
        return None if scope_id is None else (scope_id,)

    def _answer(self, found: Mapping[Any, V], key: Any) -> V:
        return found[key] if key in found else copy.copy(self.missing)


class KeyedLoader(_QueryLoader[K, V]):
    """One query per batch, answered in key order."""

    async def fetch(self, keys: list[K]) -> Any:
        """The query's answer for one batch (``{}`` when the viewer lacks the scope)."""
        scope = self._scope()
        return {} if scope is None else await self.query(self.ctx.db, *scope, keys)

    async def batch_load_fn(self, keys: list[K]) -> list[V]:
        found = await self.fetch(list(keys))
        return [self._answer(found, k) for k in keys]


class RowLoader(KeyedLoader[K, V]):
    """The query returns rows; each key is answered with the row of that id (``None`` if not found)."""

    async def fetch(self, keys: list[K]) -> dict[Any, Any]:
        return by_id(await super().fetch(keys))


class GroupedLoader(_QueryLoader[K, V]):
    """Keys ``(id, *shared)``: one query per distinct ``shared``, answered in key order."""

    async def batch_load_fn(self, keys: list[K]) -> list[V]:
        scope = self._scope()
        if scope is None:
            return [copy.copy(self.missing) for _ in keys]
        groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
        for key in keys:
            groups[key[1:]].append(key[0])  # type: ignore[index]
        found = {shared: await self.query(self.ctx.db, *scope, ids, *shared) for shared, ids in groups.items()}
        return [self._answer(found[key[1:]], key[0]) for key in keys]  # type: ignore[index]
