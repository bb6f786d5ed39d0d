"""Fallback per root field: a document mixing compiled and non-compiled roots runs the compiled ones as
SQL and the rest through the resolvers, and answers exactly what normal execution of the whole document
answers (data in document order, errors with their paths and locations); every root (or whole document)
left to the resolvers is counted in ``codex_fastpath_fallback_total{reason}``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from graphql import parse

from codex_graphql.fastpath.engine import derive
from codex_graphql.relay import to_global_id
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    fast_path,
    resolvers_only,
    unsigned,
    viewers,
    world,
)
from tests.support import bare, statements

MIXED = """query Mixed($slug: String!, $first: Int, $id: ID!, $node: ID!) {
  shop: organization(slug: $slug) { ...Shop }
  item: content(id: $id) { id title ...Money }
  __typename
  thing: node(id: $node) { id }
  me: viewer { name }
}
fragment Shop on Organization { name contents(first: $first) { nodes { ...Card } totalCount } }
fragment Card on Content { id title viewerHasAccess }
fragment Money on Content { revenueCents }
"""
COMPILED_ONLY = """query A($slug: String!, $first: Int) {
  shop: organization(slug: $slug) { ...Shop } me: viewer { name } }
fragment Shop on Organization { name contents(first: $first) { nodes { ...Card } totalCount } }
fragment Card on Content { id title viewerHasAccess }
"""
RESOLVED_ONLY = """query B($id: ID!, $node: ID!) {
  item: content(id: $id) { id title ...Money } thing: node(id: $node) { id } }
fragment Money on Content { revenueCents }
"""


def fallbacks(app: Any, reason: str) -> float:
    registry = app.state.runtime["graphql"].metrics.registry
    return registry.get_sample_value("codex_fastpath_fallback_total", {"reason": reason}) or 0.0


async def variables_for(admin_db: Any, world: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    item = await admin_db.fetchval("select id from content where title = 'Item 3'")
    return {"slug": "shop", "first": 4, "id": to_global_id("Content", item), "node": to_global_id("Content", item)}


async def same_answer(app: Any, gql: Any, reference: Any, document: str, variables: dict[str, Any],
                      token: str | None) -> dict[str, Any]:
    fast = await gql.raw(document, variables, token)
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code
    storage = app.state.runtime["services"].storage
    fast_body, slow_body = fast.json(), slow.json()
    assert unsigned(bare(fast_body), storage) == unsigned(bare(slow_body), storage), (document, variables, token)
    assert fast_body["extensions"]["cost"]["requestedQueryCost"] == slow_body["extensions"]["cost"]["requestedQueryCost"]
    return fast_body


async def test_a_mixed_document_answers_what_normal_execution_answers(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    plan = fast_path(app).plan(MIXED, None)
    assert plan is not None
    assert [(slot.key, slot.root is not None) for slot in plan.slots] == [
        ("shop", True), ("item", True), ("__typename", True), ("thing", True), ("me", True)]
    variables = await variables_for(admin_db, world)
    for who, token in viewers(world).items():
        body = await same_answer(app, gql, resolvers_only, MIXED, variables, token)
        assert list(body["data"]) == ["shop", "item", "__typename", "thing", "me"]  # document order, aliases kept
        assert body["data"]["shop"]["contents"]["totalCount"] == (16 if who == "owner" or who == "creator" else 14)
        assert body["data"]["thing"] == {"id": variables["node"]}
        errors = body.get("errors", [])
        if who == "owner":
            assert not errors and body["data"]["item"]["revenueCents"] is not None
        else:
            # The resolved root's error, with its path and its location in the request's own text.
            assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED" if token is None else "FORBIDDEN"]
            assert errors[0]["path"] == ["item", "revenueCents"]
            line = next(n for n, text in enumerate(MIXED.splitlines(), 1) if text.startswith("fragment Money"))
            assert errors[0]["locations"] == [{"line": line, "column": 29}]


async def test_the_compiled_roots_run_as_sql_and_only_the_others_through_the_resolvers(app, gql, world, admin_db):  # noqa: F811
    variables = await variables_for(admin_db, world)
    token = world["customer"].token
    compiled_vars = {k: variables[k] for k in ("slug", "first")}
    resolved_vars = {k: variables[k] for k in ("id", "node")}
    async with statements(app):  # stops the outbox relay, which would take connections between the requests
        for document, values in ((COMPILED_ONLY, compiled_vars), (RESOLVED_ONLY, resolved_vars), (MIXED, variables)):
            await gql(document, values, token)  # warm: the viewer's session and the connection's tenant scope
    async with statements(app) as compiled:
        await gql.ok(COMPILED_ONLY, compiled_vars, token)
    async with statements(app) as resolved:
        await gql(RESOLVED_ONLY, resolved_vars, token)
    async with statements(app) as mixed:
        await gql(MIXED, variables, token)
    assert compiled and resolved
    # The compiled roots' own statements (one per root), plus what the resolvers run for the other roots.
    assert Counter(mixed) == Counter(compiled) + Counter(resolved), (mixed, compiled, resolved)


async def test_fallbacks_are_counted_by_reason(app, gql, world, admin_db):  # noqa: F811
    variables = await variables_for(admin_db, world)
    token = world["customer"].token
    before = {reason: fallbacks(app, reason) for reason in ("graft:Content.revenueCents", "Query.node",
                                                            "graft:Content.ratingCount",
                                                            "mutation", "variables", "introspection")}
    await gql(MIXED, variables, token)
    await gql(MIXED, variables, token)
    user = {"n": to_global_id("User", world["customer"].user_id)}  # a type node(id:) does not compile: resolvers
    for _ in range(2):
        assert (await gql.ok("query($n: ID!) { node(id: $n) { id } }", user, token))["node"] is None
    await gql.ok('{ organization(slug: "shop") { name contents(first: 1) { nodes { ratingCount } } } }', {}, token)
    await gql('mutation { logout { __typename } }', {}, None)
    await gql(MIXED, {**variables, "first": "many"}, token)  # invalid variables: the whole document
    await gql('{ __schema { queryType { name } } organization(slug: "shop") { name } }', {}, token)
    after = {reason: fallbacks(app, reason) for reason in before}
    assert {reason: after[reason] - before[reason] for reason in before} == {
        "graft:Content.revenueCents": 2, "Query.node": 2, "graft:Content.ratingCount": 1, "mutation": 1, "variables": 1,
        "introspection": 1}
    metrics = await gql.http.get("/metrics")
    assert 'codex_fastpath_fallback_total{reason="graft:Content.revenueCents"} 2.0' in metrics.text


async def test_fallback_reasons_are_bounded(app):
    fast = fast_path(app)
    for n in range(300):
        fast.count(f"Type{n}.field with spaces and 'quotes'")
    registry = app.state.runtime["graphql"].metrics.registry
    labels = {s.labels["reason"] for metric in registry.collect() if metric.name == "codex_fastpath_fallback"
              for s in metric.samples if s.name == "codex_fastpath_fallback_total"}
    assert len(labels) <= 201 and "other" in labels
    assert all(" " not in label and "'" not in label for label in labels)


async def test_roots_in_fragments_on_query_and_requests_the_plan_cannot_split(app, gql, resolvers_only, world, admin_db):  # noqa: F811
    variables = await variables_for(admin_db, world)
    document = """query Q($slug: String!) { ...Roots ... on Query { me: viewer { name } } }
    fragment Roots on Query { organization(slug: $slug) { name } viewer { purchases { nodes { ...Money } } } }
    fragment Money on Purchase { customerEmail }"""
    plan = fast_path(app).plan(document, None)
    assert plan is not None and [slot.root is not None for slot in plan.slots] == [True, False, True]
    values = {"slug": "shop"}
    for token in viewers(world).values():
        await same_answer(app, gql, resolvers_only, document, values, token)
        # Paging arguments the compiled root refuses for this request only: the whole document, same answer.
        await same_answer(app, gql, resolvers_only, MIXED, {**variables, "first": 101}, token)
        await same_answer(app, gql, resolvers_only, MIXED, {**variables, "slug": "no-such-shop"}, token)


def test_the_derived_document_keeps_every_token_in_place():
    query = """query Two($a: ID!, $s: String!) {
  o: organization(slug: $s) { name }
  c: content(id: $a) { ...F }
}
query Other { viewer { name } }
fragment F on Content { title }
fragment G on Organization { name }
"""
    document = parse(query)
    operation = document.definitions[0]
    derived = derive(query, document, operation, {"c"})  # type: ignore[arg-type]
    assert derived is not None and len(derived) == len(query)
    assert derived.splitlines()[2] == "  c: content(id: $a) { ...F }"
    assert "organization" not in derived and "viewer" not in derived and "fragment G" not in derived
    assert "$s" not in derived and "fragment F on Content { title }" in derived
    only_o = derive(query, document, operation, {"o"})  # type: ignore[arg-type]
    assert only_o is not None and "$a" not in only_o.splitlines()[0] and "fragment F" not in only_o
    parse(only_o)
    query = 'query Z($x: Int) {\n  __typename c: content(id: "1") { title } v: viewer { name(x: $x) }\n}'
    document = parse(query)
    no_variable = derive(query, document, document.definitions[0], {"c"})  # type: ignore[arg-type]
    assert no_variable is not None and no_variable.splitlines()[0].split() == ["query", "Z", "{"]
    assert no_variable.splitlines()[1].strip() == 'c: content(id: "1") { title }'
    parse(no_variable)
