"""The compiled path takes its scope statement from db.py (``set_connection_scope``): a connection of its
pool keeps the last compiled viewer's scope for its session, remembers it, and that sticky scope never
leaks into another viewer's answer, whichever executor answers in between."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from codex_graphql.app import create_app
from codex_graphql.db import TenantScope
from tests.fastpath.test_fastpath_equivalence import (  # noqa: F401 (fixtures)
    HISTORY,
    STOREFRONT,
    insert_content,
    resolvers_only,
    unsigned,
    world,
)
from tests.support import GraphQLClient, bare, statements

NOT_COMPILED = """query($first: Int!) { viewer { name purchases(first: $first) { totalCount
  nodes { contentTitle customerEmail } } } }"""


@pytest.fixture
async def one_connection(settings) -> Any:
    """The server with pools of exactly one connection (the engine's and the compiled path's)."""
    app = create_app(settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
    async with app.router.lifespan_context(app):
        await app.state.runtime["services"].relay.stop()  # the relay would share the connection
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, GraphQLClient(http)


def titles(body: dict[str, Any]) -> list[str]:
    return [e["node"]["title"] for e in body["data"]["organization"]["contents"]["edges"]]


async def test_a_sticky_scope_never_answers_for_another_viewer(one_connection, resolvers_only, world):  # noqa: F811
    app, gql = one_connection
    services = app.state.runtime["services"]
    db = services.db
    fast = app.state.runtime["graphql"].fast
    pids: list[int] = []
    scope_of_connection = fast._scope

    async def spied(conn: Any, viewer: Any) -> None:
        pids.append(conn.get_server_pid())
        await scope_of_connection(conn, viewer)

    fast._scope = spied
    owner, customer, other = world["owner"].token, world["customer"].token, world["other_owner"].token
    storage = services.storage

    async def same(document: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
        fast, slow = await gql.raw(document, variables, token), await resolvers_only.raw(document, variables, token)
        assert fast.status_code == slow.status_code == 200
        assert unsigned(bare(fast.json()), storage) == unsigned(bare(slow.json()), storage)
        return fast.json()

    # A: the shop's owner, compiled: the connection now holds the owner's scope for its session.
    as_owner = await same(STOREFRONT, {"slug": "shop", "first": 50}, owner)
    assert "Item 20" in titles(as_owner) and "Item 21" in titles(as_owner)  # staff see unlisted and unpublished
    # B: the customer, through the resolvers (not compiled).
    as_customer = await same(NOT_COMPILED, {"first": 50}, customer)
    assert as_customer["data"]["viewer"]["purchases"]["totalCount"] == 11
    # A transaction of no viewer at all sees none of the owner's rows, though the session scope is the owner's.
    async with db.transaction(TenantScope()) as session:
        assert await session.scalar(text("select count(*) from purchase")) == 0
        assert await session.scalar(text("select count(*) from content where status <> 'PUBLISHED'")) == 0
    # C: another organization's owner, compiled again: the customer's purchases and the shop's hidden
    # items stay out of sight.
    as_other = await same(STOREFRONT, {"slug": "shop", "first": 50}, other)
    assert "Item 20" not in titles(as_other) and len(titles(as_other)) == 14
    history = await same(HISTORY, {"first": 50}, other)
    assert history["data"]["viewer"]["purchases"]["edges"] == []
    anonymous = await same(HISTORY, {"first": 50}, None)
    assert anonymous["data"]["viewer"] is None
    assert len(pids) == 4 and len(set(pids)) == 1  # one connection served every compiled request
    async with fast._pool.acquire() as conn:
        assert conn._con.codex_scope == TenantScope()  # the anonymous viewer's, remembered


async def test_the_same_viewer_pays_no_scope_statement_and_the_connection_remembers_it(one_connection, world):  # noqa: F811
    app, gql = one_connection
    token = world["customer"].token
    await gql.ok(STOREFRONT, {"slug": "shop"}, token)
    async with statements(app) as seen:
        await gql.ok(STOREFRONT, {"slug": "shop"}, token)
        await gql.ok(HISTORY, {}, token)
    assert len(seen) == 2 and not any("codex_set_scope" in s for s in seen), seen
    await gql.ok("{ __typename }", {}, world["owner"].token)  # the owner's session, resolved and cached
    async with statements(app) as seen:
        await gql.ok(STOREFRONT, {"slug": "shop"}, world["owner"].token)
    assert len(seen) == 2 and "set_config('role', $1, false), codex_set_scope(" in seen[0], seen
    async with app.state.runtime["graphql"].fast._pool.acquire() as conn:  # the one connection knows its scope
        scope = conn._con.codex_scope
        assert scope.user_id == world["owner"].user_id and not scope.platform
        assert await conn.fetchval("select codex_current_user()") == world["owner"].user_id
