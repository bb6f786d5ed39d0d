"""register and login through POST /graphql, against the real database and Redis."""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from codex_graphql.accounts import throttle
from codex_graphql.settings import Settings
from tests.support import bare
from tests.support.accounts import (
    LOGIN,
    REGISTER,
    STRONG_PASSWORD,
    account_jobs,
    counts,
    login,
    register,
    sha256,
    unique_email,
    user_row,
    viewer,
)

CLIENT_IP = "203.0.113.7"  # the ASGI client address of the `http` fixture


def register_vars(email: object, password: object = STRONG_PASSWORD, name: object = "") -> dict:
    return {"i": {"email": email, "password": password, "name": name}}


# --- register -------------------------------------------------------------------------------------


async def test_register_signs_in_a_new_unverified_customer_and_queues_the_verification_mail(gql, admin_db):
    before = await counts(admin_db)
    response = await gql.http.post(
        "/graphql",
        json={"query": REGISTER, "variables": register_vars("  Ada.Lovelace@Example.COM ", name="  Ada  ")},
        headers={"user-agent": "pytest-agent/1.0"},
    )
    assert response.status_code == 200
    payload = response.json()["data"]["register"]
    assert payload["errors"] == []
    token = payload["token"]
    assert token and len(token) >= 40
    assert payload["viewer"]["email"] == "ada.lovelace@example.com"
    assert payload["viewer"]["name"] == "Ada"
    assert payload["viewer"]["emailVerified"] is False
    assert payload["viewer"]["platformRole"] == "CUSTOMER"
    expires_at = datetime.fromisoformat(payload["expiresAt"])
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((expires_at - expected).total_seconds()) < 60

    user = await user_row(admin_db, "ada.lovelace@example.com")
    assert user is not None
    assert user["platform_role"] == "CUSTOMER"
    assert user["email_verified_at"] is None
    assert user["password_hash"].startswith("$argon2id$")
    assert STRONG_PASSWORD not in user["password_hash"]

    session = await admin_db.fetchrow("select * from user_session where user_id = $1", user["id"])
    assert session["token_hash"] == sha256(token)
    assert session["ip_address"] == CLIENT_IP
    assert session["user_agent"] == "pytest-agent/1.0"
    assert session["revoked_at"] is None

    assert await account_jobs(admin_db) == [
        (await admin_db.fetchval("select id::text from outbox_message"), {"kind": "verify_email", "user_id": str(user["id"])})
    ]
    after = await counts(admin_db)
    assert after["user_account"] == before["user_account"] + 1
    assert after["user_session"] == before["user_session"] + 1
    assert after["outbox_message"] == before["outbox_message"] + 1
    assert after["email_token"] == before["email_token"]  # the token is minted by the job, not here

    # The returned token signs in.
    assert (await viewer(gql, token))["email"] == "ada.lovelace@example.com"


async def test_register_job_is_relayed_from_the_outbox(gql, admin_db):
    await register(gql, unique_email())
    for _ in range(100):  # the relay is woken on commit and polls every 0.1 s
        published = await admin_db.fetchval("select published_at from outbox_message")
        if published is not None:
            break
        await asyncio.sleep(0.05)
    assert published is not None
    assert await admin_db.fetchval("select attempts from outbox_message") == 0


async def test_register_with_an_existing_email_in_any_case_starts_no_session(gql, admin_db):
    """No error that would tell the address has an account: no session either, and its owner gets a notice
    (tests/accounts/test_login_throttling.py covers the notice)."""
    await register(gql, "taken@example.com")
    before = await counts(admin_db)
    response = await gql.raw(REGISTER, register_vars("  TAKEN@Example.com", "another good password"))
    payload = response.json()["data"]["register"]
    assert payload["errors"] == []
    assert payload["token"] is None and payload["viewer"] is None
    assert "set-cookie" not in response.headers
    assert await counts(admin_db) == {**before, "outbox_message": before["outbox_message"] + 1}
    assert (await account_jobs(admin_db))[-1][1] == {"kind": "sign_up_attempt", "email": "taken@example.com"}
    # The first account keeps its password.
    assert (await login(gql, "taken@example.com"))["errors"] == []


async def test_concurrent_registrations_of_one_email_create_one_account(gql, admin_db):
    bodies = await asyncio.gather(
        *[gql(REGISTER, register_vars(spelling)) for spelling in ("race@example.com", "Race@example.com", "RACE@example.com")]
    )
    assert [b["data"]["register"]["errors"] for b in bodies] == [[], [], []]
    assert sorted(bool(b["data"]["register"]["token"]) for b in bodies) == [False, False, True]
    assert await admin_db.fetchval("select count(*) from user_account where email = 'race@example.com'") == 1
    assert await admin_db.fetchval("select count(*) from user_session") == 1
    assert sorted(p["kind"] for _, p in await account_jobs(admin_db)) == ["sign_up_attempt", "sign_up_attempt",
                                                                          "verify_email"]


# Each group of refused inputs runs in one test (one database) to keep the suite fast.
WEAK_PASSWORDS = {
    "too short": ("short@example.com", "Sh0rt!pw"),
    "the email address": ("same.as.email@example.com", "Same.As.Email@Example.com"),
    "too repetitive": ("repetitive@example.com", "abababababab"),
    "too long": ("overlong@example.com", "xy1!" * 300),
}
INVALID_EMAILS = ["not-an-email", "missing-domain@", "two@@example.com", "a b@example.com", "", "x@" + "d" * 300 + ".com"]
WRONG_VARIABLES = {
    "email is an int": {"i": {"email": 12345, "password": STRONG_PASSWORD}},
    "password missing": {"i": {"email": "typed@example.com"}},
    "password is a list": {"i": {"email": "typed@example.com", "password": ["not", "a", "string"]}},
    "unknown field": {"i": {"email": "typed@example.com", "password": STRONG_PASSWORD, "role": "PLATFORM_OWNER"}},
    "input is a string": {"i": "not an object"},
    "input missing": {},
}


async def test_register_refuses_weak_passwords_and_stores_nothing(gql, admin_db):
    before = await counts(admin_db)
    for case, (email, password) in WEAK_PASSWORDS.items():
        response = await gql.raw(REGISTER, register_vars(email, password))
        payload = response.json()["data"]["register"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("WEAK_PASSWORD", ["input", "password"])], case
        assert payload["errors"][0]["message"], case
        assert payload["token"] is None, case
        assert "set-cookie" not in response.headers, case
        assert await counts(admin_db) == before, case


async def test_register_refuses_invalid_emails(gql, admin_db):
    before = await counts(admin_db)
    for email in INVALID_EMAILS:
        payload = (await gql(REGISTER, register_vars(email)))["data"]["register"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["input", "email"])], email
        assert payload["token"] is None, email
        assert await counts(admin_db) == before, email


async def test_register_refuses_an_overlong_name_and_accepts_the_maximum(gql, admin_db):
    before = await counts(admin_db)
    payload = (await gql(REGISTER, register_vars(unique_email(), name="n" * 201)))["data"]["register"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["input", "name"])]
    assert await counts(admin_db) == before

    accepted = await register(gql, unique_email(), name="n" * 200)
    assert accepted["viewer"]["name"] == "n" * 200


async def test_register_with_wrongly_typed_variables_is_a_bad_user_input_error(gql, admin_db):
    before = await counts(admin_db)
    for case, variables in WRONG_VARIABLES.items():
        body = await gql(REGISTER, variables)
        assert body["data"] is None, case
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (case, body)
        assert await counts(admin_db) == before, case


# --- login ----------------------------------------------------------------------------------------


async def test_login_starts_a_new_session(gql, admin_db):
    registered = await register(gql, "login.ok@example.com")
    response = await gql.raw(LOGIN, {"i": {"email": " Login.OK@EXAMPLE.com ", "password": STRONG_PASSWORD}})
    payload = response.json()["data"]["login"]
    assert payload["errors"] == []
    assert payload["viewer"] == {"email": "login.ok@example.com"}
    assert payload["token"] and payload["token"] != registered["token"]
    assert response.cookies.get("codex_session") == payload["token"]
    rows = await admin_db.fetch("select token_hash, ip_address from user_session order by created_at")
    assert [r["token_hash"] for r in rows] == [sha256(registered["token"]), sha256(payload["token"])]
    assert {r["ip_address"] for r in rows} == {CLIENT_IP}
    # Both sessions work independently.
    assert (await viewer(gql, registered["token"]))["email"] == "login.ok@example.com"
    assert (await viewer(gql, payload["token"]))["email"] == "login.ok@example.com"


async def test_wrong_password_and_unknown_email_fail_identically(gql, admin_db):
    await register(gql, "known@example.com")
    before = await counts(admin_db)
    wrong = await gql.raw(LOGIN, {"i": {"email": "known@example.com", "password": "not the right password"}})
    unknown = await gql.raw(LOGIN, {"i": {"email": "nobody@example.com", "password": "not the right password"}})
    # Identical answers (the cost extension reports the caller's rate-limit bucket, which refills between them).
    assert bare(wrong.json()) == bare(unknown.json())
    payload = wrong.json()["data"]["login"]
    assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
    assert payload["token"] is None and payload["viewer"] is None
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert await counts(admin_db) == before


class TestThrottling:
    """Failed sign-ins delay the (email, client address) pair after ``login_max_failures`` (the next attempt
    waits 1 s, 2 s, 4 s ...), and one address may fail ``ADDRESS_FACTOR`` x that many times in the window
    across all emails (state in Redis, see accounts/throttle.py; the concurrency tests are in
    test_login_throttling.py). A low limit keeps these tests short; the rule is the same at any limit."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"login_max_failures": 2})

    @pytest.fixture(autouse=True)
    def long_delays(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)  # no delay ends while a test runs

    async def test_login_is_delayed_per_email_and_address_after_repeated_failures(self, gql, admin_db, settings,
                                                                                   redis_client):
        target, bystander = "target@example.com", "bystander@example.com"
        await register(gql, target)
        await register(gql, bystander)
        limit = settings.login_max_failures
        for _ in range(limit):
            failed = await login(gql, target, "wrong password attempt")
            assert [e["code"] for e in failed["errors"]] == ["INVALID_CREDENTIALS"]

        key = f"{settings.redis_namespace}:login:pair:{target}|{CLIENT_IP}"
        assert int(await redis_client.hget(key, "fails")) == limit
        assert 0 < await redis_client.ttl(key) <= settings.login_failure_window_seconds + 60

        sessions_before = await admin_db.fetchval("select count(*) from user_session")
        throttled = await login(gql, target)  # the right password, too soon
        assert [e["code"] for e in throttled["errors"]] == ["THROTTLED"]
        assert "Try again in 60 seconds" in throttled["errors"][0]["message"]
        assert throttled["token"] is None
        # Another spelling of the same address is the same pair.
        assert [e["code"] for e in (await login(gql, " TARGET@example.com"))["errors"]] == ["THROTTLED"]
        assert await admin_db.fetchval("select count(*) from user_session") == sessions_before

        other = await login(gql, bystander)
        assert other["errors"] == [] and other["token"]

    async def test_a_successful_login_clears_the_pair_failure_count(self, gql, settings, redis_client):
        address = "forgetful@example.com"
        await register(gql, address)
        for _ in range(settings.login_max_failures - 1):
            await login(gql, address, "wrong password attempt")
        key = f"{settings.redis_namespace}:login:pair:{address}|{CLIENT_IP}"
        assert int(await redis_client.hget(key, "fails")) == settings.login_max_failures - 1
        assert (await login(gql, address))["errors"] == []
        assert await redis_client.exists(key) == 0
        # The budget is whole again: limit - 1 new failures still leave the right password working.
        for _ in range(settings.login_max_failures - 1):
            await login(gql, address, "wrong password attempt")
        assert (await login(gql, address))["errors"] == []

    async def test_many_failures_from_one_ip_throttle_every_email_from_it(self, gql, settings, redis_client):
        address = "ip.victim@example.com"
        await register(gql, address)
        limit = throttle.ADDRESS_FACTOR * settings.login_max_failures
        for n in range(limit):  # 1 failure on each of many addresses: no pair is delayed
            failed = await login(gql, f"probe{n}@example.com", "wrong password attempt")
            assert [e["code"] for e in failed["errors"]] == ["INVALID_CREDENTIALS"], n
        assert int(await redis_client.get(f"{settings.redis_namespace}:login:address:{CLIENT_IP}")) == limit
        assert [e["code"] for e in (await login(gql, address))["errors"]] == ["THROTTLED"]


async def test_login_normalizes_the_email_like_register(gql, admin_db):
    composed = unicodedata.normalize("NFC", "zoë.müller@example.com")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    await register(gql, decomposed.upper())
    assert await admin_db.fetchval("select email from user_account") == composed
    for spelling in (composed, decomposed, f"  {decomposed.upper()} "):
        signed_in = await login(gql, spelling)
        assert signed_in["errors"] == [], spelling
        assert signed_in["viewer"] == {"email": composed}


async def test_a_huge_login_email_fails_without_a_huge_throttle_key(gql, admin_db, settings, redis_client):
    before = await counts(admin_db)
    failed = await login(gql, "x" * 100_000 + "@example.com", "wrong password attempt")
    assert [e["code"] for e in failed["errors"]] == ["INVALID_CREDENTIALS"]
    keys = [k async for k in redis_client.scan_iter(match=f"{settings.redis_namespace}:login:*")]
    assert len(keys) == 4 and all(len(k) < 400 for k in keys)
    assert await counts(admin_db) == before
