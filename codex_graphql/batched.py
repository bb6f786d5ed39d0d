"""Fields answered for a whole list of parents at once.

A resolver method marked ``@batched(answers)`` is answered by ``answers(ctx, parents)``: one value per parent,
in order. Resolved on its own (one object), the method asks ``answers`` for its one parent. When the
resolvers' executor (execution.py) completes a list of objects, it first calls each selected batched field's
``answers`` once with every item of the list, also for the objects those items lead to through attributes
and other batched fields (``edges -> node -> creator``), and the items' fields then answer synchronously:
no coroutine, dataloader future or asyncio task per item, which cost about 100 microseconds of CPU each.
Only fields the document executes are asked (``@skip``/``@include`` already applied), and a batch that
fails is forgotten: each item's method then runs on its own and reports its own error where it occurred.

``answers`` must be free of side effects beyond loading (it may run for items whose other fields fail) and
must answer exactly what the method would answer for each parent alone.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from codex_graphql.batching import ContextLoader
    from codex_graphql.context import Context

P = TypeVar("P")
K = TypeVar("K")
V = TypeVar("V")

BATCH = "_codex_batch"  # the ``answers`` function, on the resolver method strawberry wraps

Answers = Callable[["Context", Sequence[Any]], Awaitable[list[Any]]]


def batched(answers: Answers) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
    """Declare a resolver method (``self`` and ``info`` only) as answered by ``answers(ctx, parents)``; the
    decorated method's body is not run (its signature and docstring are kept for strawberry)."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def one(self: Any, info: Any) -> Any:
            return (await answers(info.context, (self,)))[0]

        setattr(one, BATCH, answers)
        return one

    return decorate


async def load_for(loader: ContextLoader[K, V], keys: list[K]) -> list[V]:
    """The loader's answers for ``keys``: ``load`` for one key (it joins other fields' keys in the loader's
    next batch), ``load_all`` for a list's keys (one batch now, without a future per key)."""
    if len(keys) == 1:
        return [await loader.load(keys[0])]
    return await loader.load_all(keys)


def batch_of(resolver_function: Any) -> Answers | None:
    """The ``answers`` a resolver method was declared with, or None."""
    return getattr(resolver_function, BATCH, None)


__all__ = ["BATCH", "Answers", "batch_of", "batched", "load_for"]
