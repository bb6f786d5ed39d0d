"""The resolvers' executor (codex_graphql/execution.py): plain leaf fields answered inline give the same data
and the same errors as graphql-core's own execution, and no field with a resolver, an argument or a
permission is ever answered inline."""

from __future__ import annotations

import enum
import re
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from codex_graphql.execution import CodexExecutionContext, streamline
from codex_graphql.execution_plans import field_plan, leaf_fields
from codex_graphql.schema import build_schema
from codex_graphql.settings import Settings


@strawberry.enum(description="A colour.")
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type(description="Leaves of every shape, filled from whatever the test puts in.")
class Leaves:
    name: str
    maybe: str | None
    count: int
    ratio: float | None
    colour: Colour
    tags: list[str]
    loose: list[str | None] | None
    flag: bool

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def asked(self, info: strawberry.Info) -> str:
        return f"{info.context['who']} asked {info.field_name} at {info.path.as_list()}"

    @strawberry.field
    def repeat(self, times: int) -> list[str]:
        return [self.name] * times


GOOD: dict[str, Any] = {"name": "a", "maybe": None, "count": 3, "ratio": 1.5, "colour": Colour.BLUE, "tags": ["x", "y"],
                        "loose": ["p", None], "flag": True}
# Values graphql-core refuses, each in a field of its own: the error (message, path) must be identical.
BAD: list[dict[str, Any]] = [
    {"name": None}, {"count": "three"}, {"count": 2**40}, {"colour": "GREEN"}, {"tags": ["x", None]},
    {"tags": "not a list"}, {"loose": [1.5, object()]}, {"ratio": "x"}, {"flag": ValueError("boom")},
    {"tags": ("a", "b")}, {"maybe": 7},
]


def run(executor: type, items: list[Leaves]) -> Any:
    @strawberry.type(description="Root.")
    class Query:
        @strawberry.field
        def items(self) -> list[Leaves | None]:
            return items

    schema = strawberry.Schema(query=Query, execution_context_class=executor)
    result = schema.execute_sync("{ items { name maybe count ratio colour tags loose flag shout alias: name asked "
                                 "repeat(times: 2) } }", context_value={"who": "tester"})
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


def change_id(change: dict[str, Any]) -> str:
    """The same in every process (pytest-xdist workers must collect the same ids): no object addresses."""
    return ",".join(f"{k}={re.sub(r' at 0x[0-9a-f]+', '', repr(v))}" for k, v in change.items()) or "good"


@pytest.mark.parametrize("change", [{}, *BAD], ids=change_id)
def test_inline_leaves_answer_like_graphql_core(change: dict[str, Any]) -> None:
    items = [Leaves(**GOOD), Leaves(**{**GOOD, **change}), Leaves(**GOOD)]
    assert run(CodexExecutionContext, items) == run(StrawberryGraphQLCoreExecutionContext, items)


def test_only_plain_fields_are_answered_inline() -> None:
    schema = build_schema(Settings(database_url=None))
    graphql_schema = schema._schema
    assert schema.execution_context_class is CodexExecutionContext
    inline = 0
    for graphql_type in graphql_schema.type_map.values():
        if graphql_type.name.startswith("__") or not hasattr(graphql_type, "is_type_of") or not hasattr(graphql_type, "fields"):
            continue
        for name in leaf_fields(graphql_type):
            field = graphql_type.fields[name]
            definition = field.extensions["strawberry-definition"]
            # No resolver, no extension (permission rules are extensions), no arguments: a plain attribute.
            assert definition.base_resolver is None and not definition.extensions and not field.args, name
            inline += 1
    assert inline > 50
    # Resolver methods called directly: never one with a permission rule (an extension) or arguments.
    streamline(graphql_schema)
    direct = {(t.name, name) for t in graphql_schema.type_map.values() if hasattr(t, "is_type_of")
              for name, field in getattr(t, "fields", {}).items() if getattr(field.resolve, "__name__", "") == "lean"}
    assert ("Purchase", "receiptUrl") in direct and ("Organization", "viewerRole") in direct
    # Batched fields (batched.py) are async methods the executor answers from their list's batch.
    content_type = graphql_schema.get_type("Content")
    for name in ("viewerHasAccess", "creator", "thumbnailUrl"):
        plan = field_plan(content_type, name, True)
        assert plan is not None and plan.batch is not None and plan.is_async, name
    assert field_plan(content_type, "playback", True).batch is None
    for type_name, name in direct:
        field = graphql_schema.get_type(type_name).fields[name]
        definition = field.extensions["strawberry-definition"]
        assert not definition.extensions and not field.args and not definition.base_resolver.is_async, name
    assert ("Content", "failureReason") not in direct and ("Content", "media") not in direct  # guarded
    content = graphql_schema.get_type("Content")
    for guarded in ("failureReason", "media", "revenueCents", "stats", "viewerHasAccess", "thumbnailUrl"):
        assert guarded not in leaf_fields(content)
    assert {"id", "title", "priceCents", "tags", "kind"} <= leaf_fields(content)
