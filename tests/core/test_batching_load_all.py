"""``ContextLoader.load_all`` (codex_graphql/batching.py), what a catalogue page's answers use: one batch for the
keys not cached, answered in key order; loads of those keys meanwhile wait for that batch; keys already queued
make it join the queue; a failed batch is forgotten."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from codex_graphql.batching import ContextLoader


class Doubling(ContextLoader[int, int]):
    def __init__(self, fail: bool = False) -> None:
        super().__init__(SimpleNamespace())  # type: ignore[arg-type]
        self.batches: list[list[int]] = []
        self.fail = fail

    async def batch_load_fn(self, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        await asyncio.sleep(0.01)
        if self.fail:
            raise RuntimeError("database gone")
        return [key * 2 for key in keys]


async def test_one_batch_for_the_keys_not_cached_answered_in_key_order():
    loader = Doubling()
    assert await loader.load(1) == 2
    assert await loader.load_all([3, 1, 2, 3]) == [6, 2, 4, 6]
    assert loader.batches == [[1], [3, 2]]  # 1 was cached; duplicates are loaded once
    assert await loader.load_all([2, 3]) == [4, 6] and len(loader.batches) == 2


async def test_a_load_during_the_batch_waits_for_it_instead_of_sending_another():
    loader = Doubling()
    page = asyncio.ensure_future(loader.load_all([1, 2, 3]))
    await asyncio.sleep(0)  # the batch is running
    assert await loader.load(2) == 4
    assert await page == [2, 4, 6]
    assert loader.batches == [[1, 2, 3]]


async def test_keys_already_queued_are_joined_in_one_batch():
    loader = Doubling()
    single = loader.load(9)  # queued, dispatched on the next turn of the loop
    assert await loader.load_all([1, 2]) == [2, 4]
    assert await single == 18
    assert loader.batches == [[9, 1, 2]]


async def test_a_failed_batch_raises_and_is_forgotten():
    loader = Doubling(fail=True)
    with pytest.raises(RuntimeError, match="database gone"):
        await loader.load_all([1, 2])
    loader.fail = False
    assert await loader.load_all([1, 2]) == [2, 4]
    assert loader.batches == [[1, 2], [1, 2]]
