"""The generic loaders (codex_graphql/batching.py) and ``add_unique`` (codex_graphql/savepoints.py).

The domains' loaders built on them are exercised against real data by tests/db/test_rls_every_repository.py and
their statement counts by tests/content/test_content_queries_count.py; here, the generic rules themselves."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from codex_graphql.accounts.models import User
from codex_graphql.authz import Viewer
from codex_graphql.batching import GroupedLoader, KeyedLoader, RowLoader
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.savepoints import add_unique

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
DB = object()  # stands for the request's session: the loaders pass it to the query untouched


def _ctx(**viewer: Any) -> Any:
    return SimpleNamespace(db=DB, viewer=Viewer(**viewer))


class Recorded:
    """The query's calls, and its answer."""

    def __init__(self, answer: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.answer = answer

    async def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self.answer(*args) if callable(self.answer) else self.answer


def _keyed(query: Recorded, per: str | None = None, missing: Any = None, base: type = KeyedLoader) -> type:
    return type("Probe", (base,), {"query": staticmethod(query), "per": per, "missing": missing})


async def test_keyed_answers_in_key_order_with_missing_for_the_rest():
    query = Recorded({B: 2, A: 1})
    loader = _keyed(query, missing=0)(_ctx())
    assert await loader.load_many([A, C, B]) == [1, 0, 2]
    assert query.calls == [(DB, [A, C, B])]  # one call for the batch, keys in order, no scope


async def test_a_list_default_is_a_fresh_list_per_key():
    loader = _keyed(Recorded({}), missing=[])(_ctx())
    first, second = await loader.load_many([A, B])
    assert first == second == []
    first.append("x")
    assert second == []


@pytest.mark.parametrize("per, viewer, scope", [
    ("user", {"user_id": A}, A),
    ("organization", {"user_id": A, "active_organization_id": B}, B),
])
async def test_per_viewer_passes_its_id_or_sends_nothing_without_one(per, viewer, scope):
    query = Recorded({C: True})
    assert await _keyed(query, per=per, missing=False)(_ctx(**viewer)).load_many([C, A]) == [True, False]
    assert query.calls == [(DB, scope, [C, A])]
    query.calls.clear()
    assert await _keyed(query, per=per, missing=False)(_ctx()).load_many([C, A]) == [False, False]
    assert query.calls == []


async def test_row_loader_answers_each_key_with_the_row_of_that_id():
    row_b = SimpleNamespace(id=B)
    loader = _keyed(Recorded([row_b]), base=RowLoader)(_ctx())
    assert await loader.load_many([A, B]) == [None, row_b]


async def test_grouped_runs_one_query_per_distinct_rest_of_the_key():
    query = Recorded(lambda db, ids, first, after: {i: [first, after] for i in ids if i != C})
    loader = type("Probe", (GroupedLoader,), {"query": staticmethod(query), "missing": []})(_ctx())
    keys = [(A, 10, None), (B, 5, "c"), (C, 10, None), (B, 10, None)]
    assert await loader.load_many(keys) == [[10, None], [5, "c"], [], [10, None]]
    assert sorted(query.calls, key=str) == sorted([(DB, [A, C, B], 10, None), (DB, [B], 5, "c")], key=str)


async def test_grouped_without_the_viewer_scope_sends_nothing():
    query = Recorded({})
    loader = type("Probe", (GroupedLoader,), {"query": staticmethod(query), "per": "organization", "missing": 0})
    assert await loader(_ctx(user_id=A)).load_many([(A, "x"), (B, "y")]) == [0, 0]
    assert query.calls == []


async def test_add_unique_turns_a_refused_row_into_the_error_and_keeps_the_transaction(db):
    email = f"twin-{uuid.uuid4().hex[:8]}@example.com"
    refused = DomainError(ErrorCode.ALREADY_EXISTS, "taken", "email")
    async with db.transaction() as session:
        first = User(email=email, name="one", password_hash="x")
        await add_unique(session, first, refused)
        with pytest.raises(DomainError) as caught:
            await add_unique(session, User(email=email, name="two", password_hash="x"), refused)
        assert caught.value is refused and caught.value.__cause__ is not None
        names = (await session.execute(text("select name from user_account where email = :e"), {"e": email})).all()
        assert [n for (n,) in names] == ["one"]  # the savepoint rolled back alone; the first row stays
