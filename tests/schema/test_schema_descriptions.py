"""Introspection is the documentation: every public type, field, argument, input field and enum value has a
description, in the served schema, in schema.graphql and over HTTP introspection.

Enum values of ``enum.StrEnum`` classes get theirs from ``describe_values`` (codex_graphql/enum_docs.py), which
must leave the Python enums exactly as they were: string members, compared to and stored as strings.
"""

from __future__ import annotations

import enum
from pathlib import Path

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    introspection_from_schema,
)
from graphql.type import specified_scalar_types

from codex_graphql.authz import Permission
from codex_graphql.commerce.models import PurchaseStatus
from codex_graphql.enum_docs import describe_values
from codex_graphql.errors import ErrorCode
from codex_graphql.schema import build_schema as build_served_schema
from codex_graphql.schema import printed_schema
from codex_graphql.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_TEXT = (ROOT / "schema.graphql").read_text()


def missing_descriptions(schema: GraphQLSchema) -> list[str]:
    """Every public schema element without a non-empty description, as `Type`, `Type.field`,
    `Type.field(arg)` or `Enum.VALUE`. Introspection types and the built-in scalars are the spec's."""
    missing: list[str] = []

    def check(where: str, description: str | None) -> None:
        if not (description or "").strip():
            missing.append(where)

    for name, graphql_type in sorted(schema.type_map.items()):
        if name.startswith("__") or name in specified_scalar_types:
            continue
        check(name, graphql_type.description)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in graphql_type.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name})", arg.description)
        elif isinstance(graphql_type, GraphQLInputObjectType):
            for field_name, input_field in graphql_type.fields.items():
                check(f"{name}.{field_name}", input_field.description)
        elif isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                check(f"{name}.{value_name}", value.description)
    return missing


@pytest.fixture(scope="module")
def served():
    return build_served_schema(Settings(database_url=None))


def test_the_served_schema_describes_everything(served):
    missing = missing_descriptions(served._schema)
    assert missing == [], (
        f"{len(missing)} schema elements have no description (admin tools read them through introspection): "
        f"{missing}")


def test_schema_graphql_describes_everything():
    missing = missing_descriptions(build_schema(SCHEMA_TEXT))
    assert missing == [], f"{len(missing)} elements of schema.graphql have no description: {missing}"


def test_the_check_reports_every_missing_description_at_once():
    schema = build_schema(SCHEMA_TEXT)
    schema.type_map["ErrorCode"].values["THROTTLED"].description = None
    schema.type_map["Query"].fields["content"].args["id"].description = ""
    schema.type_map["OrderDirection"].description = "  "
    schema.type_map["CustomerOrder"].fields["field"].description = None
    schema.type_map["Organization"].fields["slug"].description = None
    assert missing_descriptions(schema) == [
        "CustomerOrder.field", "ErrorCode.THROTTLED", "OrderDirection", "Organization.slug", "Query.content(id)",
    ]


def test_enum_value_and_argument_descriptions_print_in_schema_graphql():
    for text in (printed_schema(), SCHEMA_TEXT):
        block = text.split("enum ErrorCode {", 1)[1].split("}", 1)[0]
        assert "The `idempotencyKey` was already used with a different input" in block
        orders = text.split("enum OrderDirection {", 1)[1].split("}", 1)[0]
        assert '"""Ascending: smallest, oldest or A first."""\n  ASC' in orders
        assert "Page size: how many items to return, 0 to 100 (default 20)." in text


def test_descriptions_show_in_introspection(served):
    result = introspection_from_schema(served._schema)
    types = {t["name"]: t for t in result["__schema"]["types"]}
    statuses = {v["name"]: v["description"] for v in types["PurchaseStatus"]["enumValues"]}
    assert set(statuses) == {"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"}
    assert "keeps access" in statuses["PARTIALLY_REFUNDED"]
    contents = next(f for f in types["Organization"]["fields"] if f["name"] == "contents")
    first = next(a for a in contents["args"] if a["name"] == "first")
    assert "0 to 100" in first["description"] and "default 20" in first["description"]


async def test_descriptions_are_served_over_http_introspection(gql):
    body = await gql.ok("""{
      errorCode: __type(name: "ErrorCode") { enumValues { name description } }
      query: __type(name: "Query") { fields { name args { name description } } }
      mutation: __type(name: "Mutation") { fields { name args { name description } } }
    }""")
    codes = {v["name"]: v["description"] for v in body["errorCode"]["enumValues"]}
    assert set(codes) == {code.value for code in ErrorCode}
    assert all(description and description.strip() for description in codes.values()), codes
    assert "limit" in codes["DOWNLOAD_LIMIT_REACHED"]
    for root in ("query", "mutation"):
        for field in body[root]["fields"]:
            for arg in field["args"]:
                assert arg["description"], f"{root}.{field['name']}({arg['name']}) has no description"
    refund = next(f for f in body["mutation"]["fields"] if f["name"] == "refundPurchase")
    assert "minor units" in refund["args"][0]["description"]


def test_python_enums_stay_plain_string_enums():
    # The descriptions live on strawberry's definition only; the Python enums are untouched.
    assert issubclass(ErrorCode, enum.StrEnum) and issubclass(Permission, enum.StrEnum)
    assert ErrorCode.THROTTLED == "THROTTLED" and str(ErrorCode.THROTTLED) == "THROTTLED"
    assert PurchaseStatus("REFUNDED") is PurchaseStatus.REFUNDED
    assert [p.value for p in Permission][:3] == ["ORGANIZATION_READ", "MEMBERS_READ", "MEMBERS_MANAGE"]
    definition = ErrorCode.__strawberry_definition__
    assert [v.name for v in definition.values] == [c.name for c in ErrorCode]
    assert [v.value for v in definition.values] == [c.value for c in ErrorCode]


def test_describe_values_refuses_unknown_values_and_undecorated_enums():
    @strawberry.enum(description="A test enum.")
    class Colour(enum.StrEnum):
        RED = "RED"
        BLUE = "BLUE"

    describe_values(Colour, {"RED": "Warm.", "BLUE": "Cold."})
    assert [v.description for v in Colour.__strawberry_definition__.values] == ["Warm.", "Cold."]
    assert Colour.RED == "RED"
    with pytest.raises(ValueError, match="GREEN"):
        describe_values(Colour, {"GREEN": "Leafy."})
    with pytest.raises(ValueError, match="empty"):
        describe_values(Colour, {"RED": " "})

    class Plain(enum.StrEnum):
        A = "A"

    with pytest.raises(TypeError):
        describe_values(Plain, {"A": "Letter."})
