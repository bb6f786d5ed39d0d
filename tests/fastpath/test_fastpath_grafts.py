"""Fallback per field: inside a compiled root, a field that does not compile (on a type the resolvers load
by id) is grafted: the root still runs as its one statement, the field is resolved normally on the
resolvers' parent objects, and the answer (data and errors, paths, locations, nulls propagated from
non-null fields) is what normal execution of the whole document answers."""

# ruff: noqa: F811  (the fixtures imported from the equivalence tests are redefined as parameters)
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from codex_graphql.fastpath import grafts, registry
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

# Content.revenueCents (guarded, not declared), Content.reviews (arguments) and Content.stats inside the
# catalogue's nodes; Organization.policies and the guarded Organization.purchases beside compiled scalars.
CATALOGUE = """query Shop($slug: String!, $first: Int) {
  organization(slug: $slug) {
    name
    policies { refundPolicy }
    contents(first: $first) {
      totalCount
      nodes { id title ...Money reviews(first: 2) { totalCount } }
    }
    purchases(first: 2) { totalCount }
    slug
  }
}
fragment Money on Content { revenueCents priceCents revenueCents }
"""
MONEY = "fragment Money on Content { revenueCents priceCents revenueCents }"
# The same grafts reached through edges, with an alias, twice on one object.
EDGES = """query E($slug: String!) { organization(slug: $slug) { contents(first: 30) { edges { cursor node {
  title money: revenueCents stats { purchases } more: reviews(first: 1) { nodes { id } } } } } } }"""
# A Content inside a purchase (a nested composite of the viewer's history), and the item page.
HISTORY = """query H { viewer { name purchases(first: 20) { nodes { id contentTitle
  content { title revenueCents ratingAverage: reviews(first: 1) { totalCount } } } } } }"""
ITEM = """query I($id: ID!) { content(id: $id) { id title revenueCents media { container } } }"""
# A non-null graft field failing (`first` over 100: BAD_USER_INPUT) nulls the nearest nullable ancestor:
# `reviews`, the node (non-null), `nodes` (non-null), `contents` (non-null), then the organization.
NON_NULL = """query N($slug: String!) { organization(slug: $slug) { name
  contents(first: 3) { nodes { title reviews(first: 101) { totalCount } } } } other: organization(slug: $slug) { name } }"""


@pytest.fixture
def graft_runs(monkeypatch) -> list[int]:
    """The number of parents each request grafted onto (so an equal answer is known to come from grafting)."""
    runs: list[int] = []
    original = grafts.run

    async def counted(prepared: Any, data: Any) -> Any:
        runs.append(len(prepared.jobs))
        return await original(prepared, data)
    monkeypatch.setattr(grafts, "run", counted)
    return runs


def errors_in_any_order(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "errors": sorted(body.get("errors", []), key=lambda e: json.dumps(e["path"]))}


async def same_answer(app: Any, gql: Any, reference: Any, document: str, variables: dict[str, Any],
                      token: str | None, *, any_order: bool = False) -> dict[str, Any]:
    """Equal answers; ``any_order``: the errors of roots running side by side in whatever order they came
    (normal execution lists them as they happen; the spec gives their order no meaning)."""
    fast = await gql.raw(document, variables, token)
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code
    storage = app.state.runtime["services"].storage
    fast_body, slow_body = fast.json(), slow.json()
    if any_order:
        fast_body, slow_body = errors_in_any_order(fast_body), errors_in_any_order(slow_body)
    assert unsigned(bare(fast_body), storage) == unsigned(bare(slow_body), storage), (document, variables, token)
    assert fast_body["extensions"]["cost"]["requestedQueryCost"] == slow_body["extensions"]["cost"]["requestedQueryCost"]
    return fast_body


def graft_sites(app: Any, document: str) -> list[tuple[str, str]]:
    plan = fast_path(app).plan(document, None)
    assert plan is not None, "this document should compile"
    return sorted((site.type_name, site.key) for slot in plan.slots if isinstance(slot.root, grafts.GraftedRoot)
                  for site in slot.root.sites)


async def content_id(admin_db: Any, title: str) -> str:
    return to_global_id("Content", await admin_db.fetchval("select id from content where title = $1", title))


async def test_fields_that_do_not_compile_are_grafted_into_their_compiled_root(app):
    assert graft_sites(app, CATALOGUE) == [("Content", "revenueCents"), ("Content", "reviews"),
                                           ("Organization", "purchases")]
    assert graft_sites(app, EDGES) == [("Content", "money"), ("Content", "more"), ("Content", "stats")]
    assert graft_sites(app, HISTORY) == [("Content", "ratingAverage"), ("Content", "revenueCents")]
    assert graft_sites(app, ITEM) == [("Content", "media"), ("Content", "revenueCents")]
    # Direct registry calls stay strict (grafting is the engine's choice).
    with pytest.raises(registry.NotCompilable):
        registry.compile_root(fast_path(app).plan(ITEM, None).operation.selection_set.selections[0], {})


@pytest.mark.parametrize("document", [CATALOGUE, EDGES, HISTORY])
async def test_grafted_answers_equal_normal_execution_for_every_viewer(app, gql, resolvers_only, world, document,
                                                                       graft_runs):
    for who, token in viewers(world).items():
        for first in (2, 30):
            body = await same_answer(app, gql, resolvers_only, document, {"slug": "shop", "first": first}, token)
            if document is CATALOGUE and body["data"]["organization"] is not None:
                nodes = body["data"]["organization"]["contents"]["nodes"]
                errors = body.get("errors", [])
                if who == "owner":
                    assert not errors and all(isinstance(n["revenueCents"], int) for n in nodes)
                else:  # one error per item, at the item's own path, located in the fragment (both occurrences)
                    revenue = [e for e in errors if e["path"][-1] == "revenueCents"]
                    assert [e["path"] for e in revenue] == [
                        ["organization", "contents", "nodes", i, "revenueCents"] for i in range(len(nodes))]
                    line = CATALOGUE.splitlines().index(MONEY) + 1
                    assert revenue[0]["locations"] == [{"line": line, "column": 29}, {"line": line, "column": 53}]
                    assert revenue[0]["extensions"]["code"] == ("UNAUTHENTICATED" if token is None else "FORBIDDEN")
                    assert all(n["revenueCents"] is None and n["title"] for n in nodes)
    # Every request with a compiled object to graft onto grafted (only the customer has a purchase history).
    assert len(graft_runs) == (2 if document is HISTORY else 10) and min(graft_runs) >= 1


@pytest.mark.parametrize("document", [
    # Shapes that used to leave their whole root to the resolvers.
    """{ organization(slug: "shop") { contents { edges { node { revenueCents } } } } }""",
    """{ organization(slug: "shop") { contents(first: 30) { edges { node { title playback { url } } } } } }""",
    """{ organization(slug: "shop") { analytics { topContent { purchases content { title revenueCents } } } } }""",
    """{ content(id: "%s") { id media { width } } }""",
])
async def test_shapes_once_left_whole_are_grafted(app, gql, resolvers_only, world, admin_db, document, graft_runs):
    if "%s" in document:
        document = document % await content_id(admin_db, "Item 21")
    assert graft_sites(app, document)
    for token in viewers(world).values():
        await same_answer(app, gql, resolvers_only, document, {}, token)
    assert graft_runs


async def test_the_item_page_and_a_missing_item(app, gql, resolvers_only, world, admin_db):
    for title in ("Item 0", "Item 13", "Item 21"):
        for token in viewers(world).values():
            await same_answer(app, gql, resolvers_only, ITEM, {"id": await content_id(admin_db, title)}, token)
    await same_answer(app, gql, resolvers_only, ITEM, {"id": to_global_id("Content", "0" * 32)}, None)


async def test_a_non_null_graft_error_nulls_the_same_ancestor_as_normal_execution(app, gql, resolvers_only, world):
    assert graft_sites(app, NON_NULL) == [("Content", "reviews")]
    for token in viewers(world).values():
        body = await same_answer(app, gql, resolvers_only, NON_NULL, {"slug": "shop"}, token)
        assert body["data"] == {"organization": None, "other": {"name": body["data"]["other"]["name"]}}
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
            (["organization", "contents", "nodes", 0, "reviews"], "BAD_USER_INPUT")]


async def test_a_graft_under_skip_and_include(app, gql, resolvers_only, world):
    document = """query D($slug: String!, $money: Boolean!) { organization(slug: $slug) { contents(first: 4) {
      nodes { title revenueCents @include(if: $money) reviews(first: 1) @skip(if: $money) { totalCount } } } } }"""
    for money in (True, False):
        for token in (world["owner"].token, world["customer"].token):
            body = await same_answer(app, gql, resolvers_only, document, {"slug": "shop", "money": money}, token)
            node = body["data"]["organization"]["contents"]["nodes"][0]
            assert ("revenueCents" in node) is money and ("reviews" in node) is not money


async def test_grafts_cost_no_parent_statement_whatever_the_page_size(app, gql, world):
    token = world["owner"].token
    document = """query S($slug: String!, $first: Int) { organization(slug: $slug) { name contents(first: $first) {
      nodes { id title revenueCents } } } }"""
    await gql.ok(document, {"slug": "shop", "first": 2}, token)  # warm: the session, the connection's scope
    seen: dict[int, list[str]] = {}
    for first in (5, 50):
        async with statements(app) as seen[first]:
            data = await gql.ok(document, {"slug": "shop", "first": first}, token)
        assert len(data["organization"]["contents"]["nodes"]) == min(first, 16)
    assert len(seen[5]) == len(seen[50]), (seen[5], seen[50])
    for found in seen.values():
        lateral = [s for s in found if "LEFT JOIN LATERAL" in s]
        parents = [s for s in found if s.startswith("SELECT content.") and "content.id IN" in s]
        # the root's statement, and no read of the parents: they are built from its rows (graft_parents)
        assert len(lateral) == 1 and not parents, found
    async with statements(app) as compiled_only:
        await gql.ok(document.replace(" revenueCents", ""), {"slug": "shop", "first": 50}, token)
    # The same statement, reading the parents' columns too (``c__<column>``).
    grafted = re.sub(r", [^,]+ AS c__\w+", "", next(s for s in seen[50] if "LEFT JOIN LATERAL" in s))
    assert compiled_only == [grafted]


def fallbacks(app: Any, reason: str) -> float:
    registry_ = app.state.runtime["graphql"].metrics.registry
    return registry_.get_sample_value("codex_fastpath_fallback_total", {"reason": reason}) or 0.0


async def test_grafts_are_counted_by_reason(app, gql, world):
    before = fallbacks(app, "graft:Content.revenueCents"), fallbacks(app, "Content.revenueCents")
    await gql(EDGES, {"slug": "shop"}, world["customer"].token)
    await gql(CATALOGUE, {"slug": "shop", "first": 10}, world["customer"].token)
    after = fallbacks(app, "graft:Content.revenueCents"), fallbacks(app, "Content.revenueCents")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 0)


async def test_a_declared_field_taken_away_is_grafted_with_the_same_answer(app, gql, resolvers_only, world,
                                                                          monkeypatch):
    """A test-only situation: Content.title and Organization.name undeclared, grafted next to compiled fields."""
    monkeypatch.delitem(registry.OBJECTS["Content"].fields, "title")
    monkeypatch.delitem(registry.OBJECTS["Organization"].fields, "name")
    fast_path(app).plans.clear()
    document = """query T($slug: String!) { organization(slug: $slug) { slug name contents(first: 6) {
      nodes { id title priceCents } } } }"""
    try:
        assert graft_sites(app, document) == [("Content", "title"), ("Organization", "name")]
        for token in viewers(world).values():
            body = await same_answer(app, gql, resolvers_only, document, {"slug": "shop"}, token)
            assert body["data"]["organization"]["contents"]["nodes"][0]["title"] == "Item 0"
    finally:
        monkeypatch.undo()
        fast_path(app).plans.clear()


async def test_a_parent_gone_meanwhile_answers_through_the_resolvers(app, gql, resolvers_only, world, monkeypatch):
    async def none(ctx: Any, ids: list[Any]) -> dict[Any, Any]:
        return {}

    monkeypatch.setitem(grafts.PARENTS, "Content", none)
    body = await same_answer(app, gql, resolvers_only, CATALOGUE, {"slug": "shop", "first": 3}, world["owner"].token)
    assert "errors" not in body and body["data"]["organization"]["contents"]["nodes"][0]["revenueCents"] is not None


async def test_grafts_beside_a_root_left_to_the_resolvers(app, gql, resolvers_only, world, admin_db, graft_runs):
    """A compiled root with grafts, a root left whole to the resolvers (a Purchase field that does not
    compile: Purchase is not grafted) and a compiled root: one answer, errors of both in document order."""
    document = """query M($slug: String!, $id: ID!) {
  item: content(id: $id) { title revenueCents }
  me: viewer { purchases(first: 3) { nodes { customerEmail } } }
  shop: organization(slug: $slug) { name contents(first: 3) { nodes { title revenueCents } } }
}"""
    plan = fast_path(app).plan(document, None)
    assert plan is not None and [slot.root is not None for slot in plan.slots] == [True, False, True]
    variables = {"slug": "shop", "id": await content_id(admin_db, "Item 1")}
    for who, token in viewers(world).items():
        await same_answer(app, gql, resolvers_only, document, variables, token, any_order=True)
        body = await gql(document, variables, token)
        roots = [e["path"][0] for e in body.get("errors", [])]
        assert roots == sorted(roots, key=["item", "me", "shop"].index), who
        if who == "customer":
            assert {"item", "me", "shop"} <= set(roots)
    assert len(graft_runs) == 10


async def test_a_graft_inside_a_node(app, gql, resolvers_only, world, admin_db, graft_runs):
    document = """query N($id: ID!) { node(id: $id) { id ... on Content { title revenueCents } } }"""
    if not graft_sites(app, document):
        pytest.fail("node(id:) should compile with Content.revenueCents grafted")
    variables = {"id": await content_id(admin_db, "Item 2")}
    for token in viewers(world).values():
        await same_answer(app, gql, resolvers_only, document, variables, token)
    assert graft_runs


async def test_a_compiled_guard_refused_grafts_the_field_not_the_root(app, gql, resolvers_only, world, admin_db,
                                                                      monkeypatch, graft_runs):
    """Declared, `Content.failureReason` (CONTENT_READ) compiles with its check: staff get the compiled value;
    for everyone else only that field is resolved, on each item, and the resolvers phrase the error there."""
    schema = app.state.runtime["graphql"].schema
    monkeypatch.setitem(registry.OBJECTS["Content"].fields, "failureReason", registry.Scalar("failure_reason"))
    registry.bind_schema(schema)
    fast_path(app).plans.clear()
    try:
        await admin_db.execute("update content set failure_reason = 'bad codec' where title = 'Item 1'")
        document = '{ organization(slug: "shop") { name contents(first: 3) { nodes { id title failureReason } } } }'
        for who, token in viewers(world).items():
            runs = len(graft_runs)
            body = await same_answer(app, gql, resolvers_only, document, {}, token)
            nodes = body["data"]["organization"]["contents"]["nodes"]
            if who in ("owner", "creator"):
                assert "errors" not in body and nodes[1]["failureReason"] == "bad codec" and len(graft_runs) == runs
            else:
                assert [e["path"] for e in body["errors"]] == [
                    ["organization", "contents", "nodes", i, "failureReason"] for i in range(3)]
                assert all(n["title"] for n in nodes) and len(graft_runs) == runs + 1
        assert fallbacks(app, "graft:Content.failureReason_refused") == 3
    finally:
        monkeypatch.undo()
        registry.bind_schema(schema)
        fast_path(app).plans.clear()


async def test_a_graft_on_the_viewer(app, gql, resolvers_only, world, graft_runs):
    document = "{ viewer { name memberships { role organization { slug } } email } }"
    assert graft_sites(app, document) == [("Viewer", "memberships")]
    for token in viewers(world).values():
        await same_answer(app, gql, resolvers_only, document, {}, token)
    assert len(graft_runs) == 4  # every signed-in viewer (anonymous: `viewer` is null, nothing to graft)
