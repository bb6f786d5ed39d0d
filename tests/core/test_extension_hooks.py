"""CodexSchema's extension runner (schema.py) decides each extension class's hook kinds once, instead of
inspecting every hook of every extension per request as strawberry's runner does; the hooks run exactly as
strawberry runs them: generator and async generator hooks around their stage, plain and async callables
before it, default hooks not at all, in the order the extensions are listed, on every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from codex_graphql.schema import CodexSchema

EVENTS: list[str] = []


class Generators(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        EVENTS.append("operation enter")
        yield
        EVENTS.append(f"operation exit {self.execution_context.result.data}")

    def on_execute(self) -> Iterator[None]:
        EVENTS.append("execute enter")
        yield
        EVENTS.append("execute exit")


class AsyncGenerators(SchemaExtension):
    async def on_parse(self) -> AsyncIterator[None]:
        EVENTS.append("parse enter")
        await asyncio.sleep(0)
        yield
        EVENTS.append(f"parse exit {self.execution_context.graphql_document is not None}")


class Callables(SchemaExtension):
    def on_validate(self) -> None:  # type: ignore[override]  (a plain callable hook, wrapped by strawberry)
        EVENTS.append("validate")

    async def on_execute(self) -> None:  # type: ignore[override]
        EVENTS.append("async execute")


@strawberry.type(description="Root.")
class Query:
    @strawberry.field(description="A greeting.")
    def hello(self, name: str = "you") -> str:
        EVENTS.append("resolve")
        return f"hello {name}"


def _events(schema_class: type[strawberry.Schema]) -> list[list[str]]:
    schema = schema_class(query=Query, extensions=[Generators, AsyncGenerators, Callables])
    runs = []
    for name in ("A", "B"):  # the second request reads the hook kinds the first decided
        EVENTS.clear()
        result = asyncio.run(schema.execute(f'query {name} {{ hello(name: "{name}") }}'))
        assert not result.errors and result.data == {"hello": f"hello {name}"}
        runs.append(list(EVENTS))
    return runs


def test_hooks_run_as_strawberry_runs_them() -> None:
    expected = _events(strawberry.Schema)
    assert expected[0][0] == "operation enter" and "async execute" in expected[0] and "validate" in expected[0]
    assert _events(CodexSchema) == expected


def test_hook_kinds_are_decided_once_per_class(monkeypatch: Any) -> None:
    import codex_graphql.schema as module

    asked: list[Any] = []
    real = module.inspect.isgeneratorfunction

    def counting(function: Any) -> bool:
        asked.append(function)
        return real(function)

    monkeypatch.setattr(module.inspect, "isgeneratorfunction", counting)
    module._hook_factories.clear()
    _events(CodexSchema)
    once = len(asked)
    assert once > 0
    _events(CodexSchema)
    assert len(asked) == once
