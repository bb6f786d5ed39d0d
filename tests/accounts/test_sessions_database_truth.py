"""Sessions changed directly in the database (expiry, revocation, a role set by `create-owner`).

PostgreSQL is the truth: once a process's in-memory copy lapses (SESSION_LOCAL_CACHE_SECONDS), the
next request sees the change even though Redis still holds the old entry. These tests turn the
in-memory copy off to show the database check itself; tests/accounts/test_sessions_local_cache.py covers the copy.
"""

from __future__ import annotations

import pytest

from tests.support.accounts import LOGOUT, register, sha256, unique_email, viewer


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"session_local_cache_seconds": 0})


def cache_key(settings, token: str) -> str:
    return f"{settings.redis_namespace}:session:{sha256(token)}"


async def test_an_expired_session_is_anonymous_even_when_cached(gql, admin_db, redis_client, settings):
    address = unique_email()
    token = (await register(gql, address))["token"]
    assert (await viewer(gql, token))["email"] == address
    assert await redis_client.exists(cache_key(settings, token)) == 1

    await admin_db.execute("update user_session set expires_at = now() - interval '1 second' where token_hash = $1",
                           sha256(token))
    assert await viewer(gql, token) is None
    body = await gql(LOGOUT, token=token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_a_session_revoked_in_the_database_is_anonymous_even_when_cached(gql, admin_db, redis_client, settings):
    address = unique_email()
    token = (await register(gql, address))["token"]
    assert (await viewer(gql, token))["email"] == address
    assert await redis_client.exists(cache_key(settings, token)) == 1

    await admin_db.execute("update user_session set revoked_at = now()")
    assert await viewer(gql, token) is None


async def test_an_expired_session_is_anonymous_when_not_cached(gql, admin_db, redis_client, settings):
    token = (await register(gql, unique_email()))["token"]
    await admin_db.execute("update user_session set expires_at = now() - interval '1 second'")
    assert await viewer(gql, token) is None
    assert await redis_client.exists(cache_key(settings, token)) == 0  # nothing cached for a dead session


async def test_a_role_changed_in_the_database_reloads_the_cached_viewer(gql, admin_db, redis_client, settings):
    token = (await register(gql, unique_email()))["token"]
    assert (await viewer(gql, token))["platformRole"] == "CUSTOMER"
    assert b'"role":"CUSTOMER"' in await redis_client.get(cache_key(settings, token))

    await admin_db.execute("update user_account set platform_role = 'PLATFORM_OWNER'")  # e.g. `create-owner`
    created = await gql.ok(
        "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { slug } errors { code } } }",
        {"i": {"name": "Promoted Org", "slug": "promoted-org"}}, token=token,
    )
    assert created["createOrganization"]["organization"] == {"slug": "promoted-org"}
    assert await admin_db.fetchval("select count(*) from organization_membership where role = 'OWNER'") == 1
