"""Connection arguments compile: ``Organization.contents(filter: ContentFilter)`` runs in the compiled
statement (content.filters' SQL form) for every filter field and combination, answers what the resolvers
answer for every kind of viewer (the staff-only status rule included), pages alike under a filter, costs
one statement whatever the page size and filter, and leaves a value the resolvers refuse to them.
``viewer { purchases { nodes { content } } }`` (the varied viewer_library document) compiles too."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    OPERATIONS,
    fast_path,
    resolvers_only,
    unsigned,
    world,
)
from tests.support import bare, statements

FILTERED = """query Filtered($slug: String!, $first: Int, $after: String, $filter: ContentFilter) {
  organization(slug: $slug) { id name
    contents(first: $first, after: $after, filter: $filter) { totalCount
      edges { cursor node { id title kind status tags viewerHasAccess creator { name } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""
# The filter written in the document, its fields from variables (one of them a literal enum).
LITERAL = """query Literal($slug: String!, $tag: String, $words: String) {
  organization(slug: $slug) { contents(first: 50, filter: {kind: VIDEO, tag: $tag, search: $words}) {
    totalCount nodes { title kind tags } } } }"""
FILTERS: list[dict[str, Any] | None] = [
    None, {}, {"kind": "VIDEO"}, {"kind": "AUDIO"}, {"tag": "tag-1"}, {"tag": "  ALL "}, {"tag": "  "},
    {"tag": "no-such-tag"}, {"search": "item 1"}, {"search": "  ABOUT item 2 "}, {"search": "%"}, {"search": "_"},
    {"status": "READY"}, {"status": "PUBLISHED"}, {"status": "FAILED"},
    {"kind": "VIDEO", "tag": "tag-2"}, {"kind": "AUDIO", "search": "item", "status": "PUBLISHED"},
    {"kind": "AUDIO", "tag": "all", "search": "Item 2", "status": "READY"},
    {"kind": None, "tag": None, "search": None, "status": None},
]
LIBRARY = (OPERATIONS / "varied" / "viewer_library.graphql").read_text()
# The varied storefront_filtered document without its @skip/@include (compiled by other work).
STOREFRONT_FILTERED = re.sub(
    r",\s*\$withCreator: Boolean = true, \$compact: Boolean = false|\s*@(skip|include)\(if: \$\w+\)", "",
    (OPERATIONS / "varied" / "storefront_filtered.graphql").read_text())


def viewers(world: dict[str, Any]) -> dict[str, str | None]:  # noqa: F811
    """Anonymous, a customer, staff of another organization, staff of this one (CONTENT_READ)."""
    return {"anonymous": None, "customer": world["customer"].token, "other_org_staff": world["other_owner"].token,
            "staff": world["owner"].token, "creator": world["creator"].token}


def fallbacks(app: Any) -> float:
    """Every request or root left to the resolvers so far, whatever the reason."""
    registry = app.state.runtime["graphql"].metrics.registry
    return sum(sample.value for metric in registry.collect() for sample in metric.samples
               if sample.name == "codex_fastpath_fallback_total")


async def compiled_like_resolvers(app: Any, gql: Any, reference: Any, document: str, variables: dict[str, Any],
                                  token: str | None) -> dict[str, Any]:
    """The answer, checked equal to the resolvers' and answered without any fallback."""
    before = fallbacks(app)
    fast = await gql.raw(document, variables, token)
    assert fallbacks(app) == before, ("fell back", document, variables)
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code == 200
    storage = app.state.runtime["services"].storage
    fast_body, slow_body = fast.json(), slow.json()
    assert unsigned(bare(fast_body), storage) == unsigned(bare(slow_body), storage), (variables, token)
    assert "errors" not in fast_body, fast_body
    return fast_body["data"]


def titles(data: dict[str, Any]) -> list[str]:
    return [edge["node"]["title"] for edge in data["organization"]["contents"]["edges"]]


def test_the_filter_argument_compiles(app):
    plan = fast_path(app).plan(FILTERED, None)
    assert plan is not None and all(slot.root is not None for slot in plan.slots)
    assert fast_path(app).plan(LITERAL, None) is not None


async def test_every_filter_field_and_combination_matches_the_resolvers_for_every_viewer(
        app, gql, resolvers_only, world):  # noqa: F811
    seen: dict[tuple[str, str], list[str]] = {}
    for who, token in viewers(world).items():
        for narrow in FILTERS:
            variables = {"slug": "shop", "first": 50, "filter": narrow}
            data = await compiled_like_resolvers(app, gql, resolvers_only, FILTERED, variables, token)
            seen[(who, repr(narrow))] = titles(data)
    # Right, not only equal: each field narrows, the status filter only for staff.
    customer = {narrow: found for (who, narrow), found in seen.items() if who == "customer"}
    assert customer[repr({"tag": "tag-1"})] == [f"Item {n}" for n in range(14) if n % 3 == 1]
    assert customer[repr({"kind": "AUDIO"})] == [f"Item {n}" for n in range(14) if n % 3 == 0]
    assert customer[repr({"search": "item 1"})] == ["Item 1", "Item 10", "Item 11", "Item 12", "Item 13"]
    assert customer[repr({"tag": "  ALL "})] == customer[repr(None)] == [f"Item {n}" for n in range(14)]
    assert customer[repr({"search": "%"})] == customer[repr({"search": "_"})] == []  # taken literally
    assert customer[repr({"status": "READY"})] == customer[repr(None)]  # not staff: the status is ignored
    assert seen[("other_org_staff", repr({"status": "READY"}))] == customer[repr(None)]
    assert seen[("staff", repr({"status": "READY"}))] == ["Item 21"]
    assert seen[("creator", repr({"status": "FAILED"}))] == []
    assert seen[("staff", repr({"kind": "AUDIO", "tag": "all", "search": "Item 2", "status": "READY"}))] == ["Item 21"]
    assert seen[("staff", repr({"tag": "  ALL "}))][-2:] == ["Item 20", "Item 21"]  # unlisted and READY too


async def test_a_filter_written_in_the_document_with_variables_inside_matches(app, gql, resolvers_only, world):  # noqa: F811
    for token in viewers(world).values():
        for variables in ({}, {"tag": "tag-2"}, {"words": "item 1"}, {"tag": "all", "words": "ITEM"}):
            data = await compiled_like_resolvers(app, gql, resolvers_only, LITERAL, {"slug": "shop", **variables}, token)
            assert all(node["kind"] == "VIDEO" for node in data["organization"]["contents"]["nodes"])
    data = await gql.ok(LITERAL, {"slug": "shop", "tag": "tag-2"}, world["customer"].token)
    assert [n["title"] for n in data["organization"]["contents"]["nodes"]] == ["Item 2", "Item 5", "Item 8", "Item 11"]


async def test_paging_under_a_filter_matches_the_resolvers(app, gql, resolvers_only, world):  # noqa: F811
    for who, token in viewers(world).items():
        for narrow in ({"kind": "VIDEO"}, {"tag": "all"}, {"search": "item", "status": "PUBLISHED"}):
            variables: dict[str, Any] = {"slug": "shop", "first": 3, "filter": narrow}
            pages: list[str] = []
            while True:
                data = await compiled_like_resolvers(app, gql, resolvers_only, FILTERED, variables, token)
                connection = data["organization"]["contents"]
                pages.extend(titles(data))
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                variables = {**variables, "after": connection["pageInfo"]["endCursor"]}
            whole = await gql.ok(FILTERED, {"slug": "shop", "first": 100, "filter": narrow}, token)
            assert pages == titles(whole) and len(pages) == whole["organization"]["contents"]["totalCount"], who
            assert len(pages) > 3, (who, narrow)  # more than one page was read


async def test_one_statement_per_request_whatever_the_page_size_and_filter(app, gql, world):  # noqa: F811
    token = world["owner"].token
    await gql.ok(FILTERED, {"slug": "shop"}, token)  # warm the session and the connection's tenant settings
    for narrow in FILTERS:
        for first in (1, 5, 50):
            async with statements(app) as seen:
                await gql.ok(FILTERED, {"slug": "shop", "first": first, "filter": narrow}, token)
            assert len(seen) == 1, (narrow, first, seen)


@pytest.mark.parametrize("narrow", [{"tag": "no/slashes"}, {"tag": "x" * 200}, {"kind": "VIDEO", "tag": "a b/c"}])
async def test_an_invalid_filter_gets_the_resolvers_error(app, gql, resolvers_only, world, narrow):  # noqa: F811
    for token in viewers(world).values():
        variables = {"slug": "shop", "filter": narrow}
        fast, slow = (await gql.raw(FILTERED, variables, token)).json(), (await resolvers_only.raw(FILTERED, variables, token)).json()
        assert bare(fast) == bare(slow)
        assert [e["extensions"]["code"] for e in fast["errors"]] == ["BAD_USER_INPUT"]
        assert fast["errors"][0]["path"] == ["organization", "contents"]
        assert fast["errors"][0]["message"].startswith("Invalid tag filter: ")


async def test_storefront_filtered_without_its_directives_compiles(app, gql, resolvers_only, world):  # noqa: F811
    assert "@" not in STOREFRONT_FILTERED and "$compact" not in STOREFRONT_FILTERED
    for token in viewers(world).values():
        for variables in ({}, {"kind": "VIDEO"}, {"tag": "tag-0"}, {"kind": "AUDIO", "tag": "all", "first": 2}):
            await compiled_like_resolvers(app, gql, resolvers_only, STOREFRONT_FILTERED, {"slug": "shop", **variables},
                                          token)


async def test_the_viewer_library_compiles_with_its_content(app, gql, resolvers_only, world):  # noqa: F811
    assert fast_path(app).plan(LIBRARY, None) is not None
    for token in viewers(world).values():
        for variables in ({}, {"first": 3}, {"first": 50}):
            data = await compiled_like_resolvers(app, gql, resolvers_only, LIBRARY, variables, token)
            if token == world["customer"].token:
                nodes = data["viewer"]["purchases"]["nodes"]
                assert len(nodes) == min(variables.get("first", 20), 11)
                assert all(node["content"]["title"].startswith("Item ") for node in nodes)
    token = world["customer"].token
    await gql.ok(LIBRARY, {}, token)  # warm the session and the connection's tenant settings
    for first in (1, 20):
        async with statements(app) as seen:
            await gql.ok(LIBRARY, {"first": first}, token)
        assert len(seen) == 1, seen
