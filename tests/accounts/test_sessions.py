"""Sessions: bearer token and cookie, hashed storage, the Redis viewer cache, logout and expiry."""

from __future__ import annotations

from http.cookies import SimpleCookie

from tests.support import bare
from tests.support.accounts import (
    LOGIN,
    LOGOUT,
    REGISTER,
    STRONG_PASSWORD,
    VIEWER,
    login,
    register,
    sha256,
    unique_email,
    viewer,
)

COOKIE = "codex_session"


def session_cookie(response) -> SimpleCookie:
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    jar = SimpleCookie()
    jar.load(headers[0])
    assert COOKIE in jar, headers
    return jar


async def with_cookie(http, token: str, query: str = VIEWER, variables: dict | None = None):
    http.cookies.clear()
    return await http.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers={"cookie": f"{COOKIE}={token}"})


def cache_key(settings, token: str) -> str:
    return f"{settings.redis_namespace}:session:{sha256(token)}"


async def logout(gql, token: str, everywhere: bool | None = None):
    variables = {"i": {"everywhere": everywhere}} if everywhere is not None else {}
    return await gql.raw(LOGOUT, variables, token=token)


# --- how a token is presented ---------------------------------------------------------------------


async def test_register_and_login_set_an_httponly_samesite_lax_session_cookie_that_signs_in(gql, http, settings):
    address = unique_email()
    for response in (
        await gql.raw(REGISTER, {"i": {"email": address, "password": STRONG_PASSWORD}}),
        await gql.raw(LOGIN, {"i": {"email": address, "password": STRONG_PASSWORD}}),
    ):
        token = next(iter(response.json()["data"].values()))["token"]
        morsel = session_cookie(response)[COOKIE]
        assert morsel.value == token
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "lax"
        assert morsel["path"] == "/"
        assert int(morsel["max-age"]) == settings.session_ttl_seconds
        assert not morsel["secure"]  # PUBLIC_BASE_URL is http:// in tests

        # The cookie alone (no Authorization header) signs the request in.
        signed_in = await with_cookie(http, morsel.value)
        assert signed_in.json()["data"]["viewer"]["email"] == address
    assert bare((await with_cookie(http, "garbage-cookie-value")).json()) == {"data": {"viewer": None}}


async def test_the_bearer_token_signs_the_request_in(gql):
    address = unique_email()
    token = (await register(gql, address))["token"]
    assert (await viewer(gql, token))["email"] == address
    lowercase = await gql(VIEWER, headers={"authorization": f"bearer {token}"})
    assert lowercase["data"]["viewer"]["email"] == address


async def test_viewer_is_null_without_a_valid_token(gql):
    await register(gql, unique_email())
    assert await viewer(gql, None) is None
    for header in ("Bearer garbage", "Bearer " + "x" * 500, "Bearer ", "Basic dXNlcjpwYXNz", "garbage"):
        body = await gql(VIEWER, headers={"authorization": header})
        assert bare(body) == {"data": {"viewer": None}}, header


async def test_session_tokens_are_stored_only_as_sha256(gql, admin_db):
    token = (await register(gql, unique_email()))["token"]
    login_token = (await login(gql, (await admin_db.fetchval("select email from user_account"))))["token"]
    for raw in (token, login_token):
        assert await admin_db.fetchval("select count(*) from user_session where token_hash = $1", sha256(raw)) == 1
        # The raw token appears in no column of any session row.
        assert await admin_db.fetchval(
            "select count(*) from user_session s where position($1 in s::text) > 0", raw) == 0


# --- logout ---------------------------------------------------------------------------------------


async def test_logout_revokes_the_cached_session_and_clears_the_cookie(gql, admin_db, redis_client, settings):
    address = unique_email()
    token = (await register(gql, address))["token"]
    other = (await login(gql, address))["token"]
    assert (await viewer(gql, token))["email"] == address
    assert await redis_client.exists(cache_key(settings, token)) == 1  # served from Redis from now on

    response = await logout(gql, token)
    assert bare(response.json()) == {"data": {"logout": {"errors": []}}}
    morsel = session_cookie(response)[COOKIE]
    assert morsel.value == ""
    assert morsel["max-age"] == "0" or "1970" in morsel["expires"]
    assert morsel["httponly"] is True

    assert await redis_client.exists(cache_key(settings, token)) == 0
    assert await viewer(gql, token) is None
    revoked = await admin_db.fetchval("select revoked_at from user_session where token_hash = $1", sha256(token))
    assert revoked is not None
    # The user's other session is untouched.
    assert (await viewer(gql, other))["email"] == address
    assert await admin_db.fetchval("select revoked_at from user_session where token_hash = $1", sha256(other)) is None

    again = await gql(LOGOUT, token=token)
    assert [e["extensions"]["code"] for e in again["errors"]] == ["UNAUTHENTICATED"]


async def test_logout_with_the_cookie(gql, http, admin_db):
    token = (await register(gql, unique_email()))["token"]
    response = await with_cookie(http, token, LOGOUT)
    assert bare(response.json()) == {"data": {"logout": {"errors": []}}}
    assert session_cookie(response)[COOKIE].value == ""
    assert bare((await with_cookie(http, token)).json()) == {"data": {"viewer": None}}
    assert await admin_db.fetchval("select count(*) from user_session where revoked_at is null") == 0


async def test_logout_everywhere_revokes_every_session_of_the_user(gql, admin_db, redis_client, settings):
    address = unique_email()
    tokens = [(await register(gql, address))["token"]] + [(await login(gql, address))["token"] for _ in range(2)]
    bystander_address = unique_email()
    bystander = (await register(gql, bystander_address))["token"]
    for token in [*tokens, bystander]:
        assert await viewer(gql, token) is not None
        assert await redis_client.exists(cache_key(settings, token)) == 1

    response = await logout(gql, tokens[1], everywhere=True)
    assert bare(response.json()) == {"data": {"logout": {"errors": []}}}
    for token in tokens:
        assert await redis_client.exists(cache_key(settings, token)) == 0
        assert await viewer(gql, token) is None
        assert await redis_client.exists(cache_key(settings, token)) == 0  # a dead session is not re-cached
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    assert await admin_db.fetchval(
        "select count(*) from user_session where user_id = $1 and revoked_at is null", user_id) == 0
    assert (await viewer(gql, bystander))["email"] == bystander_address


async def test_logout_needs_a_session(gql, admin_db):
    await register(gql, unique_email())
    for token in (None, "garbage"):
        response = await logout(gql, token) if token else await gql.raw(LOGOUT)
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
        assert "set-cookie" not in response.headers
    assert await admin_db.fetchval("select count(*) from user_session where revoked_at is null") == 1
