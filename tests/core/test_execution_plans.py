"""The planned branches of the resolvers' executor (codex_graphql/execution.py, execution_plans.py) answer exactly
as graphql-core does: the same data, and the same errors (message, path, locations) placed at the same
positions, for every shape they plan (attribute leaves and lists of leaves, objects and lists of objects read
off their parent, plain resolver methods with and without ``info``) and for every kind of unusual value in
them (a null where the type is non-null, a value the scalar or enum refuses, an object of the wrong type,
an exception raised or returned, an awaitable from a synchronous method, one that raises, an async field
inside a list item), with non-null errors propagating to the nearest nullable parent.

Each scenario changes the middle of three items; the reference is strawberry's own executor on graphql-core.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any

import pytest
import strawberry
from graphql import Undefined
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from codex_graphql.execution import CodexExecutionContext


@strawberry.enum(description="A colour.")
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.interface(description="Something with a name.")
class Named:
    name: str


@strawberry.type(description="A tag: implements an interface, so strawberry gives it an is_type_of.")
class Tag(Named):
    name: str
    colour: Colour


@strawberry.type(description="No interface, no is_type_of.")
class Plain:
    label: str
    count: int | None = None


@strawberry.input(description="Words to label with.")
class Words:
    words: list[str]
    upper: bool = False


async def _soon(value: Any) -> Any:
    await asyncio.sleep(0)
    if isinstance(value, Exception):
        raise value
    return value


class Fresh:
    """A value made anew at each call (a coroutine is awaited once)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def _behave(item: Item, field: str, normal: Any) -> Any:
    """What a resolver method answers for the item: ``normal``, or what the scenario asks for."""
    how = item.behaviour.get(field, "NORMAL")
    if isinstance(how, Fresh):
        return how.make()
    if how == "NORMAL":
        return normal
    if how == "NONE":
        return None
    if how == "RAISE":
        raise ValueError(f"{field} failed")
    if how == "EXC":
        return ValueError(f"{field} returned an error")
    if how == "AWAIT":
        return _soon(normal)
    if how == "AWAIT_RAISE":
        return _soon(ValueError(f"{field} failed later"))
    return how  # a value of the scenario's choosing


class Allowed(BasePermission):
    """Grants by the context's ``allow`` for the item's name: True, False, an error to raise, or a non-boolean."""

    message = "Not allowed."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        answer = info.context["allow"].get(source.name, True)
        if isinstance(answer, Exception):
            raise answer
        return answer


@strawberry.type(description="An item with fields of every planned shape.")
class Item(Named):
    name: str
    tag: Tag
    maybe_tag: Tag | None
    plain: Plain
    tags: list[Tag]
    loose_tags: list[Tag | None] | None
    plains: list[Plain]
    colour: Colour
    numbers: list[int]
    behaviour: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="Method with info: who asked, where.")
    def computed(self, info: strawberry.Info) -> str:
        return _behave(self, "computed", f"{info.context['who']} {info.field_name} {info.path.as_list()}")

    @strawberry.field(description="Method without info, nullable.")
    def optional(self) -> str | None:
        return _behave(self, "optional", self.name.upper())

    @strawberry.field(description="Method returning an object.")
    def friend(self, info: strawberry.Info) -> Tag:
        return _behave(self, "friend", Tag(name=f"friend of {self.name}", colour=Colour.BLUE))

    @strawberry.field(description="Method returning a list of objects.")
    def friends(self) -> list[Tag]:
        return _behave(self, "friends", [Tag(name="f1", colour=Colour.RED), Tag(name="f2", colour=Colour.BLUE)])

    @strawberry.field(description="Method returning a number.")
    def count(self) -> int:
        return _behave(self, "count", 3)

    @strawberry.field(description="Behind a permission rule, no info.", extensions=[PermissionExtension([Allowed()])])
    def secret(self) -> str | None:
        return _behave(self, "secret", f"secret of {self.name}")

    @strawberry.field(description="Behind two rules, with info.", extensions=[PermissionExtension([Allowed(), Allowed()])])
    def secret_info(self, info: strawberry.Info) -> str | None:
        return _behave(self, "secret", f"{info.context['who']} at {info.path.as_list()}")

    @strawberry.field(description="Async field inside a list item.")
    async def slow(self) -> Tag | None:
        how = self.behaviour.get("slow")
        if how == "RAISE":
            raise ValueError("slow failed")
        await asyncio.sleep(0)
        return Tag(name="slow", colour=Colour.RED)

    @strawberry.field(description="Async leaf method.")
    async def later_count(self) -> int:
        await asyncio.sleep(0)
        return _behave(self, "later_count", 5)

    @strawberry.field(description="Async object method, with info.")
    async def later_tag(self, info: strawberry.Info) -> Tag:
        await asyncio.sleep(0)
        return _behave(self, "later_tag", Tag(name=f"{info.context['who']} {info.path.as_list()}", colour=Colour.RED))

    @strawberry.field(description="Method with arguments (scalars with defaults, an enum, an input object) and info.")
    def label(self, info: strawberry.Info, prefix: str, times: int = 1, colour: Colour | None = None,
              words: Words | None = None) -> str:
        if words is not None:
            words.words.append("seen")  # a resolver changing its input: each call must get its own
        text = f"{prefix * times} {colour} {words} {info.context['who']} {info.path.as_list()}"
        return _behave(self, "label", text.upper() if words is not None and words.upper else text)

    @strawberry.field(description="Async method with arguments returning an object, without info.")
    async def pick(self, index: int = 0, node_id: strawberry.relay.GlobalID | None = None) -> Tag | None:
        await asyncio.sleep(0)
        return _behave(self, "pick", Tag(name=f"{self.name} {index} {node_id}", colour=Colour.BLUE))

    @strawberry.field(description="Abstract type: graphql-core's own completion.")
    def named(self) -> Named:
        return _behave(self, "named", self.tag)


def _item(name: str, **change: Any) -> Item:
    values: dict[str, Any] = {
        "name": name, "tag": Tag(name=f"{name}-tag", colour=Colour.RED), "maybe_tag": None,
        "plain": Plain(label=f"{name}-plain", count=1), "tags": [Tag(name="a", colour=Colour.RED)],
        "loose_tags": [None, Tag(name="b", colour=Colour.BLUE)], "plains": [Plain(label="p")],
        "colour": Colour.BLUE, "numbers": [1, 2], "behaviour": {},
    }
    values.update(change)
    return Item(**values)


TAG = Tag(name="t", colour=Colour.RED)
# name -> (the middle item's change, made afresh for each executor; whether graphql-core reports an error)
SCENARIOS: dict[str, tuple[Callable[[], dict[str, Any]], bool]] = {
    "good": (lambda: {}, False),
    "non-null object attribute is null": (lambda: {"tag": None}, True),
    "object of the wrong type": (lambda: {"maybe_tag": Plain(label="not a tag")}, True),
    "non-null object is an exception": (lambda: {"plain": ValueError("plain is an error")}, True),
    "list with a null non-null item": (lambda: {"tags": [TAG, None, TAG]}, True),
    "list with a wrong item": (lambda: {"tags": [TAG, Plain(label="x")]}, True),
    "list without is_type_of with a null item": (lambda: {"plains": [Plain(label="ok"), None]}, True),
    "object attribute is Undefined": (lambda: {"plain": Undefined}, True),
    "nullable object attribute is Undefined": (lambda: {"maybe_tag": Undefined}, False),
    "list item is Undefined": (lambda: {"plains": [Plain(label="ok"), Undefined]}, True),
    "nullable list item is Undefined": (lambda: {"loose_tags": [Undefined, TAG]}, False),
    "leaf is Undefined": (lambda: {"colour": Undefined}, True),
    "object method returns Undefined": (lambda: {"behaviour": {"friend": Undefined}}, True),
    "list is not a list": (lambda: {"tags": 5}, True),
    "list is a tuple": (lambda: {"tags": (TAG, TAG)}, False),
    "list is a generator": (lambda: {"tags": (t for t in [TAG])}, False),
    "nullable list with null items": (lambda: {"loose_tags": [None, None, TAG]}, False),
    "null leaf inside a list item": (lambda: {"plains": [Plain(label="ok"), Plain(label=None)]}, True),  # type: ignore[arg-type]
    "wrong leaf inside a list item": (lambda: {"plains": [Plain(label="ok", count="many")]}, True),  # type: ignore[arg-type]
    "enum not a member": (lambda: {"colour": "GREEN"}, True),
    "enum raw value": (lambda: {"colour": "red"}, False),
    "enum deep in an object": (lambda: {"tag": Tag(name="t", colour="GREEN")}, True),  # type: ignore[arg-type]
    "int out of range": (lambda: {"numbers": [1, 2**40]}, True),
    "int from a float": (lambda: {"numbers": [1, 2.0]}, False),
    "null in a list of leaves": (lambda: {"numbers": [1, None]}, True),
    "leaf method returns null": (lambda: {"behaviour": {"computed": "NONE"}}, True),
    "leaf method raises": (lambda: {"behaviour": {"computed": "RAISE"}}, True),
    "leaf method returns an exception": (lambda: {"behaviour": {"computed": "EXC"}}, True),
    "leaf method returns an awaitable": (lambda: {"behaviour": {"computed": "AWAIT"}}, False),
    "leaf method awaitable raises": (lambda: {"behaviour": {"computed": "AWAIT_RAISE"}}, True),
    "leaf method returns an int": (lambda: {"behaviour": {"computed": 7}}, False),
    "leaf method returns a bool for Int": (lambda: {"behaviour": {"count": True}}, False),
    "leaf method returns a refused value": (lambda: {"behaviour": {"count": "three"}}, True),
    "nullable leaf method raises": (lambda: {"behaviour": {"optional": "RAISE"}}, True),
    "object method returns null": (lambda: {"behaviour": {"friend": "NONE"}}, True),
    "object method raises": (lambda: {"behaviour": {"friend": "RAISE"}}, True),
    "object method returns an awaitable": (lambda: {"behaviour": {"friend": "AWAIT"}}, False),
    "object method returns the wrong type": (lambda: {"behaviour": {"friend": Plain(label="x")}}, True),
    "list method returns a null item": (lambda: {"behaviour": {"friends": [TAG, None]}}, True),
    "list method returns an awaitable item": (lambda: {"behaviour": {"friends": Fresh(lambda: [TAG, _soon(TAG)])}}, False),
    "list method returns an awaitable raising item": (
        lambda: {"behaviour": {"friends": Fresh(lambda: [_soon(ValueError("item")), TAG])}}, True),
    "list method raises": (lambda: {"behaviour": {"friends": "RAISE"}}, True),
    "list method returns an awaitable": (lambda: {"behaviour": {"friends": "AWAIT"}}, False),
    "async field in an item raises": (lambda: {"behaviour": {"slow": "RAISE"}}, True),
    "async leaf method returns null": (lambda: {"behaviour": {"later_count": "NONE"}}, True),
    "async leaf method raises": (lambda: {"behaviour": {"later_count": "RAISE"}}, True),
    "async leaf method returns a refused value": (lambda: {"behaviour": {"later_count": "five"}}, True),
    "async leaf method returns a float for Int": (lambda: {"behaviour": {"later_count": 5.0}}, False),
    "async object method returns null": (lambda: {"behaviour": {"later_tag": "NONE"}}, True),
    "async object method returns the wrong type": (lambda: {"behaviour": {"later_tag": Plain(label="x")}}, True),
    "async object method returns a bad enum": (lambda: {"behaviour": {"later_tag": Tag(name="t", colour="GREEN")}},  # type: ignore[arg-type]
                                               True),
    "abstract field returns the wrong type": (lambda: {"behaviour": {"named": Plain(label="x")}}, True),
    "method with arguments raises": (lambda: {"behaviour": {"label": "RAISE"}}, True),
    "method with arguments returns null": (lambda: {"behaviour": {"label": "NONE"}}, True),
    "method with arguments returns an awaitable": (lambda: {"behaviour": {"label": "AWAIT"}}, False),
    "async method with arguments raises": (lambda: {"behaviour": {"pick": "RAISE"}}, True),
    "async method with arguments returns null": (lambda: {"behaviour": {"pick": "NONE"}}, False),
    "async method with arguments returns the wrong type": (lambda: {"behaviour": {"pick": Plain(label="x")}}, True),
    "async method with arguments returns a bad enum": (lambda: {"behaviour": {"pick": Tag(name="t", colour="GREEN")}},  # type: ignore[arg-type]
                                                       True),
}

DOCUMENT = """
query Q($more: Boolean!, $prefix: String! = "v", $times: Int! = 2, $word: String = "w") {
  items { ...F }
  loose { ...F }
}
fragment F on Item {
  name __typename
  tag { name colour __typename }
  maybeTag { name }
  plain { label count }
  tags { name }
  looseTags { name colour }
  plains { label count }
  colour numbers computed again: computed optional count
  friend { name colour }
  friends { name }
  slow { name }
  laterCount laterTag { name colour }
  secret secretInfo
  named { name ... on Tag { colour } }
  label(prefix: "p")
  varied: label(prefix: $prefix, times: $times, colour: RED, words: {words: ["a", $word]})
  shout: label(prefix: "s", words: {words: [], upper: true})
  pick { name }
  picked: pick(index: 1) { name colour }
  ... @include(if: $more) { extra: tags { colour } }
}
"""


def _schema(executor: type, items: list[Item]) -> strawberry.Schema:
    @strawberry.type(description="Root.")
    class Query:
        @strawberry.field(description="Non-null items: an error in one nulls the list.")
        async def items(self) -> list[Item] | None:
            return items

        @strawberry.field(description="Nullable items: an error in one nulls the item.")
        def loose(self) -> list[Item | None]:
            return items

    return strawberry.Schema(query=Query, execution_context_class=executor)


def _answer(executor: type, items: list[Item], allow: dict[str, Any] | None = None, document: str = DOCUMENT,
            variables: dict[str, Any] | None = None) -> tuple[Any, list[tuple[Any, ...]]]:
    schema = _schema(executor, items)
    context = {"who": "tester", "allow": allow or {}}
    result = asyncio.run(schema.execute(document, variable_values=variables or {"more": True}, context_value=context))
    errors = sorted((e.message, tuple(e.path or ()), tuple((loc.line, loc.column) for loc in e.locations or ()))
                    for e in result.errors or [])
    return result.data, errors


def _items(change: dict[str, Any]) -> list[Item]:
    return [_item("first"), _item("middle", **change), _item("last")]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_planned_fields_answer_like_graphql_core(name: str) -> None:
    change, reports = SCENARIOS[name]
    expected = _answer(StrawberryGraphQLCoreExecutionContext, _items(change()))
    assert bool(expected[1]) is reports, expected[1]
    assert _answer(CodexExecutionContext, _items(change())) == expected


class Counting(CodexExecutionContext):
    """Counts the fields graphql-core's execute_field answers."""

    generic = 0

    def execute_field(self, *args: Any, **kwargs: Any) -> Any:
        Counting.generic += 1
        return super().execute_field(*args, **kwargs)


def test_planned_fields_skip_graphql_core_per_field() -> None:
    """With nothing unusual, no field goes through graphql-core's execute_field: every field (about twenty per
    item, the root methods and the async ones included) is planned."""
    Counting.generic = 0
    data, errors = _answer(Counting, _items({}))
    assert not errors and data["items"][1]["name"] == "middle"
    assert Counting.generic == 0


def test_declined_values_go_to_graphql_core_once() -> None:
    """A method's awaitable is completed by graphql-core without calling the method again."""
    calls: list[str] = []

    class Once(dict):  # type: ignore[type-arg]
        def get(self, key: str, default: Any = None) -> Any:
            if key == "computed":
                calls.append(key)
                return "AWAIT"
            return default

    items = _items({})
    items[1].behaviour = Once()
    data, errors = _answer(CodexExecutionContext, items)
    assert not errors
    assert len(calls) == 4  # computed and its alias, in two lists: each method called once
    assert data["items"][1]["computed"] == "tester computed ['items', 1, 'computed']"
    assert data["loose"][1]["again"] == "tester computed ['loose', 1, 'again']"


@pytest.mark.parametrize("allow", [True, False, PermissionError("rule failed"), "yes"], ids=repr)
def test_guarded_methods_answer_like_graphql_core(allow: Any) -> None:
    """A synchronous method behind a permission rule, planned, is refused, fails or answers exactly as through
    strawberry's extension chain (the rule's refusal is its error, at the field's path)."""
    expected = _answer(StrawberryGraphQLCoreExecutionContext, _items({}), {"middle": allow})
    assert bool(expected[1]) is (allow is not True)
    assert _answer(CodexExecutionContext, _items({}), {"middle": allow}) == expected


def test_guarded_methods_are_planned() -> None:
    """The guarded methods are not left to graphql-core's execute_field (which the counting executor counts)."""
    Counting.generic = 0
    _, errors = _answer(Counting, _items({}), {"middle": False})
    assert len(errors) == 4  # secret and secretInfo of the middle item, in both lists
    assert Counting.generic == 0


ARGUMENTS = """
query A($word: String!, $times: Int!) {
  items { name bad: pick(nodeId: "%%%") { name } label(prefix: "x", times: $times) }
  loose { good: pick(nodeId: "VGFnOjE=", index: $times) { name } again: label(prefix: $word, words: {words: [$word]}) }
}
"""


@pytest.mark.parametrize("variables", [{"word": "w", "times": 1}, {"word": "ü", "times": 3}], ids=repr)
def test_methods_with_arguments_answer_like_graphql_core(variables: dict[str, Any]) -> None:
    """Arguments from literals and variables, converted once per selection (strings and numbers) or per call
    (an input object, which the resolver changes: each call sees its own), and an argument strawberry refuses
    (a malformed global id: its error at each item's path, from graphql-core's own execute_field)."""
    expected = _answer(StrawberryGraphQLCoreExecutionContext, _items({}), document=ARGUMENTS, variables=variables)
    assert [error[1] for error in expected[1]] == [("items", 0, "bad"), ("items", 1, "bad"), ("items", 2, "bad")]
    assert expected[0]["loose"][2]["again"].count("seen") == 1
    assert _answer(CodexExecutionContext, _items({}), document=ARGUMENTS, variables=variables) == expected


def test_methods_with_arguments_are_planned_once_per_selection() -> None:
    """Their arguments are worked out once per selection, not per item: graphql-core's argument values are
    asked for once for each field with arguments of the document, whatever the number of items."""
    import codex_graphql.execution as execution

    calls: list[str] = []
    original = execution.get_argument_values

    def counting(definition: Any, node: Any, *args: Any) -> Any:
        calls.append(node.alias.value if node.alias else node.name.value)
        return original(definition, node, *args)

    Counting.generic = 0
    execution.get_argument_values = counting
    try:
        data, errors = _answer(Counting, _items({}))
    finally:
        execution.get_argument_values = original
    assert not errors and data["loose"][1]["picked"] == {"name": "middle 1 None", "colour": "BLUE"}
    assert Counting.generic == 0
    # label, varied, shout, pick, picked: once per list (items, loose), not once per item
    assert sorted(calls) == sorted(["label", "varied", "shout", "pick", "picked"] * 2)


@strawberry.type(description="Refers to its own type, so its plans refer to it.")
class Loop:
    name: str

    @strawberry.field(description="The next one.")
    def next(self) -> Loop | None:
        return Loop(name=self.name + "+") if len(self.name) < 3 else None


def test_plans_leave_with_their_schema() -> None:
    """Plans are kept on the schema's own types, not in module-level caches: a schema dropped after serving
    requests is collected with its plans, though they refer to its types (tests and reloads build many)."""
    import gc
    import weakref

    @strawberry.type(description="Root.")
    class Query:
        @strawberry.field(description="A loop.")
        def loop(self) -> Loop:
            return Loop(name="a")

    schema = strawberry.Schema(query=Query, execution_context_class=CodexExecutionContext)
    result = schema.execute_sync("{ loop { name next { name next { name next { name } } } } }")
    assert result.data == {"loop": {"name": "a", "next": {"name": "a+", "next": {"name": "a++", "next": None}}}}
    loop_type = schema._schema.get_type("Loop")
    assert "_codex_field_plans" in vars(loop_type)
    gone = weakref.ref(loop_type)
    del schema, loop_type
    gc.collect()
    assert gone() is None
