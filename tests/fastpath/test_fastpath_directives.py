"""@skip/@include on the compiled path: literal conditions are applied while compiling; a document whose
conditions use variables keeps one plan, specialized per combination of those variables' values on first
use (``CompiledOperation.variants``, bounded). Every combination answers what normal execution answers,
and runs as SQL (no fallback counted, one statement per compiled root)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from graphql import parse, validate

from codex_graphql.doccache import document_digest
from codex_graphql.fastpath.engine import MAX_VARIANTS, CompiledOperation, Refused, derive
from codex_graphql.fastpath.selection import DIRECTIVE_VALUES, NotCompilable, directive_variables, fields_of
from codex_graphql.relay import to_global_id
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    compiled_execution_never_fails,
    fast_path,
    resolvers_only,
    unsigned,
    viewers,
    world,
)
from tests.support import bare, statements

STOREFRONT = """query Storefront($slug: String!, $first: Int = 6, $compact: Boolean = false, $withCreator: Boolean!,
                   $shop: Boolean!) {
  __typename
  shop: organization(slug: $slug) @include(if: $shop) {
    id
    name @skip(if: true)
    contents(first: $first) {
      edges { cursor node { ...Card } }
      pageInfo { hasNextPage endCursor @skip(if: $compact) }
    }
  }
}
fragment Card on Content {
  id title tags @skip(if: $compact) durationSeconds @include(if: false)
  thumbnailUrl viewerHasAccess
  creator @include(if: $withCreator) { id name @skip(if: $compact) }
  ... on Content @skip(if: $compact) { priceCents currency }
  ...Kind @include(if: $withCreator)
}
fragment Kind on Content { kind }
"""
HISTORY = """query History($first: Int = 4, $withContent: Boolean!, $brief: Boolean!) {
  viewer {
    name @include(if: $brief)
    purchases(first: $first) @skip(if: $brief) {
      totalCount
      edges { cursor node { id status amountCents ...Bought @include(if: $withContent)
                            organization @skip(if: true) { slug } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
fragment Bought on Purchase {
  contentTitle content { id title ... @include(if: $withContent) { thumbnailUrl creator { name } } }
}
"""
ROOTS = """query Roots($slug: String!, $shop: Boolean!, $hideMe: Boolean!) {
  ...Shop @include(if: $shop)
  ... @skip(if: $hideMe) { me: viewer { name } }
}
fragment Shop on Query { organization(slug: $slug) { name contents(first: 3) { nodes { title } } } }
"""
# Four variables: more combinations than a plan keeps.
MANY = """query Many($slug: String!, $a: Boolean!, $b: Boolean!, $c: Boolean!, $d: Boolean!) {
  organization(slug: $slug) { id name @include(if: $a) contents(first: 2) { nodes { id title @skip(if: $b)
    kind @include(if: $c) creator @skip(if: $d) { name } } } }
}"""


def fallback_total(app: Any) -> float:
    registry = app.state.runtime["graphql"].metrics.registry
    return sum(sample.value for metric in registry.collect() if metric.name == "codex_fastpath_fallback"
               for sample in metric.samples if sample.name == "codex_fastpath_fallback_total")


def fallbacks(app: Any, reason: str) -> float:
    registry = app.state.runtime["graphql"].metrics.registry
    return registry.get_sample_value("codex_fastpath_fallback_total", {"reason": reason}) or 0.0


def combinations(*names: str) -> list[dict[str, bool]]:
    return [dict(zip(names, values, strict=True)) for values in itertools.product((False, True), repeat=len(names))]


def plans_of(app: Any, document: str) -> list[Any]:
    fast = fast_path(app)
    digest = document_digest(document)
    return [fast.plans.get(key) for key in list(fast.plans._cache) if key[0] == digest]  # noqa: SLF001


def without_request_ids(body: dict[str, Any]) -> dict[str, Any]:
    for error in body.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
    return body


async def same_answer(app: Any, gql: Any, reference: Any, document: str, variables: dict[str, Any],
                      token: str | None) -> dict[str, Any]:
    fast = await gql.raw(document, variables, token)
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code
    storage = app.state.runtime["services"].storage
    fast_body, slow_body = without_request_ids(fast.json()), without_request_ids(slow.json())
    assert unsigned(bare(fast_body), storage) == unsigned(bare(slow_body), storage), (variables, token)
    if "extensions" in slow_body:
        cost = "requestedQueryCost"
        assert fast_body["extensions"]["cost"][cost] == slow_body["extensions"]["cost"][cost]
    return fast_body


async def compiled_everywhere(app: Any, gql: Any, reference: Any, world: dict[str, Any], document: str,  # noqa: F811
                              values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every combination for every viewer: the resolvers' answer, and nothing left to the resolvers."""
    answers = []
    before = fallback_total(app)
    for variables in values:
        for token in viewers(world).values():
            answers.append(await same_answer(app, gql, reference, document, variables, token))
    assert fallback_total(app) == before, "a combination ran through the resolvers"
    return answers


async def statements_per_request(app: Any, gql: Any, document: str, values: list[dict[str, Any]],
                                 token: str) -> list[int]:
    async with statements(app):  # stops the outbox relay; warms the session and every combination's plan
        for variables in values:
            await gql.ok(document, variables, token)
    counts = []
    for variables in values:
        async with statements(app) as seen:
            await gql.ok(document, variables, token)
        counts.append(len(seen))
    return counts


async def test_storefront_directives_compile_for_every_combination(app, gql, resolvers_only, world):  # noqa: F811
    values = [{"slug": "shop", **combo} for combo in combinations("compact", "withCreator", "shop")]
    answers = await compiled_everywhere(app, gql, resolvers_only, world, STOREFRONT, values)
    customer = answers[1::len(viewers(world))]
    for variables, body in zip(values, customer, strict=True):
        data = body["data"]
        if not variables["shop"]:
            assert data == {"__typename": "Query"}
            continue
        node = data["shop"]["contents"]["edges"][0]["node"]
        assert "name" not in data["shop"] and "durationSeconds" not in node
        assert ("tags" in node) is (not variables["compact"]) and ("priceCents" in node) is (not variables["compact"])
        assert ("creator" in node) is variables["withCreator"] and ("kind" in node) is variables["withCreator"]
        assert ("endCursor" in data["shop"]["contents"]["pageInfo"]) is (not variables["compact"])
    # The default of $compact is its value when it is left out: the same variant.
    await same_answer(app, gql, resolvers_only, STOREFRONT, {"slug": "shop", "withCreator": True, "shop": True},
                      world["customer"].token)
    [plan] = plans_of(app, STOREFRONT)
    assert isinstance(plan, CompiledOperation) and plan.slots == []
    assert set(plan.directive_variables) == {"compact", "withCreator", "shop"}
    assert len(plan.variants) == 8 and all(isinstance(v, CompiledOperation) for v in plan.variants.values())
    counts = await statements_per_request(app, gql, STOREFRONT, values, world["customer"].token)
    assert counts == [1 if variables["shop"] else 0 for variables in values], counts


async def test_purchase_history_directives_compile_for_every_combination(app, gql, resolvers_only, world):  # noqa: F811
    values = combinations("withContent", "brief")
    answers = await compiled_everywhere(app, gql, resolvers_only, world, HISTORY, values)
    customer = answers[1::len(viewers(world))]
    for variables, body in zip(values, customer, strict=True):
        viewer = body["data"]["viewer"]
        assert ("name" in viewer) is variables["brief"] and ("purchases" in viewer) is (not variables["brief"])
        if not variables["brief"]:
            node = viewer["purchases"]["edges"][0]["node"]
            assert "organization" not in node and ("content" in node) is variables["withContent"]
            if variables["withContent"]:
                assert "creator" in node["content"]
    [plan] = plans_of(app, HISTORY)
    assert len(plan.variants) == 4
    counts = await statements_per_request(app, gql, HISTORY, values, world["customer"].token)
    assert counts == [1, 1, 1, 1], counts


async def test_whole_roots_left_out_at_the_root_level(app, gql, resolvers_only, world):  # noqa: F811
    values = [{"slug": "shop", **combo} for combo in combinations("shop", "hideMe")]
    answers = await compiled_everywhere(app, gql, resolvers_only, world, ROOTS, values)
    customer = answers[1::len(viewers(world))]
    assert [list(body["data"]) for body in customer] == [["me"], [], ["organization", "me"], ["organization"]]
    [plan] = plans_of(app, ROOTS)
    assert [[slot.key for slot in variant.slots] for variant in plan.variants.values()] == [
        ["me"], [], ["organization", "me"], ["organization"]]
    counts = await statements_per_request(app, gql, ROOTS, values, world["customer"].token)
    assert counts == [1, 0, 2, 1], counts


async def test_literal_conditions_are_applied_while_planning(app, gql, resolvers_only, world):  # noqa: F811
    document = """{ a: organization(slug: "shop") @skip(if: true) { name }
      b: organization(slug: "shop") @include(if: true) { id name @include(if: false)
        contents(first: 2) { nodes { title @skip(if: false) kind @skip(if: true) ... @include(if: false) {
          creator { name } } } } }
      ... @skip(if: true) { viewer { name } }
    }"""
    plan = fast_path(app).plan(document, None)
    assert plan is not None and plan.directive_variables == () and [slot.key for slot in plan.slots] == ["b"]
    answers = await compiled_everywhere(app, gql, resolvers_only, world, document, [{}])
    assert answers[0]["data"]["b"]["contents"]["nodes"][0] == {"title": "Item 0"}


async def test_the_variants_of_a_plan_are_bounded(app, gql, resolvers_only, world):  # noqa: F811
    values = [{"slug": "shop", **combo} for combo in combinations("a", "b", "c", "d")]
    assert len(values) > MAX_VARIANTS
    token = world["customer"].token
    before = fallback_total(app)
    for variables in [*values, values[0]]:  # the first combination again, after it was dropped
        await same_answer(app, gql, resolvers_only, MANY, variables, token)
    assert fallback_total(app) == before
    [plan] = plans_of(app, MANY)
    assert len(plan.variants) == MAX_VARIANTS  # the oldest dropped; the first combination compiled again
    assert list(plan.variants)[-1] == (False, False, False, False)


async def test_a_guarded_field_under_directives_answers_like_normal_execution(app, gql, resolvers_only, world,  # noqa: F811
                                                                              admin_db):
    """`revenueCents` is guarded (the resolvers phrase its refusal): under @include, the root and the field
    are compiled or left to the resolvers per combination, with the same answer and errors either way."""
    document = """query M($slug: String!, $id: ID!, $withItem: Boolean!, $withRevenue: Boolean!) {
      shop: organization(slug: $slug) { name }
      ... @include(if: $withItem) { item: content(id: $id) { id title revenueCents @include(if: $withRevenue) } }
    }"""
    item = to_global_id("Content", await admin_db.fetchval("select id from content where title = 'Item 3'"))
    for combo in combinations("withItem", "withRevenue"):
        variables = {"slug": "shop", "id": item, **combo}
        before = fallback_total(app)
        for who, token in viewers(world).items():
            body = await same_answer(app, gql, resolvers_only, document, variables, token)
            assert ("item" in body["data"]) is combo["withItem"]
            assert bool(body.get("errors")) is (combo["withItem"] and combo["withRevenue"] and who != "owner")
        if not combo["withRevenue"]:
            assert fallback_total(app) == before  # all compiled
    [plan] = plans_of(app, document)
    assert len(plan.variants) == 4


def test_the_derived_document_keeps_root_level_directives_and_their_variables(app):
    """Roots left to the resolvers keep the @skip/@include of the fragments around them, and the variables
    those use stay defined: the derived document is valid and normal execution applies them."""
    query = """query R($slug: String!, $id: ID!, $withItem: Boolean!, $hideLater: Boolean!, $x: Boolean!) {
  shop: organization(slug: $slug) @include(if: $x) { name }
  ... @include(if: $withItem) { thing: node(id: $id) { id } }
  ...Later @skip(if: $hideLater)
}
fragment Later on Query { later: node(id: $id) { id } }
"""
    fast = fast_path(app)
    document = parse(query)
    derived = derive(query, document, document.definitions[0], {"thing", "later"})  # type: ignore[arg-type]
    assert derived is not None and len(derived) == len(query)
    assert "$withItem: Boolean!" in derived and "$hideLater: Boolean!" in derived and "$x" not in derived
    assert "... @include(if: $withItem) { thing: node(id: $id) { id } }" in derived
    assert "...Later @skip(if: $hideLater)" in derived and "organization" not in derived
    assert validate(fast.graphql_schema, parse(derived), fast.rules) == []


async def test_a_null_condition_is_left_to_the_resolvers(app, gql, resolvers_only, world):  # noqa: F811
    before = fallbacks(app, "skip_without_a_Boolean")
    variables = {"slug": "shop", "compact": None, "withCreator": True, "shop": True}
    body = await same_answer(app, gql, resolvers_only, STOREFRONT, variables, world["customer"].token)
    assert body["errors"]
    assert fallbacks(app, "skip_without_a_Boolean") == before + 1
    [plan] = plans_of(app, STOREFRONT)
    assert isinstance(plan.variants[tuple(variables[n] for n in plan.directive_variables)], Refused)


def test_other_directives_and_unknown_conditions_are_not_compiled():
    document = parse("""query Q($v: Boolean!) { a { b @custom c } d @skip(if: $v) { e } ...F @include(if: $v) }
      fragment F on Query { f @skip(if: $v) }""")
    operation = document.definitions[0]
    fragments = {"F": document.definitions[1]}
    assert set(directive_variables(operation, fragments)) == {"v"}  # type: ignore[arg-type]
    a = operation.selection_set.selections[0]  # type: ignore[attr-defined]
    with pytest.raises(NotCompilable, match="directive custom"):
        fields_of(a.selection_set, "A", fragments)  # type: ignore[arg-type]
    with pytest.raises(NotCompilable, match="directive variables"):  # no value known for $v
        fields_of(operation.selection_set, "Query", fragments)  # type: ignore[attr-defined, arg-type]
    for value, expected in ((True, ["a"]), (False, ["a", "d"])):
        token = DIRECTIVE_VALUES.set({"v": value})
        try:
            fields = fields_of(operation.selection_set, "Query", fragments)  # type: ignore[attr-defined, arg-type]
        finally:
            DIRECTIVE_VALUES.reset(token)
        assert [f.name.value for f in fields] == expected
