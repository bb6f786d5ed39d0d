"""Grants by email: grantContentAccess with an `email`, pending grants claimed at verified sign-up,
revokePendingGrant, the invitation mail, and resendVerificationEmail."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts import service as account_service
from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import Actors, assert_authz_matrix, make_actors
from tests.support.accounts import VERIFY, register
from tests.support.commerce import insert_content

GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code field message }
  purchase { id kind status }
  pendingGrant { id email status note claimedAt revokedAt purchaseId content { title } } } }"""
REVOKE_PENDING = """mutation($i: RevokePendingGrantInput!) { revokePendingGrant(input: $i) {
  errors { code field message } pendingGrant { id status revokedAt } } }"""
RESEND = """mutation($i: ResendVerificationEmailInput) { resendVerificationEmail(input: $i) {
  errors { code message } viewer { email emailVerified } } }"""
ACCESS = "query($id: ID!) { content(id: $id) { viewerHasAccess } }"
PENDING_NODE = "query($id: ID!) { node(id: $id) { ... on PendingGrant { email status purchaseId } } }"
INVITATION_TOPIC = "send_grant_invitation"


@dataclass
class WithoutOtherOrg(Actors):
    """The matrix without staff of another organization, whose outcome (NOT_FOUND) is asserted on its own."""

    def tokens(self) -> dict[str, str | None]:
        return {name: token for name, token in super().tokens().items() if name != "other_org_staff"}


def without_other_org(actors: Actors) -> WithoutOtherOrg:
    return WithoutOtherOrg(**vars(actors))


@pytest.fixture
async def shop(factory, db):
    owner = await factory.user()
    slug = f"shop-{uuid.uuid4().hex[:6]}"
    org = await factory.organization(owner, slug=slug, name="Film Shop")
    film = await insert_content(db, org, owner.user_id, "Granted film", 1500)
    other_film = await insert_content(db, org, owner.user_id, "Second film", 900)
    return {"owner": owner, "org": org, "slug": slug, "film": film, "other_film": other_film}


async def grant(gql, shop, email: str, content: str | None = None, **extra: Any) -> dict[str, Any]:
    body = await gql(GRANT, {"i": {"contentId": content or shop["film"], "email": email, **extra}}, shop["owner"].token)
    assert "errors" not in body, body
    return body["data"]["grantContentAccess"]


async def jobs(admin_db, topic: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await admin_db.fetch("select id, payload from outbox_message where kind = 'job' and topic = $1 "
                                "order by created_at, id", topic)
    return [(str(r["id"]), json.loads(r["payload"])) for r in rows]


async def verification_token(db, user_id: uuid.UUID) -> str:
    """A verification link's token, as the mail job mints it."""
    async with db.transaction() as session:
        user = await accounts.user_by_id(session, user_id)
        assert user is not None
        return await account_service.issue_email_token(session, user, account_service.VERIFY_EMAIL, 3600)


async def has_access(gql, token: str, content: str) -> bool:
    return (await gql.ok(ACCESS, {"id": content}, token))["content"]["viewerHasAccess"]


async def grant_rows(admin_db) -> list[dict[str, Any]]:
    rows = await admin_db.fetch("select email, content_id, claimed_at is not null as claimed, "
                                "revoked_at is not null as revoked, purchase_id from pending_grant order by created_at")
    return [dict(r) for r in rows]


async def state(admin_db) -> tuple[int, ...]:
    """Everything a refused grant must leave untouched."""
    return tuple([await admin_db.fetchval(f"select count(*) from {table}")  # noqa: S608
                  for table in ("pending_grant", "purchase", "content_entitlement", "outbox_message", "audit_log_entry")])


async def test_grant_by_email_to_a_verified_account_gives_access_at_once(gql, factory, admin_db, shop):
    customer = await factory.user(email=f"bea-{uuid.uuid4().hex[:6]}@example.com")
    assert not await has_access(gql, customer.token, shop["film"])
    payload = await grant(gql, shop, f"  {customer.email.upper()} ", note="Press copy")
    assert payload["errors"] == [] and payload["pendingGrant"] is None
    assert payload["purchase"]["kind"] == "GRANT" and payload["purchase"]["status"] == "COMPLETED"
    assert await has_access(gql, customer.token, shop["film"])
    assert await grant_rows(admin_db) == [] and await jobs(admin_db, INVITATION_TOPIC) == []
    # Again: the person has access already, a typed error on the email field.
    again = await grant(gql, shop, customer.email)
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("ALREADY_OWNED", ["input", "email"])]


async def test_pending_grant_is_claimed_at_verified_sign_up(gql, db, admin_db, shop, email_jobs, mailbox):
    from workers import commerce_actors

    address = f"new.person-{uuid.uuid4().hex[:6]}@example.com"
    payload = await grant(gql, shop, address.replace("new.person", "New.Person"), note="Welcome gift")
    pending = payload["pendingGrant"]
    assert payload["errors"] == [] and payload["purchase"] is None
    assert pending["email"] == address and pending["status"] == "PENDING" and pending["note"] == "Welcome gift"
    assert pending["content"] == {"title": "Granted film"} and pending["purchaseId"] is None

    # The invitation goes through the outbox to the mail job, once however often the job runs.
    [(job_id, job)] = await jobs(admin_db, INVITATION_TOPIC)
    for _ in range(2):
        await asyncio.to_thread(commerce_actors.send_grant_invitation.fn, job_id=job_id, **job)
    [mail] = mailbox.to(address)
    assert "Film Shop" in mail.subject and "Granted film" in mail.subject
    assert address in mail.text and "http://testserver/account/register?email=" in mail.text

    # Signing up is not enough: the address must be verified.
    signed_up = await register(gql, address)
    assert not await has_access(gql, signed_up["token"], shop["film"])
    assert [r["claimed"] for r in await grant_rows(admin_db)] == [False]

    verification = await email_jobs.mail_for(address, account_service.VERIFY_EMAIL)
    verified = await gql.ok(VERIFY, {"i": {"token": verification.token}})
    assert verified["verifyEmail"]["viewer"] == {"email": address, "emailVerified": True}
    assert await has_access(gql, signed_up["token"], shop["film"])
    [row] = await grant_rows(admin_db)
    assert row["claimed"] and row["purchase_id"] is not None
    purchase = await admin_db.fetchrow("select kind, status, note, granted_by_id from purchase where id = $1",
                                       row["purchase_id"])
    assert dict(purchase) == {"kind": "GRANT", "status": "COMPLETED", "note": "Welcome gift",
                              "granted_by_id": shop["owner"].user_id}
    # Staff see the grant claimed, with the purchase it became.
    node = await gql.ok(PENDING_NODE, {"id": pending["id"]}, shop["owner"].token)
    assert node["node"] == {"email": address, "status": "CLAIMED",
                            "purchaseId": to_global_id("Purchase", row["purchase_id"])}
    # A claimed grant cannot be revoked as pending; its purchase is revoked with revokeContentAccess.
    refused = (await gql(REVOKE_PENDING, {"i": {"pendingGrantId": pending["id"]}}, shop["owner"].token))["data"]
    assert [e["code"] for e in refused["revokePendingGrant"]["errors"]] == ["INVALID_STATE"]
    # A late invitation job sends nothing for a claimed grant.
    before = len(mailbox.received)
    await asyncio.to_thread(commerce_actors.send_grant_invitation.fn, job_id=str(uuid.uuid4()), **job)
    assert len(mailbox.received) == before


async def test_pending_grant_is_not_claimed_by_an_unverified_account(gql, factory, db, admin_db, shop):
    squatter = await factory.user(email=f"victim-{uuid.uuid4().hex[:6]}@example.com", verified=False)
    payload = await grant(gql, shop, squatter.email)
    # An unverified account does not prove it owns the address: the grant waits.
    assert payload["purchase"] is None and payload["pendingGrant"]["status"] == "PENDING"
    assert not await has_access(gql, squatter.token, shop["film"])
    assert await admin_db.fetchval("select count(*) from purchase") == 0
    assert [r["claimed"] for r in await grant_rows(admin_db)] == [False]
    # Proving the mailbox through a password reset link claims it too.
    async with db.transaction() as session:
        user = await accounts.user_by_id(session, squatter.user_id)
        reset_token = await account_service.issue_email_token(session, user, account_service.RESET_PASSWORD, 600)
    reset = await gql.ok("""mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { errors { code } } }""",
                         {"i": {"token": reset_token, "newPassword": "a brand new passphrase 42"}})
    assert reset["resetPassword"]["errors"] == []
    token = await factory.login(squatter.email, "a brand new passphrase 42")
    assert await has_access(gql, token, shop["film"])


@pytest.mark.timeout(120)
async def test_concurrent_verifications_claim_each_grant_once(gql, factory, db, admin_db, shop):
    second_owner = await factory.user()
    second_org = await factory.organization(second_owner, name="Second Shop")
    elsewhere = await insert_content(db, second_org, second_owner.user_id, "Elsewhere film", 500)
    address = f"racer-{uuid.uuid4().hex[:6]}@example.com"
    for content in (shop["film"], shop["other_film"]):
        assert (await grant(gql, shop, address, content))["pendingGrant"]["status"] == "PENDING"
    second = await gql.ok(GRANT, {"i": {"contentId": elsewhere, "email": address}}, second_owner.token)
    assert second["grantContentAccess"]["pendingGrant"]["status"] == "PENDING"

    signed_up = await register(gql, address)
    user_id = uuid.UUID(str(await admin_db.fetchval("select id from user_account where email = $1", address)))
    tokens = [await verification_token(db, user_id) for _ in range(3)]
    results = await asyncio.gather(*[gql(VERIFY, {"i": {"token": t}}) for t in tokens + tokens])
    assert sum(r["data"]["verifyEmail"]["errors"] == [] for r in results) >= 3
    for result in results:
        assert "errors" not in result, result

    purchases = await admin_db.fetch("select content_id, organization_id from purchase where user_id = $1", user_id)
    assert len(purchases) == 3 and len({p["content_id"] for p in purchases}) == 3
    assert await admin_db.fetchval("select count(*) from content_entitlement where user_id = $1 and revoked_at is null",
                                   user_id) == 3
    rows = await grant_rows(admin_db)
    assert [r["claimed"] for r in rows] == [True, True, True]
    assert {r["purchase_id"] for r in rows} == set(await admin_db.fetchval(
        "select array_agg(id) from purchase where user_id = $1", user_id))
    for content in (shop["film"], shop["other_film"], elsewhere):
        assert await has_access(gql, signed_up["token"], content)


async def test_duplicate_pending_grants_are_one_grant_with_one_invitation(gql, admin_db, shop):
    address = f"twice-{uuid.uuid4().hex[:6]}@example.com"
    first = await grant(gql, shop, address)
    again = await grant(gql, shop, address.upper())
    assert again["errors"] == [] and again["pendingGrant"]["id"] == first["pendingGrant"]["id"]
    # Concurrent grants of one item to one address: still one grant and one invitation.
    concurrent = f"burst-{uuid.uuid4().hex[:6]}@example.com"
    results = await asyncio.gather(*[grant(gql, shop, concurrent) for _ in range(5)])
    assert all(r["errors"] == [] for r in results)
    assert len({r["pendingGrant"]["id"] for r in results}) == 1
    assert sorted(r["email"] for r in await grant_rows(admin_db)) == sorted([address, concurrent])
    assert sorted(j["pending_grant_id"] for _, j in await jobs(admin_db, INVITATION_TOPIC)) == sorted(
        [str(await admin_db.fetchval("select id from pending_grant where email = $1", e)) for e in (address, concurrent)])
    # Another item to the same address is another grant.
    other = await grant(gql, shop, address, shop["other_film"])
    assert other["pendingGrant"]["id"] != first["pendingGrant"]["id"]


async def test_revoked_pending_grant_is_not_claimed(gql, db, admin_db, shop):
    address = f"revoked-{uuid.uuid4().hex[:6]}@example.com"
    pending = (await grant(gql, shop, address))["pendingGrant"]
    revoked = await gql.ok(REVOKE_PENDING, {"i": {"pendingGrantId": pending["id"]}}, shop["owner"].token)
    assert revoked["revokePendingGrant"]["pendingGrant"]["status"] == "REVOKED"
    assert revoked["revokePendingGrant"]["pendingGrant"]["revokedAt"]
    again = (await gql(REVOKE_PENDING, {"i": {"pendingGrantId": pending["id"]}}, shop["owner"].token))["data"]
    assert [e["code"] for e in again["revokePendingGrant"]["errors"]] == ["INVALID_STATE"]
    for bad in (to_global_id("PendingGrant", uuid.uuid4()), "junk", shop["film"]):
        missing = (await gql(REVOKE_PENDING, {"i": {"pendingGrantId": bad}}, shop["owner"].token))["data"]
        assert [(e["code"], e["field"]) for e in missing["revokePendingGrant"]["errors"]] == \
            [("NOT_FOUND", ["input", "pendingGrantId"])]

    signed_up = await register(gql, address)
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    assert (await gql.ok(VERIFY, {"i": {"token": await verification_token(db, user_id)}}))["verifyEmail"]["errors"] == []
    assert not await has_access(gql, signed_up["token"], shop["film"])
    assert await admin_db.fetchval("select count(*) from purchase") == 0
    # A new grant after a revocation is a new pending grant... of a now verified account: access at once.
    assert (await grant(gql, shop, address))["purchase"]["kind"] == "GRANT"


async def test_grant_input_errors_change_nothing(gql, factory, db, admin_db, shop):
    stranger = await factory.user()
    foreign_org = await factory.organization(stranger)
    foreign = await insert_content(db, foreign_org, stranger.user_id, "Not yours", 100)
    customer = await factory.user()
    before = await state(admin_db)
    cases = [
        ({"contentId": shop["film"]}, ("INVALID_INPUT", ["input", "userId"])),
        ({"contentId": shop["film"], "email": "a@example.com", "userId": customer.global_id}, ("INVALID_INPUT", ["input", "userId"])),
        ({"contentId": shop["film"], "email": "not an address"}, ("INVALID_INPUT", ["input", "email"])),
        ({"contentId": shop["film"], "email": "b@example.com", "note": "x" * 1001}, ("INVALID_INPUT", ["input", "note"])),
        ({"contentId": foreign, "email": "c@example.com"}, ("NOT_FOUND", ["input", "contentId"])),
        ({"contentId": "junk", "email": "c@example.com"}, ("NOT_FOUND", ["input", "contentId"])),
    ]
    for variables, expected in cases:
        body = await gql(GRANT, {"i": variables}, shop["owner"].token)
        payload = body["data"]["grantContentAccess"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [expected], variables
        assert payload["purchase"] is None and payload["pendingGrant"] is None
    assert await state(admin_db) == before


async def test_grant_by_email_authorization_matrix(gql, factory, db, admin_db):
    actors = await make_actors(factory, with_role=OrgRole.ADMIN, without_role=OrgRole.CREATOR)
    content = await insert_content(db, actors.org, actors.staff_with.user_id, "Matrix film", 100)
    address = f"matrix-{uuid.uuid4().hex[:6]}@example.com"

    async def snapshot() -> tuple[int, ...]:
        return await state(admin_db)

    # Staff of another organization hold CUSTOMERS_MANAGE in theirs: the item is not found there (a payload
    # error), and nothing is granted in either organization.
    before = await snapshot()
    rival = (await gql(GRANT, {"i": {"contentId": content, "email": address}}, actors.other_staff.token))["data"]
    assert [e["code"] for e in rival["grantContentAccess"]["errors"]] == ["NOT_FOUND"]
    assert rival["grantContentAccess"]["pendingGrant"] is None and await snapshot() == before
    results = await assert_authz_matrix(
        gql, without_other_org(actors), GRANT, {"i": {"contentId": content, "email": address}},
        path=["grantContentAccess", "pendingGrant"], allowed={"staff_with_permission"}, snapshot=snapshot)
    pending = results["staff_with_permission"]["data"]["grantContentAccess"]["pendingGrant"]
    assert pending["email"] == address
    [row] = await grant_rows(admin_db)
    assert row["email"] == address

    # Reading and revoking the pending grant: the same four refusals, nothing leaked or changed.
    before_revoke = await snapshot()
    node_results = {name: await gql(PENDING_NODE, {"id": pending["id"]}, token) for name, token in actors.tokens().items()}
    assert node_results["staff_with_permission"]["data"]["node"]["status"] == "PENDING"
    for name in ("anonymous", "customer", "other_org_staff", "staff_without_permission"):
        assert node_results[name]["data"]["node"] is None, name
    rival = (await gql(REVOKE_PENDING, {"i": {"pendingGrantId": pending["id"]}}, actors.other_staff.token))["data"]
    assert [e["code"] for e in rival["revokePendingGrant"]["errors"]] == ["NOT_FOUND"] and await snapshot() == before_revoke
    await assert_authz_matrix(
        gql, without_other_org(actors), REVOKE_PENDING, {"i": {"pendingGrantId": pending["id"]}},
        path=["revokePendingGrant", "pendingGrant"], allowed={"staff_with_permission"}, snapshot=snapshot)
    assert [r["revoked"] for r in await grant_rows(admin_db)] == [True]


# --- resendVerificationEmail ----------------------------------------------------------------------------


async def test_resend_verification_email_is_throttled(gql, factory, admin_db, settings):
    import redis.asyncio as redis

    address = f"resend-{uuid.uuid4().hex[:6]}@example.com"
    signed_up = await register(gql, address)
    token = signed_up["token"]
    assert len(await jobs(admin_db, "send_account_email")) == 1  # the sign-up's own mail
    for _ in range(3):
        payload = (await gql.ok(RESEND, {"i": None}, token))["resendVerificationEmail"]
        assert payload["viewer"] == {"email": address, "emailVerified": False}
    assert len(await jobs(admin_db, "send_account_email")) == 4
    throttled = (await gql(RESEND, {"i": None}, token))["data"]["resendVerificationEmail"]
    assert [e["code"] for e in throttled["errors"]] == ["THROTTLED"] and throttled["viewer"] is None
    assert len(await jobs(admin_db, "send_account_email")) == 4
    client = redis.from_url(settings.redis_url)
    try:
        # This test's namespace only: tests running beside it (other workers) have counters of their own.
        keys = [k async for k in client.scan_iter(match=f"{settings.redis_namespace}:verify-resend:*")]
        assert len(keys) == 1 and 3500 < await client.ttl(keys[0]) <= 3600
    finally:
        await client.aclose()

    # Another account has its own budget; a retry with an idempotency key sends and counts once.
    other = await register(gql, f"other-{uuid.uuid4().hex[:6]}@example.com")
    for _ in range(2):
        ok = await gql.ok(RESEND, {"i": {"idempotencyKey": "resend-1"}}, other["token"])
        assert ok["resendVerificationEmail"]["errors"] == []
    for _ in range(2):
        assert (await gql.ok(RESEND, {"i": None}, other["token"]))["resendVerificationEmail"]["errors"] == []
    assert [e["code"] for e in (await gql(RESEND, {"i": None}, other["token"]))["data"]["resendVerificationEmail"]
            ["errors"]] == ["THROTTLED"]


async def test_resend_verification_email_refusals(gql, factory, admin_db):
    verified = await factory.user()
    payload = (await gql(RESEND, {"i": None}, verified.token))["data"]["resendVerificationEmail"]
    assert [e["code"] for e in payload["errors"]] == ["EMAIL_ALREADY_VERIFIED"]
    anonymous = await gql(RESEND, {"i": None})
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    assert anonymous["data"] is None or anonymous["data"]["resendVerificationEmail"] is None
    assert await jobs(admin_db, "send_account_email") == []


async def waiting_on_locks(admin_db) -> int:
    await admin_db.execute("select pg_stat_clear_snapshot()")  # activity is snapshotted per transaction
    return await admin_db.fetchval("select count(*) from pg_stat_activity where datname = current_database() "
                                   "and wait_event_type = 'Lock'")


async def until_waiting(admin_db, count: int) -> None:
    for _ in range(200):
        if await waiting_on_locks(admin_db) >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"expected {count} transaction(s) waiting on a lock")


@pytest.mark.timeout(60)
async def test_grant_racing_the_verification_of_its_address_is_still_claimed(gql, db, admin_db, shop):
    """The grant read the account as unverified and is about to store a pending row when the address is
    verified: the claim must wait for it (the address lock) instead of finding nothing and leaving the
    grant pending forever. Deterministic: the grant is held at its insert by a lock on its organization row."""
    address = f"race-{uuid.uuid4().hex[:6]}@example.com"
    signed_up = await register(gql, address)
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    token = await verification_token(db, user_id)

    hold = admin_db.transaction()
    await hold.start()
    try:
        # The pending row's foreign key check (FOR KEY SHARE on the organization) waits behind this.
        await admin_db.execute("select 1 from organization where id = $1 for update", shop["org"])
        granting = asyncio.create_task(grant(gql, shop, address))
        await until_waiting(admin_db, 1)
        verifying = asyncio.create_task(gql(VERIFY, {"i": {"token": token}}))
        # With the address lock the verification waits for the grant; without it, it would finish now.
        await asyncio.sleep(0.5)
        await until_waiting(admin_db, 2)
        assert not verifying.done()
    finally:
        await hold.rollback()
    granted, verified = await asyncio.gather(granting, verifying)
    assert granted["errors"] == [] and granted["pendingGrant"]["status"] == "PENDING"
    assert verified["data"]["verifyEmail"]["errors"] == []
    assert [r["claimed"] for r in await grant_rows(admin_db)] == [True]
    assert await has_access(gql, signed_up["token"], shop["film"])


async def test_pending_grants_are_tenant_rows_the_addressee_may_only_read(gql, factory, db, admin_db, shop):
    from sqlalchemy import text

    from codex_graphql.db import TenantScope

    address = f"rls-{uuid.uuid4().hex[:6]}@example.com"
    await grant(gql, shop, address)
    await grant(gql, shop, f"someone-else-{uuid.uuid4().hex[:6]}@example.com")
    stranger = await factory.user()
    other_org = await factory.organization(stranger)
    addressee = await factory.user(email=address, verified=False)

    async def visible(scope: TenantScope) -> list[str]:
        async with db.transaction(scope) as session:  # no filter at all: only RLS decides
            return sorted((await session.execute(text("select email from pending_grant"))).scalars().all())

    assert len(await visible(TenantScope(organization_id=shop["org"]))) == 2
    assert await visible(TenantScope(user_id=stranger.user_id, organization_id=other_org)) == []
    assert await visible(TenantScope()) == []
    assert await visible(TenantScope(user_id=addressee.user_id)) == [address]
    async with db.transaction(TenantScope(user_id=addressee.user_id)) as session:
        changed = await session.execute(text("update pending_grant set claimed_at = now()"))
        assert changed.rowcount == 0
    assert await admin_db.fetchval("select count(*) from pending_grant where claimed_at is not null") == 0
