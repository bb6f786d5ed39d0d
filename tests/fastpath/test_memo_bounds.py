"""The memos of the compiled path's per-request work (issue 22): global ids, cursors, plans by document text
and the negotiated media type. Each answers what the unmemoized function answers and never grows beyond its
bound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from codex_graphql.asgi_request import NEGOTIATED_KEPT, _negotiated, negotiate, negotiated
from codex_graphql.doccache import ByteLRU, HotMap
from codex_graphql.fastpath.connections import _edges, cursor
from codex_graphql.fastpath.shapes import Runtime, Shape, global_id, plain
from codex_graphql.pagination import Cursors, decode_cursor, encode_cursor, memo_cursor
from codex_graphql.relay import GlobalIds, from_global_id, global_ids, to_global_id


def test_global_ids_equal_the_encoding_and_stay_within_their_bound() -> None:
    memo = GlobalIds("Content", bound=8)
    ids = [uuid.uuid4() for _ in range(30)]
    for round_ in range(3):
        for id_ in ids:
            assert memo(id_) == to_global_id("Content", id_)
            assert len(memo.ids) <= 8, round_
    assert from_global_id(memo(ids[0])) == ("Content", ids[0])
    assert memo(str(ids[1])) == to_global_id("Content", ids[1])  # a text id encodes alike
    assert global_ids("Content") is global_ids("Content") and global_ids("User").type_name == "User"


def test_cursors_equal_the_encoding_follow_the_instant_and_stay_within_their_bound() -> None:
    memo = Cursors(bound=5)
    at = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    rows = [(at - timedelta(minutes=i), uuid.uuid4()) for i in range(12)]
    for _ in range(3):
        for created, id_ in rows:
            assert memo(created, id_) == encode_cursor(created, id_)
            assert len(memo.known) <= 5
    created, id_ = rows[0]
    memo(created, id_)
    moved = created + timedelta(seconds=1)  # the same row with another instant: its own cursor
    assert memo(moved, id_) == encode_cursor(moved, id_) != encode_cursor(created, id_)
    elsewhere = moved.astimezone(timezone(timedelta(hours=2)))  # the same instant in another zone encodes apart
    assert memo(elsewhere, id_) == encode_cursor(elsewhere, id_) != encode_cursor(moved, id_)
    assert decode_cursor(memo(created, id_)) == (created, id_)


def test_the_compiled_cursor_of_a_row_is_the_encoded_one() -> None:
    created, id_ = datetime(2026, 3, 4, tzinfo=UTC), uuid.uuid4()
    row = {"k_created": created, "k_id": id_}
    assert cursor(row) == encode_cursor(created, id_)
    assert cursor(row) == encode_cursor(created, id_)  # from the memo
    assert memo_cursor.known[id_][1] == encode_cursor(created, id_)
    later = {"k_created": created + timedelta(days=1), "k_id": id_}
    assert cursor(later) == encode_cursor(later["k_created"], id_)


def test_generated_global_ids_in_a_shape_use_the_memo_and_equal_the_encoding() -> None:
    shape = Shape("c_")
    shape.emitters += [("id", global_id("Content", "c_id")), ("title", plain("c_title"))]
    rows = [{"c_id": uuid.uuid4(), "c_title": f"t{i}"} for i in range(3)]
    for _ in range(2):
        assert [shape.build(row, Runtime(None, None, {})) for row in rows] == [
            {"id": to_global_id("Content", row["c_id"]), "title": row["c_title"]}
            for row in rows]
    assert all(row["c_id"] in global_ids("Content").ids for row in rows)


def test_edges_are_built_in_the_selection_order_with_aliases_and_repeats() -> None:
    def node(row: dict[str, str], rt: Runtime) -> dict[str, str]:
        return {"title": row["t"]}

    build = _edges([("c", "cursor"), ("n", "node"), ("__typename", "__typename"), ("c", "cursor")], "ContentEdge")
    rows = [{"t": "a"}, {"t": "b"}]
    edges = build(rows, Runtime(None, None, {}), node, lambda row: f"cur-{row['t']}")
    assert edges == [{"c": "cur-a", "n": {"title": "a"}, "__typename": "ContentEdge"},
                     {"c": "cur-b", "n": {"title": "b"}, "__typename": "ContentEdge"}]
    assert [list(edge) for edge in edges] == [["c", "n", "__typename"]] * 2
    assert _edges([], "ContentEdge")(rows, Runtime(None, None, {}), node, str) == [{}, {}]


def test_the_hot_map_stays_within_its_budget_and_never_keeps_a_heavy_entry() -> None:
    hot: HotMap[int] = HotMap(1000)
    for i in range(100):
        hot.put(f"document {i}", i, 90)
        assert hot.weight <= 1000 and len(hot) <= 1000 // 90
        assert hot.get(f"document {i}") == i  # the entry just put is always there
    hot.put("heavy", -1, 1000 // 8 + 1)
    assert hot.get("heavy") is None
    hot.put("document 99", 7, 90)  # present already: kept as it was, weighed once
    assert hot.get("document 99") == 99
    lru: ByteLRU[int] = ByteLRU(10_000)
    lru.front = hot
    lru.clear()  # clearing the plans clears their front too
    assert len(hot) == 0 and hot.weight == 0


def test_negotiated_answers_as_negotiate_within_its_bound() -> None:
    _negotiated.clear()
    for accept in (None, "", "application/json", "application/graphql-response+json", "text/html", "*/*;q=0",
                   "application/json;q=0.5, application/graphql-response+json"):
        assert negotiated(accept) == negotiate(accept)
        assert negotiated(accept) == negotiate(accept)  # from the memo
    for i in range(NEGOTIATED_KEPT * 2):
        assert negotiated(f"application/json;q=0.{i % 9 + 1}, text/x-{i}") == "application/json"
        assert len(_negotiated) <= NEGOTIATED_KEPT


def test_coerced_variables_equal_graphql_cores_and_stay_within_their_bound() -> None:
    from graphql import build_schema, parse
    from graphql.execution.values import get_variable_values

    from codex_graphql.fastpath.variables import MAX_SETS, CoercedVariables

    schema = build_schema("type Query { a(n: Int, s: String, l: [Int]): Int }")
    operation = parse("query Q($n: Int = 5, $s: String, $l: [Int]) { a(n: $n, s: $s, l: $l) }").definitions[0]
    definitions = operation.variable_definitions  # type: ignore[attr-defined]
    memo = CoercedVariables()

    def expected(variables: dict[str, object] | None) -> object:
        coerced = get_variable_values(schema, definitions, variables or {})
        return None if isinstance(coerced, list) else getattr(coerced, "coerced", coerced)

    for variables in ({"n": 1}, {"n": 1.0}, {"n": True}, {"n": 1}, None, {}, {"s": "x"}, {"n": "7"},
                      {"l": [1, 2]}, {"l": [1, "x"]}, {"n": 1, "s": "y" * 300}):
        assert memo.values(schema, definitions, variables) == expected(variables), variables
        assert memo.values(schema, definitions, variables) == expected(variables), variables  # from the memo
    assert memo.values(schema, definitions, {"n": True}) is None  # `True` is no Int, though `True == 1`
    assert all(isinstance(key, tuple) for key in memo.sets)
    assert not any(any(name == "l" for name, *_ in key) for key in memo.sets)  # lists are not kept
    assert not any(len(key) > 1 for key in memo.sets)  # nor long text
    for i in range(MAX_SETS * 3):
        assert memo.values(schema, definitions, {"n": i}) == {"n": i}
        assert len(memo.sets) <= MAX_SETS
