"""Sign-in throttling under real concurrency (issue 21 item 1), the unlock link, register's answer for a
taken address and id-shaped organization slugs (item 6). Real Redis, real PostgreSQL, parallel requests
through the ASGI app."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from codex_graphql.accounts import security, service, throttle
from codex_graphql.authz import PlatformRole
from codex_graphql.relay import to_global_id
from tests.accounts.test_login_security import run_security_job, security_jobs
from tests.support import GraphQLClient
from tests.support.accounts import (
    LOGIN,
    REGISTER,
    STRONG_PASSWORD,
    account_jobs,
    counts,
    register,
    sha256,
    unique_email,
)

UNLOCK = """
mutation Unlock($i: UnlockAccountInput!) {
  unlockAccount(input: $i) { errors { code field message } viewer { email } }
}"""
REGISTER_FULL = """
mutation Register($i: RegisterInput!) {
  register(input: $i) { token expiresAt checkEmail errors { code field message } viewer { id email } }
}"""
CREATE_ORG = """
mutation($name: String!, $slug: String!) {
  createOrganization(input: {name: $name, slug: $slug}) { organization { id slug } errors { code field message } }
}"""
UNLOCK_LINK_RE = re.compile(r"http://testserver/account/unlock\?token=([A-Za-z0-9_\-]+)")
WRONG = "not the right password"


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification the login service makes (the real argon2 check still runs)."""
    calls: list[str] = []
    real = security.verify_password

    async def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password)
        return await real(password_hash, password)

    monkeypatch.setattr(service, "verify_password", counting)
    return calls


@asynccontextmanager
async def client_at(app: Any, ip: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client whose requests come from another client address."""
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


async def attempt(gql: GraphQLClient, email: str, password: str) -> dict[str, Any]:
    return (await gql(LOGIN, {"i": {"email": email, "password": password}}))["data"]["login"]


def codes(payloads: list[dict[str, Any]]) -> list[str]:
    return sorted(p["errors"][0]["code"] if p["errors"] else "OK" for p in payloads)


# --- reservation before verification -------------------------------------------------------------


async def test_parallel_wrong_logins_verify_at_most_the_free_failures(gql, settings, admin_db, verifications):
    address = unique_email("burst")
    await register(gql, address)
    free = settings.login_max_failures
    results = await asyncio.gather(*[attempt(gql, address, f"{WRONG} {n}") for n in range(20)])
    assert len(verifications) == free
    assert codes(results) == ["INVALID_CREDENTIALS"] * free + ["THROTTLED"] * (20 - free)
    throttled = next(p for p in results if p["errors"][0]["code"] == "THROTTLED")
    assert re.search(r"Try again in \d+ seconds", throttled["errors"][0]["message"])
    assert all(p["token"] is None for p in results)


async def test_a_burst_with_the_right_password_gets_no_token_past_the_limit(gql, settings, admin_db, verifications,
                                                                            monkeypatch):
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)  # the delay outlasts the test on a slow machine
    address = unique_email("guess")
    await register(gql, address)
    sessions = await admin_db.fetchval("select count(*) from user_session")
    free = settings.login_max_failures
    # From a clean slate: 19 wrong guesses and the right password at once. At most `free` are verified,
    # so the right one only signs in if it was one of them (a guess within the budget).
    burst = [attempt(gql, address, f"{WRONG} {n}") for n in range(19)] + [attempt(gql, address, STRONG_PASSWORD)]
    results = await asyncio.gather(*burst)
    assert len(verifications) <= free
    verified = [p for p in results if not p["errors"] or p["errors"][0]["code"] != "THROTTLED"]
    assert len(verified) == len(verifications)
    signed_in = [p for p in results if p["token"]]
    assert len(signed_in) <= 1 and (not signed_in or STRONG_PASSWORD in verifications)
    # Now reach the limit for sure; the next burst verifies nothing and signs nobody in.
    for n in range(2 * free):
        if (await attempt(gql, address, f"{WRONG} more {n}"))["errors"][0]["code"] == "THROTTLED":
            break
    verifications.clear()
    results = await asyncio.gather(*[attempt(gql, address, f"{WRONG} x{n}") for n in range(19)],
                                   attempt(gql, address, STRONG_PASSWORD))
    assert codes(results) == ["THROTTLED"] * 20 and verifications == []
    assert await admin_db.fetchval("select count(*) from user_session") == sessions + len(signed_in)


async def test_one_address_spraying_many_accounts_is_limited_in_parallel_too(gql, settings, verifications):
    limit = throttle.ADDRESS_FACTOR * settings.login_max_failures
    results = await asyncio.gather(*[attempt(gql, unique_email(f"spray{n}"), WRONG) for n in range(limit + 10)])
    assert len(verifications) == limit
    assert codes(results) == ["INVALID_CREDENTIALS"] * limit + ["THROTTLED"] * 10


async def test_delays_grow_per_pair_and_a_success_resets_them(gql, settings, redis_client, monkeypatch):
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 30.0)
    address = unique_email("grow")
    await register(gql, address)
    free = settings.login_max_failures
    pair = f"{settings.redis_namespace}:login:pair:{address}|203.0.113.7"

    async def delay_left() -> float:
        seconds, micros = await redis_client.time()
        return float(await redis_client.hget(pair, "until")) - (seconds + micros / 1e6)

    async def delay_passes() -> None:  # instead of sleeping through it
        await redis_client.hset(pair, "until", "0")

    for n in range(free):
        assert (await attempt(gql, address, f"{WRONG} {n}"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert 25 < await delay_left() <= 30
    # Inside the delay even the right password is refused, unverified, with the time to wait.
    refused = await attempt(gql, address, STRONG_PASSWORD)
    assert refused["errors"][0]["code"] == "THROTTLED" and refused["token"] is None
    assert re.search(r"Try again in (2\d|30) seconds", refused["errors"][0]["message"])
    await delay_passes()
    assert (await attempt(gql, address, f"{WRONG} late"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert 55 < await delay_left() <= 60  # twice the first
    state = {k.decode(): v.decode() for k, v in (await redis_client.hgetall(pair)).items()}
    assert int(state["fails"]) == free + 1 and int(state["pending"]) == 0
    assert (await attempt(gql, address, STRONG_PASSWORD))["errors"][0]["code"] == "THROTTLED"
    await delay_passes()
    ok = await attempt(gql, address, STRONG_PASSWORD)
    assert ok["errors"] == [] and ok["token"]
    assert await redis_client.exists(pair) == 0


# --- no account-wide denial of service -------------------------------------------------------------


async def test_the_owner_signs_in_from_another_address_while_the_attacker_is_delayed(app, gql, settings, admin_db,
                                                                                     email_jobs, monkeypatch):
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)
    address = unique_email("owner")
    await register(gql, address)  # the owner signs up from 203.0.113.7
    async with client_at(app, "198.51.100.66") as attacker:
        for n in range(3 * settings.login_max_failures):
            await attempt(attacker, address, f"{WRONG} {n}")
        assert (await attempt(attacker, address, STRONG_PASSWORD))["errors"][0]["code"] == "THROTTLED"
    owner = await attempt(gql, address, STRONG_PASSWORD)
    assert owner["errors"] == [] and owner["token"]


async def test_failures_from_many_addresses_lock_nobody_and_send_one_unlock_notice(app, gql, settings, admin_db,
                                                                                    email_jobs):
    address = unique_email("spread")
    await register(gql, address)
    for n in range(3 * settings.login_max_failures):  # one guess from each of many addresses
        async with client_at(app, f"198.51.100.{n + 1}") as somebody:
            assert (await attempt(somebody, address, WRONG))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await attempt(gql, address, STRONG_PASSWORD))["token"]
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    assert [p for _, p in await security_jobs(admin_db, "sign_in_unlock")] == [
        {"kind": "sign_in_unlock", "user_id": str(user_id)}
    ]
    # An address with no account is throttled the same way, but there is nobody to tell.
    stranger = unique_email("nobody")
    for n in range(settings.login_max_failures + 1):
        await attempt(gql, stranger, f"{WRONG} {n}")
    assert len(await security_jobs(admin_db, "sign_in_unlock")) == 1


# --- the unlock link -------------------------------------------------------------------------------


async def test_the_unlock_link_lifts_the_owners_delays_once(gql, settings, admin_db, email_jobs, mailbox,
                                                            monkeypatch):
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)
    address = unique_email("unlock")
    await register(gql, address, name="Una")
    for n in range(settings.login_max_failures):
        await attempt(gql, address, f"{WRONG} {n}")
    assert (await attempt(gql, address, STRONG_PASSWORD))["errors"][0]["code"] == "THROTTLED"

    [(job_id, payload)] = await security_jobs(admin_db, "sign_in_unlock")
    await run_security_job(job_id, payload)
    await run_security_job(job_id, payload)  # a redelivery sends nothing more
    [mail] = await mailbox.wait_for(address)
    assert mail.subject == "Failed sign-in attempts on your account" and "Hello Una," in mail.text
    token = UNLOCK_LINK_RE.search(mail.text).group(1)
    stored = await admin_db.fetchrow("select * from email_token where purpose = 'unlock_sign_in'")
    assert stored["token_hash"] == sha256(token) and token not in str(dict(stored))

    unlocked = await gql(UNLOCK, {"i": {"token": token}})
    assert unlocked["data"]["unlockAccount"] == {"errors": [], "viewer": {"email": address}}
    signed_in = await attempt(gql, address, STRONG_PASSWORD)
    assert signed_in["errors"] == [] and signed_in["token"]

    again = (await gql(UNLOCK, {"i": {"token": token}}))["data"]["unlockAccount"]
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("INVALID_TOKEN", ["input", "token"])]
    assert again["viewer"] is None
    bogus = (await gql(UNLOCK, {"i": {"token": "not-a-token"}}))["data"]["unlockAccount"]
    assert [e["code"] for e in bogus["errors"]] == ["INVALID_TOKEN"]


# --- register with a taken address -----------------------------------------------------------------


async def test_register_with_a_taken_email_looks_like_a_sign_up_and_mails_the_owner(gql, admin_db, email_jobs,
                                                                                    mailbox, monkeypatch):
    hashes: list[str] = []
    real = security.hash_password

    async def counting(password: str) -> str:
        hashes.append(password)
        return await real(password)

    monkeypatch.setattr(service, "hash_password", counting)
    owner = unique_email("owner")
    new = await gql.raw(REGISTER_FULL, {"i": {"email": owner, "password": STRONG_PASSWORD, "name": "Olive"}})
    fresh = new.json()["data"]["register"]
    assert fresh["errors"] == [] and fresh["checkEmail"] is True and fresh["token"]
    assert len(hashes) == 1

    before = await counts(admin_db)
    taken = await gql.raw(REGISTER_FULL, {"i": {"email": f"  {owner.upper()}", "password": "another good password"}})
    answer = taken.json()
    assert "errors" not in answer
    payload = answer["data"]["register"]
    # The same shape and outcome flag as a sign-up, with nothing to sign in with.
    assert payload == {"token": None, "expiresAt": None, "checkEmail": True, "errors": [], "viewer": None}
    assert set(payload) == set(fresh)
    assert "set-cookie" not in taken.headers
    assert len(hashes) == 2  # the same password work as a new account (similar timing)
    after = await counts(admin_db)
    assert after == {**before, "outbox_message": before["outbox_message"] + 1}
    assert (await account_jobs(admin_db))[-1][1] == {"kind": "sign_up_attempt", "email": owner}

    mail = await email_jobs.mail_for(owner, "sign_up_attempt")
    assert mail.subject == "Someone tried to sign up with your address"
    assert "Hello Olive," in mail.text and "reset-password?token=" in mail.text
    # The first account keeps its password.
    assert (await attempt(gql, owner, STRONG_PASSWORD))["errors"] == []
    # Notices to one address are capped (3 an hour); the answer stays the same.
    for _ in range(4):
        again = (await gql(REGISTER_FULL, {"i": {"email": owner, "password": "another good password"}}))
        assert again["data"]["register"] == payload
    assert len([p for _, p in await account_jobs(admin_db) if p["kind"] == "sign_up_attempt"]) == 3


async def test_invalid_input_is_refused_alike_for_taken_and_new_addresses(gql):
    owner = unique_email("weak")
    await register(gql, owner)
    for address in (owner, unique_email("weak-new")):
        payload = (await gql(REGISTER, {"i": {"email": address, "password": "short"}}))["data"]["register"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("WEAK_PASSWORD", ["input", "password"])]


# --- id-shaped organization slugs ----------------------------------------------------------------


async def test_id_shaped_slugs_are_refused(gql, factory, admin_db):
    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    raw = await factory.organization(owner)  # a slug equal to its id (or global id) would stand for it
    before = await admin_db.fetchval("select count(*) from organization")
    for slug in (str(raw), str(raw).upper(), raw.hex, str(uuid.uuid4()), to_global_id("Organization", raw),
                 to_global_id("User", uuid.uuid4())):
        payload = (await gql(CREATE_ORG, {"name": "Lookalike", "slug": slug}, owner.token))["data"]["createOrganization"]
        assert payload["organization"] is None, slug
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["input", "slug"])], slug
        assert "id" in payload["errors"][0]["message"]
    assert await admin_db.fetchval("select count(*) from organization") == before
    ok = (await gql.ok(CREATE_ORG, {"name": "Fine", "slug": "uuid-like-but-not-1234"}, owner.token))
    assert ok["createOrganization"]["organization"]["slug"] == "uuid-like-but-not-1234"


async def test_the_in_process_throttle_of_embedded_mode_follows_the_same_rules(settings, monkeypatch):
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)
    local = throttle.MemoryLoginThrottle(settings)
    free = settings.login_max_failures
    decisions = await asyncio.gather(*[local.reserve("a@example.com", "1.2.3.4") for _ in range(20)])
    assert [d.allowed for d in decisions] == [True] * free + [False] * (20 - free)
    for _ in range(free):
        failure = await local.failed("a@example.com", "1.2.3.4")
    assert failure.pair_failures == free and failure.delay == 60.0 and failure.account_failures == free
    refused = await local.reserve("a@example.com", "1.2.3.4")
    assert not refused.allowed and refused.reason == "pair" and 59 <= refused.retry_after <= 60
    assert (await local.reserve("a@example.com", "5.6.7.8")).allowed  # another address is not delayed
    await local.succeeded("a@example.com", "5.6.7.8")
    await local.unlock("a@example.com")
    assert (await local.reserve("a@example.com", "1.2.3.4")).allowed
    assert await local.first_notice("a@example.com") and not await local.first_notice("a@example.com")
