"""docs/api.md stays in step with schema.graphql, and the schema describes every public type and field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
)

ROOT = Path(__file__).resolve().parents[2]
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
    changed = SCHEMA_TEXT.replace("  ): SavePlaybackPositionPayload! @requiresAuth",
                                  "  ): SavePlaybackPositionPayload! @requiresOrgPermission(permission: CONTENT_READ)")
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


def test_argument_table_lists_every_root_argument_with_its_description():
    table = gen.argument_table(SCHEMA_TEXT)
    schema = build_schema(SCHEMA_TEXT)
    for root in ("Query", "Mutation", "Subscription"):
        for field_name, field in schema.type_map[root].fields.items():
            for arg_name, arg in field.args.items():
                row = (f"| `{root}.{field_name}` | `{arg_name}` | `{arg.type}` |")
                assert row in table, row
                assert gen.cell(arg.description) in table
    assert "| `Subscription.purchaseEvents` | `organizationId` | `ID!` |  | Global id of the organization" in table
    assert table in (ROOT / "docs" / "api.md").read_text()


def test_enum_tables_list_every_value_with_its_description():
    tables = gen.enum_tables(SCHEMA_TEXT)
    schema = build_schema(SCHEMA_TEXT)
    enums = [t for n, t in schema.type_map.items() if isinstance(t, GraphQLEnumType) and not n.startswith("__")]
    assert len(enums) > 10
    for enum_type in enums:
        assert f"#### `{enum_type.name}`" in tables
        for value_name, value in enum_type.values.items():
            assert value.description, f"{enum_type.name}.{value_name}"
            deprecated = f" Deprecated: {gen.cell(value.deprecation_reason)}" if value.deprecation_reason else ""
            assert f"| `{value_name}` | {gen.cell(value.description)}{deprecated} |" in tables
    assert "| `REFUND_EXCEEDS_REMAINING` | The refund asked for is more than" in tables
    assert "| `LIGHT` | Former name of POST; behaves exactly like POST. Deprecated: Use POST;" in tables
    assert tables in (ROOT / "docs" / "api.md").read_text()


def test_a_description_change_makes_the_docs_stale():
    current = (ROOT / "docs" / "api.md").read_text()
    for old, new in [("Ascending: smallest, oldest or A first.", "Ascending order."),
                     ("Email and password of the account to sign in to.", "Credentials.")]:
        assert old in SCHEMA_TEXT
        changed = SCHEMA_TEXT.replace(old, new)
        assert gen.render(current, changed) != current
        assert new in gen.render(current, changed)


def test_table_cells_stay_on_one_line_and_escape_pipes():
    assert gen.cell("a |b\n  c") == "a \\|b c"
    assert gen.cell(None) == ""
