"""Content's batched fields (content/answers.py) through the resolvers: a catalogue page answers each item as
the item answers alone (``content(id:)``), for every kind of viewer, and a field a directive leaves out loads
nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.content.test_content_queries_count import (  # noqa: F401  (the fixtures)
    catalogue,
    resolvers_app,
    resolvers_gql,
)
from tests.support import statements

FIELDS = "id title viewerHasAccess creator { id name } thumbnailUrl playbackPosition"
PAGE = ("query($slug: String!, $first: Int!) { organization(slug: $slug) { contents(first: $first) { edges { node { "
        + FIELDS + " } } } } }")
ALONE = "query($id: ID!) { content(id: $id) { " + FIELDS + " } }"


def unsigned(data: Any) -> Any:
    """Signed thumbnail URLs carry their expiry second; compared without their query string."""
    return re.sub(r"\?[^\"']*", "", repr(data))


@pytest.mark.parametrize("who", ["customer", "owner", None])
async def test_a_page_answers_each_item_as_it_answers_alone(resolvers_gql, catalogue, who):  # noqa: F811
    token = catalogue[who].token if who else None
    page = await resolvers_gql.ok(PAGE, {"slug": "counted", "first": 24}, token)
    nodes = [edge["node"] for edge in page["organization"]["contents"]["edges"]]
    assert len(nodes) == 24
    alone = [(await resolvers_gql.ok(ALONE, {"id": node["id"]}, token))["content"] for node in nodes]
    assert unsigned(nodes) == unsigned(alone)
    published = [node for node in nodes if node["title"].startswith("Item ")]
    numbers = [int(node["title"].split()[1]) for node in published]
    assert [node["viewerHasAccess"] for node in published] == [
        who == "owner" or (who == "customer" and n % 3 == 0) for n in numbers]
    assert all((node["thumbnailUrl"] is not None) is (n % 2 == 0) for node, n in zip(published, numbers, strict=True))
    assert {node["creator"]["name"] for node in published} == {"Owner", "Creator 0", "Creator 1", "Creator 2"}
    # The customer saved positions on every fifth item; only the ones they may play (every third) show them.
    assert [node["playbackPosition"] for node in published] == [
        float(n) if who == "customer" and n % 15 == 0 else None for n in numbers]


async def test_fields_a_directive_leaves_out_load_nothing(resolvers_app, resolvers_gql, catalogue):  # noqa: F811
    token = catalogue["customer"].token
    await resolvers_gql.ok("{ viewer { id } }", token=token)  # the session cached
    document = ("query($slug: String!, $on: Boolean!) { organization(slug: $slug) { contents(first: 20) { edges { "
                "node { id viewerHasAccess @include(if: $on) creator @include(if: $on) { name } "
                "thumbnailUrl @skip(if: true) } } } } }")
    async with statements(resolvers_app) as seen:
        data = await resolvers_gql.ok(document, {"slug": "counted", "on": False}, token)
    assert not any("content_entitlement" in s or "user_account" in s for s in seen), seen
    assert data["organization"]["contents"]["edges"][0]["node"].keys() == {"id"}
    async with statements(resolvers_app) as seen:
        data = await resolvers_gql.ok(document, {"slug": "counted", "on": True}, token)
    assert sum("content_entitlement" in s for s in seen) == 1 and sum("user_account" in s for s in seen) == 1, seen
    assert data["organization"]["contents"]["edges"][0]["node"].keys() == {"id", "viewerHasAccess", "creator"}
