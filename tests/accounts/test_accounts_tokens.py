"""Password reset and email verification: the emailed link's token, end to end through GraphQL.

Mails are produced by running the outbox job through the real actor against a local SMTP server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support import bare
from tests.support.accounts import (
    NEW_PASSWORD,
    REQUEST_RESET,
    RESET,
    STRONG_PASSWORD,
    VERIFY,
    account_jobs,
    counts,
    login,
    register,
    sha256,
    user_row,
    viewer,
)


async def reset(gql, token: str, password: str = NEW_PASSWORD) -> dict:
    return (await gql(RESET, {"i": {"token": token, "newPassword": password}}))["data"]["resetPassword"]


async def verify(gql, token: str) -> dict:
    return (await gql(VERIFY, {"i": {"token": token}}))["data"]["verifyEmail"]


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def request_reset_mail(gql, email_jobs, address: str):
    await gql.ok(REQUEST_RESET, {"i": {"email": address}})
    return await email_jobs.mail_for(address, "reset_password")


async def secrets_of(admin_db, address: str) -> tuple:
    """What a failed token use must leave untouched: password, verification, sessions, tokens."""
    user = await user_row(admin_db, address)
    sessions = await admin_db.fetch("select id, revoked_at from user_session where user_id = $1 order by id", user["id"])
    tokens = await admin_db.fetch("select id, used_at from email_token where user_id = $1 order by id", user["id"])
    return (user["password_hash"], user["email_verified_at"], user["password_changed_at"],
            [tuple(r) for r in sessions], [tuple(r) for r in tokens])


# --- password reset -------------------------------------------------------------------------------


async def test_request_password_reset_answers_the_same_for_known_and_unknown_emails(gql, admin_db, email_jobs, mailbox):
    await register(gql, "member@example.com")
    jobs_before = len(await account_jobs(admin_db))
    known = await gql.raw(REQUEST_RESET, {"i": {"email": "Member@Example.com"}})
    unknown = await gql.raw(REQUEST_RESET, {"i": {"email": "stranger@example.com"}})
    assert known.status_code == unknown.status_code == 200
    assert bare(known.json()) == bare(unknown.json()) == {"data": {"requestPasswordReset": {"errors": []}}}

    jobs = (await account_jobs(admin_db))[jobs_before:]
    assert [p for _, p in jobs] == [
        {"kind": "reset_password", "email": "member@example.com"},
        {"kind": "reset_password", "email": "stranger@example.com"},
    ]
    for job in jobs:
        await email_jobs.run(*job)
    assert mailbox.to("stranger@example.com") == []
    [mail] = mailbox.to("member@example.com")
    assert mail.subject == "Reset your password"
    assert mail.link.startswith("http://testserver/account/reset-password?token=")
    # Only the known account got a token, stored as a hash with the reset lifetime.
    [row] = await admin_db.fetch("select * from email_token")
    assert row["purpose"] == "reset_password"
    assert row["token_hash"] == sha256(mail.token)
    assert await admin_db.fetchval("select count(*) from email_token where token_hash = $1", mail.token) == 0
    expected = datetime.now(UTC) + timedelta(hours=1)
    assert abs((row["expires_at"] - expected).total_seconds()) < 60


async def test_password_reset_requests_are_capped_per_address(gql, admin_db, settings, redis_client):
    for _ in range(7):
        await gql.ok(REQUEST_RESET, {"i": {"email": "flooded@example.com"}})
    assert len(await account_jobs(admin_db)) == 5
    assert int(await redis_client.get(f"{settings.redis_namespace}:reset-request:flooded@example.com")) == 7


async def test_reset_link_sets_the_password_and_ends_every_session(gql, admin_db, email_jobs, redis_client, settings):
    address = "resetter@example.com"
    first = (await register(gql, address))["token"]
    second = (await login(gql, address))["token"]
    assert (await viewer(gql, first))["emailVerified"] is False  # caches the viewer of `first`
    assert await redis_client.exists(f"{settings.redis_namespace}:session:{sha256(first)}") == 1

    mail = await request_reset_mail(gql, email_jobs, address)
    payload = await reset(gql, mail.token)
    assert payload["errors"] == []
    # The link proved control of the mailbox.
    assert payload["viewer"] == {"email": address, "emailVerified": True}

    assert await viewer(gql, first) is None
    assert await viewer(gql, second) is None
    assert await admin_db.fetchval("select count(*) from user_session where revoked_at is null") == 0
    user = await user_row(admin_db, address)
    assert user["password_changed_at"] is not None
    assert user["email_verified_at"] is not None

    assert [e["code"] for e in (await login(gql, address, STRONG_PASSWORD))["errors"]] == ["INVALID_CREDENTIALS"]
    signed_in = await login(gql, address, NEW_PASSWORD)
    assert signed_in["errors"] == []
    assert (await viewer(gql, signed_in["token"]))["email"] == address


async def test_a_reset_token_works_once(gql, admin_db, email_jobs):
    address = "once@example.com"
    await register(gql, address)
    mail = await request_reset_mail(gql, email_jobs, address)
    assert (await reset(gql, mail.token))["errors"] == []
    state = await secrets_of(admin_db, address)

    again = await reset(gql, mail.token, "yet another passphrase 7")
    assert codes(again) == [("INVALID_TOKEN", ["input", "token"])]
    assert again["viewer"] is None
    assert await secrets_of(admin_db, address) == state
    assert (await login(gql, address, NEW_PASSWORD))["errors"] == []


async def test_using_one_reset_link_voids_the_older_ones(gql, admin_db, email_jobs):
    address = "two.links@example.com"
    await register(gql, address)
    older = await request_reset_mail(gql, email_jobs, address)
    newer = await request_reset_mail(gql, email_jobs, address)
    assert older.token != newer.token
    assert (await reset(gql, newer.token))["errors"] == []
    assert codes(await reset(gql, older.token, "yet another passphrase 7")) == [("INVALID_TOKEN", ["input", "token"])]
    assert (await login(gql, address, NEW_PASSWORD))["errors"] == []


async def test_an_expired_reset_token_changes_nothing(gql, admin_db, email_jobs):
    address = "late@example.com"
    token = (await register(gql, address))["token"]
    mail = await request_reset_mail(gql, email_jobs, address)
    await admin_db.execute("update email_token set expires_at = now() - interval '1 second'")
    state = await secrets_of(admin_db, address)
    before = await counts(admin_db)

    payload = await reset(gql, mail.token)
    assert codes(payload) == [("EXPIRED_TOKEN", ["input", "token"])]
    assert await secrets_of(admin_db, address) == state
    assert await counts(admin_db) == before
    assert (await viewer(gql, token))["email"] == address  # sessions survive
    assert (await login(gql, address, STRONG_PASSWORD))["errors"] == []


async def test_a_weak_new_password_keeps_the_token_usable(gql, admin_db, email_jobs):
    address = "weak.reset@example.com"
    token = (await register(gql, address))["token"]
    mail = await request_reset_mail(gql, email_jobs, address)
    state = await secrets_of(admin_db, address)

    for weak in ("short", address.upper(), "zzzzzzzzzzzz"):
        payload = await reset(gql, mail.token, weak)
        assert codes(payload) == [("WEAK_PASSWORD", ["input", "newPassword"])], weak
        assert payload["viewer"] is None
        assert await secrets_of(admin_db, address) == state, weak
    assert (await viewer(gql, token))["email"] == address

    assert (await reset(gql, mail.token))["errors"] == []
    assert (await login(gql, address, NEW_PASSWORD))["errors"] == []


async def test_unknown_and_wrong_purpose_tokens_are_invalid(gql, admin_db, email_jobs):
    address = "purpose@example.com"
    await register(gql, address)
    verification = await email_jobs.mail_for(address, "verify_email")
    state = await secrets_of(admin_db, address)
    for token in ("not-a-real-token", "", verification.token):
        assert codes(await reset(gql, token)) == [("INVALID_TOKEN", ["input", "token"])], token
    assert await secrets_of(admin_db, address) == state
    # ...and the verification token was not spent by those attempts.
    assert (await verify(gql, verification.token))["errors"] == []


# --- email verification ---------------------------------------------------------------------------


async def test_verification_link_confirms_the_email_once(gql, admin_db, email_jobs, redis_client, settings):
    address = "verify.me@example.com"
    token = (await register(gql, address, name="Vera"))["token"]
    mail = await email_jobs.mail_for(address, "verify_email")
    assert mail.subject == "Confirm your email address"
    assert "Hello Vera," in mail.text
    assert mail.link == f"http://testserver/account/verify-email?token={mail.token}"
    assert await admin_db.fetchval("select count(*) from email_token where token_hash = $1", mail.token) == 0
    assert await admin_db.fetchval("select purpose from email_token where token_hash = $1", sha256(mail.token)) == "verify_email"

    cache_key = f"{settings.redis_namespace}:session:{sha256(token)}"
    assert (await viewer(gql, token))["emailVerified"] is False
    cached = await redis_client.get(cache_key)
    assert cached is not None and b'"verified":false' in cached

    payload = await verify(gql, mail.token)
    assert payload == {"errors": [], "viewer": {"email": address, "emailVerified": True}}
    assert await redis_client.exists(cache_key) == 0  # the stale viewer was dropped
    assert (await viewer(gql, token))["emailVerified"] is True
    assert b'"verified":true' in await redis_client.get(cache_key)
    verified_at = (await user_row(admin_db, address))["email_verified_at"]
    assert verified_at is not None

    again = await verify(gql, mail.token)
    assert codes(again) == [("INVALID_TOKEN", ["input", "token"])]
    assert (await user_row(admin_db, address))["email_verified_at"] == verified_at

    # A verified account gets no further verification mail.
    await email_jobs.run_all()
    assert len(email_jobs.mailbox.to(address)) == 1


async def test_an_expired_verification_token_is_refused(gql, admin_db, email_jobs):
    address = "slow.verify@example.com"
    await register(gql, address)
    mail = await email_jobs.mail_for(address, "verify_email")
    await admin_db.execute("update email_token set expires_at = now() - interval '1 second'")
    state = await secrets_of(admin_db, address)
    assert codes(await verify(gql, mail.token)) == [("EXPIRED_TOKEN", ["input", "token"])]
    assert await secrets_of(admin_db, address) == state
