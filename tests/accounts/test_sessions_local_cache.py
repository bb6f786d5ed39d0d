"""The in-memory copy of resolved sessions: no round trip for a busy client, dropped at once on every
instance by changes made through the API, and bounded in time for changes made in the database."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from codex_graphql.app import create_app
from tests.support import GraphQLClient, statements
from tests.support.accounts import LOGOUT, login, register, unique_email, viewer


@pytest.fixture
async def second_instance(settings):
    """Another API process on the same database and Redis (its own memory)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, GraphQLClient(http)


async def eventually(check, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


async def test_a_warm_session_costs_no_statement(app, gql):
    token = (await register(gql, unique_email()))["token"]
    await viewer(gql, token)
    async with statements(app) as seen:
        await gql.ok("{ __typename }", token=token)
    assert seen == []


async def test_logout_on_one_instance_signs_out_the_token_on_every_instance_at_once(gql, second_instance):
    address = unique_email()
    token = (await register(gql, address))["token"]
    _, other = second_instance
    assert (await viewer(other, token))["email"] == address  # now in the second instance's memory
    assert (await gql.ok(LOGOUT, token=token))["logout"]["errors"] == []

    async def signed_out() -> bool:
        return await viewer(other, token) is None
    await eventually(signed_out, within=2.0)  # pub/sub, far sooner than the in-memory lifetime


async def test_logout_everywhere_reaches_every_instance(gql, second_instance):
    address = unique_email()
    first = (await register(gql, address))["token"]
    second = (await login(gql, address))["token"]
    _, other = second_instance
    assert (await viewer(other, second))["email"] == address
    body = await gql.ok(LOGOUT, {"i": {"everywhere": True}}, token=first)
    assert body["logout"]["errors"] == []

    async def signed_out() -> bool:
        return await viewer(other, second) is None
    await eventually(signed_out, within=2.0)


async def test_a_revocation_made_in_the_database_applies_within_the_in_memory_lifetime(app, gql, admin_db):
    token = (await register(gql, unique_email()))["token"]
    assert await viewer(gql, token) is not None
    await admin_db.execute("update user_session set revoked_at = now()")
    lifetime = app.state.runtime["services"].settings.session_local_cache_seconds
    assert lifetime <= 5

    async def anonymous() -> bool:
        return await viewer(gql, token) is None
    await eventually(anonymous, within=lifetime + 2)
