"""Reading categories at scale: ``contents { categories }`` costs the same number of statements for 5 items
as for 50 (one loader batch through the resolvers; inside the root statement on the compiled path), and the
compiled path answers exactly what the resolvers answer, for every viewer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.categories.models import Category, ContentCategory
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import TenantScope
from codex_graphql.relay import to_global_id
from tests.categories.support import LIST
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401  (the fixture: a compiled failure fails)
    compare,
    compiled_execution_never_fails,
    fast_path,
)
from tests.support import GraphQLClient, statements

ITEMS = 60
BASE = datetime(2026, 1, 1, 12, 0, 0).astimezone()
PAGE = """query($slug: String!, $first: Int!) { organization(slug: $slug) { contents(first: $first) {
  nodes { id title categories { id name slug } } } } }"""
FULL = """query($slug: String!, $first: Int) { organization(slug: $slug) { contents(first: $first) {
  nodes { id categories { __typename id name slug description position createdAt updatedAt } } } } }"""
DETAIL = """query($id: ID!) { content(id: $id) { id title categories { id name position } } }"""
WITH_COUNT = """query($slug: String!) { organization(slug: $slug) { contents(first: 10) {
  nodes { id categories { name contentCount } } } } }"""


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"rate_limit_capacity": 100_000_000})


@pytest.fixture
async def shelf(factory, db) -> dict[str, Any]:
    """ITEMS published items (item n in categories n % 3 and, for even n, "Even"), plus a draft in "Hidden"."""
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="shelved")
    customer = await factory.user(name="Customer")
    ids = [uuid.uuid4() for _ in range(ITEMS)]
    async with db.transaction(TenantScope(user_id=owner.user_id, organization_id=org)) as session:
        categories = [Category(organization_id=org, name=name, slug=name.lower(), position=p)
                      for p, name in enumerate(("Zero", "One", "Two", "Even", "Hidden"))]
        session.add_all(categories)
        draft = uuid.uuid4()
        for n, content_id in enumerate([*ids, draft]):
            session.add(Content(
                id=content_id, organization_id=org, creator_id=owner.user_id, kind=ContentKind.VIDEO,
                status=ContentStatus.PUBLISHED if content_id != draft else ContentStatus.READY, title=f"Item {n}",
                storage_key=f"orgs/{org}/{content_id}.mp4", mime_type="video/mp4", original_filename="a.mp4",
                size_bytes=10, created_at=BASE - timedelta(minutes=n)))
        await session.flush()
        for n, content_id in enumerate(ids):
            session.add(ContentCategory(content_id=content_id, category_id=categories[n % 3].id, organization_id=org))
            if n % 2 == 0:
                session.add(ContentCategory(content_id=content_id, category_id=categories[3].id, organization_id=org))
        session.add(ContentCategory(content_id=draft, category_id=categories[4].id, organization_id=org))
    return {"owner": owner, "customer": customer, "org": org, "ids": ids, "draft": draft}


@pytest.fixture
async def resolvers_app(settings) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def resolvers_gql(resolvers_app) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=resolvers_app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


def expected_names(n: int) -> list[str]:
    return [("Zero", "One", "Two")[n % 3], *(["Even"] if n % 2 == 0 else [])]


async def test_statement_count_is_flat_in_page_size(app, gql, resolvers_app, resolvers_gql, shelf):
    customer = shelf["customer"]
    for executor, (served, client) in {"resolvers": (resolvers_app, resolvers_gql), "compiled": (app, gql)}.items():
        await client.ok(PAGE, {"slug": "shelved", "first": 1}, customer.token)  # warms the session cache
        counted: dict[int, list[str]] = {}
        for first in (5, 50):
            async with statements(served) as seen:
                data = await client.ok(PAGE, {"slug": "shelved", "first": first}, customer.token)
            counted[first] = list(seen)
            nodes = data["organization"]["contents"]["nodes"]
            assert [node["id"] for node in nodes] == [to_global_id("Content", i) for i in shelf["ids"][:first]]
            assert [[c["name"] for c in node["categories"]] for node in nodes] == [
                expected_names(n) for n in range(first)]
        sizes = {first: len(seen) for first, seen in counted.items()}
        assert sizes[5] == sizes[50], (executor, counted)
        if executor == "resolvers":
            # set_config, the organization, the page, then one batch of categories for the whole page.
            assert sizes[5] == 4, counted
            assert sum("content_category" in s for s in counted[50]) == 1, counted
        else:
            assert sizes[5] == 1 and "JOIN LATERAL" in counted[5][0] and "content_category" in counted[5][0], counted


async def test_compiled_answers_match_the_resolvers_for_every_viewer(app, gql, resolvers_gql, shelf, factory):
    stranger = await factory.user()
    viewers = {"anonymous": None, "customer": shelf["customer"].token, "owner": shelf["owner"].token,
               "stranger": stranger.token}
    assert fast_path(app).plan(DETAIL, None) is not None
    for who, token in viewers.items():
        for first in (None, 0, 7, 61):
            data = await compare(app, gql, resolvers_gql, FULL, {"slug": "shelved", "first": first}, token)
            nodes = data["organization"]["contents"]["nodes"]
            if first == 7:
                assert [[c["name"] for c in node["categories"]] for node in nodes] == [
                    expected_names(n) for n in range(7)]
        for content_id in (shelf["ids"][0], shelf["ids"][1], shelf["draft"]):
            data = await compare(app, gql, resolvers_gql, DETAIL, {"id": to_global_id("Content", content_id)}, token)
            if content_id == shelf["draft"]:
                assert (data["content"] is not None) is (who == "owner"), who
                if data["content"]:
                    assert [c["name"] for c in data["content"]["categories"]] == ["Hidden"]
    # contentCount is the resolvers' (a count per viewer): the compiled path grafts it, with the same answer.
    for token in viewers.values():
        fast = (await gql.raw(WITH_COUNT, {"slug": "shelved"}, token)).json()
        slow = (await resolvers_gql.raw(WITH_COUNT, {"slug": "shelved"}, token)).json()
        assert fast["data"] == slow["data"] and "errors" not in fast
    # Organization.categories is the resolvers' too (grafted onto the compiled organization): the same answer.
    for who, token in viewers.items():
        data = await compare(app, gql, resolvers_gql, LIST, {"slug": "shelved"}, token)
        shown = [(c["name"], c["contentCount"]) for c in data["organization"]["categories"]]
        public = [("Zero", 20), ("One", 20), ("Two", 20), ("Even", 30)]
        assert shown == (public + [("Hidden", 1)] if who == "owner" else public), who
    first = (await gql.ok(WITH_COUNT, {"slug": "shelved"}))["organization"]["contents"]["nodes"][0]
    assert first["categories"] == [{"name": "Zero", "contentCount": 20}, {"name": "Even", "contentCount": 30}]
