"""docs/api.md stays in step with schema.graphql, and the schema describes every public type and field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, build_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_TEXT = (ROOT / "schema.graphql").read_text()
_spec = importlib.util.spec_from_file_location("gen_api_docs", ROOT / "scripts" / "gen_api_docs.py")
assert _spec and _spec.loader
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def test_permission_table_in_docs_is_current():
    current = (ROOT / "docs" / "api.md").read_text()
    assert gen.render(current, SCHEMA_TEXT) == current, (
        "docs/api.md is stale: run `python scripts/gen_api_docs.py` and commit the result")


def test_table_lists_every_root_field_and_every_directive():
    table = gen.permission_table(SCHEMA_TEXT)
    schema = build_schema(SCHEMA_TEXT)
    for root in ("Query", "Mutation", "Subscription"):
        for field in schema.type_map[root].fields:
            assert f"| `{root}.{field}` |" in table
    assert "| `Mutation.login` | public |" in table
    assert "| `Mutation.savePlaybackPosition` | signed in |" in table
    assert "| `Subscription.purchaseEvents` | permission `PURCHASES_READ` in the organization |" in table
    assert "@requires" not in table


def test_a_schema_change_makes_the_docs_stale():
    changed = SCHEMA_TEXT.replace("savePlaybackPosition(input: SavePlaybackPositionInput!): "
                                  "SavePlaybackPositionPayload! @requiresAuth",
                                  "savePlaybackPosition(input: SavePlaybackPositionInput!): "
                                  "SavePlaybackPositionPayload! @requiresOrgPermission(permission: CONTENT_READ)")
    assert changed != SCHEMA_TEXT
    current = (ROOT / "docs" / "api.md").read_text()
    assert gen.render(current, changed) != current


def test_every_public_type_and_field_has_a_description():
    schema = build_schema(SCHEMA_TEXT)
    missing = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Float", "Boolean", "ID"):
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            missing += [f"{name}.{field}" for field, definition in graphql_type.fields.items()
                        if not definition.description]
    assert missing == [], f"add descriptions (introspection shows them to admin tools): {missing}"
