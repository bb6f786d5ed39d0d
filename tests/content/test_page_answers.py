"""A catalogue page's loader-backed fields loaded once for the page (content/page_answers.py): the same answers
and the same statements as item by item, and nothing loaded for a field a directive leaves out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from codex_graphql.app import create_app
from tests.content.test_content_queries_count import catalogue  # noqa: F401  (the fixture)
from tests.support import statements

FIELDS = ("viewerHasAccess", "creator { id name }", "thumbnailUrl")


def page_document(directive: str = "") -> str:
    """The catalogue with FIELDS, each behind ``directive`` (``@include(if: $on)`` resolves item by item)."""
    fields = " ".join(f"{name.split()[0]} {directive} {name[len(name.split()[0]):]}" for name in FIELDS)
    return ("query($slug: String!, $first: Int!, $on: Boolean!) { organization(slug: $slug) { contents(first: "
            "$first) { edges { cursor @include(if: $on) node { id title ...Extra " + fields + " } } nodes { id viewerHasAccess } } } }"
            " fragment Extra on Content { priceCents tags }")


@pytest.fixture
async def app(settings) -> Any:
    """The resolvers alone (compiled execution off), whatever the compiled path learns to cover."""
    application = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with application.router.lifespan_context(application):
        yield application


def unsigned(data: Any) -> Any:
    """Signed thumbnail URLs carry their expiry second; compared without their query string."""
    return re.sub(r"\?[^\"']*", "", repr(data))


@pytest.mark.parametrize("who", ["customer", "owner", None])
async def test_prefetched_page_answers_equal_item_by_item(app, gql, catalogue, who):  # noqa: F811
    token = catalogue[who].token if who else None
    variables = {"slug": "counted", "first": 30, "on": True}
    if token:
        await gql.ok("{ viewer { id } }", token=token)  # the session cached, as for any signed-in client
    async with statements(app) as whole_page:
        page = await gql.ok(page_document(), variables, token)
    async with statements(app) as item_by_item:
        items = await gql.ok(page_document("@include(if: $on)"), variables, token)
    assert unsigned(page) == unsigned(items)
    assert len(whole_page) == len(item_by_item)
    nodes = [edge["node"] for edge in page["organization"]["contents"]["edges"]]
    assert len(nodes) == 30
    assert [n["viewerHasAccess"] for n in nodes] == [who == "owner" or (who == "customer" and i % 3 == 0)
                                                     for i in range(30)]
    if who != "owner":  # staff also see the five drafts, first
        assert all((n["thumbnailUrl"] is not None) is (i % 2 == 0) for i, n in enumerate(nodes))
        assert [n["creator"]["name"] for n in nodes[:4]] == ["Owner", "Creator 0", "Creator 1", "Creator 2"]


async def test_fields_a_directive_leaves_out_load_nothing(app, gql, catalogue):  # noqa: F811
    token = catalogue["customer"].token
    await gql.ok("{ viewer { id } }", token=token)
    document = page_document("@include(if: $on)").replace(" nodes { id viewerHasAccess }", "")
    async with statements(app) as seen:
        data = await gql.ok(document, {"slug": "counted", "first": 20, "on": False}, token)
    assert not any("content_entitlement" in s or "user_account" in s for s in seen), seen
    node = data["organization"]["contents"]["edges"][0]["node"]
    assert "viewerHasAccess" not in node and "creator" not in node and "thumbnailUrl" not in node
