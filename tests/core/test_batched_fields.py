"""Batched fields (codex_graphql/batched.py) in the resolvers' executor (execution.py): a list's items get one
call of ``answers`` per field and level with every item, through attributes and other batched fields, and
the response is the one strawberry's own executor gives when each item resolves alone (data, errors and
their paths); a failing batch leaves each item to resolve, and fail, on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from codex_graphql.batched import batched
from codex_graphql.execution import CodexExecutionContext

CALLS: list[tuple[str, tuple[int, ...]]] = []  # (field, the parents' numbers) per call of an ``answers``
FAIL: dict[str, Any] = {"batch": False, "item": None}  # fail whole batches; fail the item with this number


async def doubles(ctx: Any, items: Sequence[Item]) -> list[int]:
    CALLS.append(("double", tuple(item.n for item in items)))
    await asyncio.sleep(0)  # a real suspension, as a loader's statement
    if FAIL["batch"] and len(items) > 1:
        raise RuntimeError("the batch failed")
    if FAIL["item"] is not None and any(item.n == FAIL["item"] for item in items):
        raise ValueError(f"no double for {FAIL['item']}")
    return [item.n * 2 for item in items]


async def partners(ctx: Any, items: Sequence[Item]) -> list[Item | None]:
    CALLS.append(("partner", tuple(item.n for item in items)))
    return [Item(n=item.n + 100) if item.n % 3 else None for item in items]


@strawberry.type(description="A numbered item.")
class Item:
    n: int

    @strawberry.field(description="Twice n.")
    @batched(doubles)
    async def double(self, info: strawberry.Info) -> int:
        """Answered by ``doubles``."""

    @strawberry.field(description="n + 100, for n not divisible by 3.")
    @batched(partners)
    async def partner(self, info: strawberry.Info) -> Item | None:
        """Answered by ``partners``."""


@strawberry.type(description="Items behind an attribute.")
class Box:
    items: list[Item]


@strawberry.type(description="Root.")
class Query:
    @strawberry.field(description="Items 1..count.")
    async def items(self, count: int) -> list[Item]:
        return [Item(n=n) for n in range(1, count + 1)]

    @strawberry.field(description="Boxes of items.")
    def boxes(self) -> list[Box]:
        return [Box(items=[Item(n=n) for n in range(1, 4)]), Box(items=[Item(n=n) for n in range(4, 6)])]


def execute(executor: type, document: str, variables: dict[str, Any] | None = None) -> tuple[Any, list[Any]]:
    schema = strawberry.Schema(query=Query, execution_context_class=executor)
    result = asyncio.run(schema.execute(document, variable_values=variables, context_value={}))
    errors = sorted((error.message, tuple(error.path or ())) for error in result.errors or [])
    return result.data, errors


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAIL.update(batch=False, item=None)


def both(document: str, variables: dict[str, Any] | None = None) -> tuple[Any, list[Any], list[Any]]:
    """The planned executor's response and calls, checked equal to strawberry's own (item by item)."""
    alone = execute(StrawberryGraphQLCoreExecutionContext, document, variables)
    CALLS.clear()
    planned = execute(CodexExecutionContext, document, variables)
    assert planned == alone
    return planned[0], planned[1], list(CALLS)


def test_a_list_is_answered_by_one_call_per_field_and_level() -> None:
    data, errors, calls = both("{ items(count: 7) { n double partner { n double partner { n } } } }")
    assert not errors
    assert data["items"][0] == {"n": 1, "double": 2, "partner": {"n": 101, "double": 202, "partner": {"n": 201}}}
    assert data["items"][1]["partner"] == {"n": 102, "double": 204, "partner": None}
    assert data["items"][2]["partner"] is None
    first_level = (1, 2, 3, 4, 5, 6, 7)
    partnered = (101, 102, 104, 105, 107)  # the non-null partners, each once
    assert calls == [("double", first_level), ("partner", first_level), ("double", partnered),
                     ("partner", partnered)]


def test_attributes_lead_to_batches_below_them() -> None:
    data, errors, calls = both("{ boxes { items { n double } } }")
    assert not errors
    assert data == {"boxes": [{"items": [{"n": 1, "double": 2}, {"n": 2, "double": 4}, {"n": 3, "double": 6}]},
                              {"items": [{"n": 4, "double": 8}, {"n": 5, "double": 10}]}]}
    assert calls == [("double", (1, 2, 3, 4, 5))]  # every box's items at once, not box by box


def test_a_failed_batch_leaves_each_item_to_answer_and_fail_alone() -> None:
    FAIL.update(batch=True, item=3)
    data, errors, calls = both("{ items(count: 4) { n double } }")
    assert data is None  # double is non-null and items is non-null: item 3's error nulls the root
    assert errors == [("no double for 3", ("items", 2, "double"))]
    assert calls[0] == ("double", (1, 2, 3, 4))
    assert sorted(calls[1:]) == [("double", (n,)) for n in (1, 2, 3, 4)]


def test_an_item_error_inside_a_batch_is_reported_at_that_item() -> None:
    FAIL.update(item=102)
    data, errors, calls = both("{ items(count: 3) { n partner { n double } } }")
    assert errors == [("no double for 102", ("items", 1, "partner", "double"))]
    assert data["items"][0] == {"n": 1, "partner": {"n": 101, "double": 202}}
    assert data["items"][1] == {"n": 2, "partner": None}
    assert ("double", (101, 102)) in calls and ("double", (101,)) in calls and ("double", (102,)) in calls


def test_fields_a_directive_leaves_out_are_not_asked() -> None:
    document = "query($on: Boolean!) { items(count: 5) { n double @include(if: $on) partner @skip(if: true) { n } } }"
    data, errors, calls = both(document, {"on": False})
    assert not errors and data["items"][4] == {"n": 5}
    assert calls == []
    data, errors, calls = both(document, {"on": True})
    assert calls == [("double", (1, 2, 3, 4, 5))]


def test_one_object_alone_asks_for_itself() -> None:
    data, errors, calls = both("{ items(count: 1) { double partner { n } } }")
    assert data == {"items": [{"double": 2, "partner": {"n": 101}}]} and not errors
    assert calls == [("double", (1,)), ("partner", (1,))]
