"""The declarative forms behind the schema: ``payloads.mutation_field`` (a mutation from its action) and
``row_types.from_row`` (a type from its row). Their real use runs in the domain tests against PostgreSQL and
Redis; these pin the shapes they declare, which schema.graphql relies on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import strawberry

from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import IsAuthenticated
from codex_graphql.relay import decode_id
from codex_graphql.row_types import from_row


@strawberry.input(description="Something to rename.")
class RenameThingInput:
    name: str = strawberry.field(description="The new name.")


@strawberry.type(description="A thing.")
class Thing:
    id: strawberry.ID = strawberry.field(description="Global id.")
    name: str = strawberry.field(description="Its name.")
    created_at: datetime = strawberry.field(description="When it was made.")
    renamed: bool = strawberry.field(description="Whether it was renamed.")
    thing_id: strawberry.Private[uuid.UUID]


@strawberry.type(description="Result of a shared kind.")
class SharedPayload:
    errors: list[str] = strawberry.field(description="Problems.")


@strawberry.type
class Query:
    ping: bool = strawberry.field(default=True, description="Always true.")


@strawberry.type
class Mutation:
    @mutation_field(
        IsAuthenticated(),
        description="Rename a thing.",
        input_description="The new name.",
        payload={"thing": (Thing, "The renamed thing."), "previous_name": (str, "Its name before.")},
    )
    async def rename_thing(ctx: object, input: RenameThingInput) -> dict:
        return {}

    @mutation_field(description="Maybe rename.", input_description="Optional.", payload=SharedPayload)
    async def maybe_rename(ctx: object, input: RenameThingInput | None = None) -> dict:
        return {}


def _section(sdl: str, header: str) -> str:
    start = sdl.index(header)
    return sdl[start:sdl.index("\n}", start) + 2]


def test_mutation_field_declares_the_field_its_argument_and_its_payload():
    sdl = str(strawberry.Schema(query=Query, mutation=Mutation))
    assert _section(sdl, "type Mutation {").splitlines() == [
        "type Mutation {",
        '  """',
        "  Rename a thing.",
        "  ",
        "  Requires a signed-in user.",
        '  """',
        "  renameThing(",
        '    """The new name."""',
        "    input: RenameThingInput!",
        "  ): RenameThingPayload! @requiresAuth",
        "",
        '  """Maybe rename."""',
        "  maybeRename(",
        '    """Optional."""',
        "    input: RenameThingInput = null",
        "  ): SharedPayload!",
        "}",
    ]
    # The payload is named and described after the mutation; errors first, then the declared fields, nullable.
    assert '"""Result of renameThing."""\ntype RenameThingPayload {' in sdl
    payload = _section(sdl, "type RenameThingPayload {")
    assert payload.index("errors: [UserError!]!") < payload.index("thing: Thing") < payload.index("previousName: String")
    assert "thing: Thing\n" in payload and "previousName: String\n" in payload


def test_mutation_field_rejects_an_action_without_input():
    with pytest.raises(KeyError):
        @mutation_field(description="x", input_description="y", payload=SharedPayload)
        async def no_input(ctx: object) -> dict:
            return {}


def test_from_row_copies_same_named_columns_and_takes_overrides():
    row_id = uuid.uuid4()
    row = SimpleNamespace(id=row_id, name="Lamp", created_at=datetime(2026, 1, 2, tzinfo=UTC), renamed_at=None)
    thing = from_row(Thing, row, "Thing", renamed=row.renamed_at is not None, thing_id=row.id)
    assert (thing.name, thing.created_at, thing.renamed, thing.thing_id) == ("Lamp", row.created_at, False, row_id)
    assert decode_id(thing.id, "Thing") == row_id


def test_from_row_fails_on_a_field_the_row_lacks():
    row = SimpleNamespace(id=uuid.uuid4(), name="Lamp", created_at=datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(AttributeError, match="renamed"):
        from_row(Thing, row, "Thing", thing_id=row.id)
