"""Invitations by email: the mail and its single-use link, accepting (existing account, right after sign-up,
concurrently), revoking, re-inviting, every refusal changing nothing, and the authorization matrices."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.conftest import module_database
from tests.support import assert_authz_matrix, make_actors, statements
from tests.support.accounts import REGISTER, STRONG_PASSWORD, unique_email
from tests.support.team import (
    ACCEPT,
    INVITATION_LINK,
    INVITATIONS,
    INVITE,
    PERMISSIONS,
    REVOKE,
    invitation_jobs,
    invite,
    mint_token,
    roles,
    run_invitation_job,
    sha256,
    team_state,
)

# One database for the module: every test makes its own organizations and addresses.
database_url = module_database("invites")


@pytest.fixture
async def org(factory):
    owner = await factory.user(name="Olive Owner")
    slug = f"org-{uuid.uuid4().hex[:8]}"
    return owner, await factory.organization(owner, slug=slug, name="Acme Films"), slug


async def test_invitation_mail_link_is_single_use_and_only_its_hash_is_stored(gql, factory, admin_db, email_jobs,
                                                                             mailbox, org):
    owner, org_id, slug = org
    person = await factory.user(name="Pat Person")
    invitation = await invite(gql, owner.token, f"  {person.email.upper()} ", "CREATOR")
    assert invitation["email"] == person.email and invitation["role"] == "CREATOR"
    assert invitation["status"] == "PENDING" and invitation["invitedBy"] == {"name": "Olive Owner"}
    row = await admin_db.fetchrow("select * from organization_invitation where organization_id = $1", org_id)
    assert row["token_hash"] is None  # no token exists before the mail job mints it
    assert 6.9 * 86400 < (row["expires_at"] - row["created_at"]).total_seconds() <= 7 * 86400

    [(job_id, payload)] = await invitation_jobs(admin_db)
    await run_invitation_job(job_id, payload)
    await run_invitation_job(job_id, payload)  # a redelivered job sends nothing more
    [mail] = await mailbox.wait_for(person.email)
    assert "Acme Films" in mail.subject and "Olive Owner" in mail.text and "CREATOR" in mail.text
    token = INVITATION_LINK.search(mail.text).group(1)
    stored = await admin_db.fetchval("select token_hash from organization_invitation where id = $1", row["id"])
    assert stored == sha256(token)
    dump = str([tuple(r) for r in await admin_db.fetch("select * from organization_invitation")])
    assert token not in dump

    data = await gql.ok(ACCEPT, {"t": token}, person.token)
    payload = data["acceptOrganizationInvitation"]
    assert payload["member"]["role"] == "CREATOR" and payload["member"]["email"] == person.email
    assert payload["organization"]["slug"] == slug
    assert payload["organization"]["viewerRole"] == "CREATOR"
    assert "CONTENT_CREATE" in payload["organization"]["viewerPermissions"]
    assert payload["organization"]["members"] == {"totalCount": 2}
    assert (await roles(admin_db, org_id))[person.user_id] == "CREATOR"
    # The next request already has the membership (the accept dropped the cached viewer).
    viewer = (await gql.ok(PERMISSIONS, token=person.token))["viewer"]
    assert viewer["activeOrganization"] == {"slug": slug} and "CONTENT_CREATE" in viewer["permissions"]

    before = await team_state(admin_db, org_id)
    again = (await gql(ACCEPT, {"t": token}, person.token))["data"]["acceptOrganizationInvitation"]
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("INVALID_TOKEN", ["input", "token"])]
    assert again["member"] is None
    assert await team_state(admin_db, org_id) == before
    actions = [r["action"] for r in await admin_db.fetch(
        "select action from audit_log_entry where organization_id = $1 order by created_at", org_id)]
    assert actions == ["MEMBER_INVITED", "INVITATION_ACCEPTED"]


async def test_accept_right_after_register_and_register_with_the_token(gql, factory, admin_db, org):
    owner, org_id, slug = org
    first, second = unique_email("newcomer"), unique_email("signup")
    token_first = await mint_token(admin_db, (await invite(gql, owner.token, first, "ADMIN"))["id"])
    token_second = await mint_token(admin_db, (await invite(gql, owner.token, second, "MEMBER"))["id"])

    registered = await gql.ok(REGISTER, {"i": {"email": first, "password": STRONG_PASSWORD}})
    data = await gql.ok(ACCEPT, {"t": token_first}, registered["register"]["token"])
    assert data["acceptOrganizationInvitation"]["organization"]["viewerRole"] == "ADMIN"

    # Or in one step: the sign-up carries the token and answers with the membership.
    query = """mutation($i: RegisterInput!) { register(input: $i) { token errors { code field }
      viewer { memberships { role organization { slug } } activeOrganization { slug } permissions } } }"""
    data = await gql.ok(query, {"i": {"email": second, "password": STRONG_PASSWORD, "invitationToken": token_second}})
    viewer = data["register"]["viewer"]
    assert viewer["memberships"] == [{"role": "MEMBER", "organization": {"slug": slug}}]
    assert viewer["activeOrganization"] == {"slug": slug} and "MEMBERS_READ" in viewer["permissions"]
    assert sorted((await roles(admin_db, org_id)).values()) == ["ADMIN", "MEMBER", "OWNER"]

    # A sign-up with a token that is not valid (here: used) creates no account at all.
    before = await admin_db.fetchval("select count(*) from user_account")
    body = await gql(query, {"i": {"email": unique_email("late"), "password": STRONG_PASSWORD,
                                   "invitationToken": token_second}})
    assert [(e["code"], e["field"]) for e in body["data"]["register"]["errors"]] == [
        ("INVALID_TOKEN", ["input", "invitationToken"])]
    assert await admin_db.fetchval("select count(*) from user_account") == before


async def test_refusals_change_nothing(gql, factory, admin_db, org):
    owner, org_id, _ = org
    admin = await factory.user()
    await factory.member(org_id, admin, OrgRole.ADMIN)
    member = await factory.user()
    await factory.member(org_id, member, OrgRole.MEMBER)
    stranger = await factory.user()

    async def refused(query, variables, token, code, field, name):
        before = await team_state(admin_db, org_id)
        body = await gql(query, variables, token)
        assert "errors" not in body, body
        payload = body["data"][name]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, ["input", field])], payload
        assert await team_state(admin_db, org_id) == before

    # Inviting: above your own role, an existing member, a malformed address.
    await refused(INVITE, {"e": unique_email(), "r": "OWNER"}, admin.token, "NOT_ALLOWED", "role", "inviteOrganizationMember")
    await refused(INVITE, {"e": member.email, "r": "MEMBER"}, owner.token, "ALREADY_EXISTS", "email", "inviteOrganizationMember")
    await refused(INVITE, {"e": "not an address", "r": "MEMBER"}, owner.token, "INVALID_INPUT", "email",
                  "inviteOrganizationMember")

    # Accepting: unknown, revoked, expired, someone else's address.
    await refused(ACCEPT, {"t": "no-such-token"}, stranger.token, "INVALID_TOKEN", "token", "acceptOrganizationInvitation")
    revoked = await invite(gql, owner.token, stranger.email)
    revoked_token = await mint_token(admin_db, revoked["id"])
    assert (await gql.ok(REVOKE, {"id": revoked["id"]}, owner.token))["revokeOrganizationInvitation"]["invitation"][
        "status"] == "REVOKED"
    await refused(ACCEPT, {"t": revoked_token}, stranger.token, "INVALID_TOKEN", "token", "acceptOrganizationInvitation")
    await refused(REVOKE, {"id": revoked["id"]}, owner.token, "INVALID_STATE", "invitationId", "revokeOrganizationInvitation")

    expiring = await invite(gql, owner.token, stranger.email)
    expiring_token = await mint_token(admin_db, expiring["id"])
    await admin_db.execute("update organization_invitation set expires_at = now() - interval '1 second' where token_hash = $1",
                           sha256(expiring_token))
    await refused(ACCEPT, {"t": expiring_token}, stranger.token, "EXPIRED_TOKEN", "token", "acceptOrganizationInvitation")

    fresh = await invite(gql, owner.token, stranger.email)
    fresh_token = await mint_token(admin_db, fresh["id"])
    await refused(ACCEPT, {"t": fresh_token}, member.token, "NOT_ALLOWED", "token", "acceptOrganizationInvitation")
    # Revoking: an admin cannot withdraw an OWNER invitation; another organization's invitation is not found.
    owner_invite = await invite(gql, owner.token, unique_email(), "OWNER")
    await refused(REVOKE, {"id": owner_invite["id"]}, admin.token, "NOT_ALLOWED", "invitationId",
                  "revokeOrganizationInvitation")
    other_owner = await factory.user()
    await factory.organization(other_owner)
    foreign = await invite(gql, other_owner.token, unique_email())
    await refused(REVOKE, {"id": foreign["id"]}, owner.token, "NOT_FOUND", "invitationId", "revokeOrganizationInvitation")
    await refused(REVOKE, {"id": "garbage"}, owner.token, "NOT_FOUND", "invitationId", "revokeOrganizationInvitation")
    # ... and the valid one still works for its own address.
    data = await gql.ok(ACCEPT, {"t": fresh_token}, stranger.token)
    assert data["acceptOrganizationInvitation"]["member"]["role"] == "MEMBER"


async def test_reinviting_replaces_the_pending_invitation(gql, factory, admin_db, email_jobs, mailbox, org):
    owner, org_id, slug = org
    address = unique_email("twice")
    first = await invite(gql, owner.token, address, "MEMBER")
    first_token = await mint_token(admin_db, first["id"])
    first_job = (await invitation_jobs(admin_db))[-1]
    second = await invite(gql, owner.token, address.upper(), "CREATOR")
    assert second["id"] != first["id"]
    await run_invitation_job(*first_job)  # the replaced invitation's mail is no longer sent
    await run_invitation_job(*(await invitation_jobs(admin_db))[-1])
    [mail] = await mailbox.wait_for(address)
    assert "CREATOR" in mail.text
    listed = (await gql.ok(INVITATIONS, {"s": slug, "pending": False}, owner.token))["organization"]["invitations"]
    assert {(n["id"], n["status"]) for n in listed["nodes"]} == {(first["id"], "REVOKED"), (second["id"], "PENDING")}
    pending = (await gql.ok(INVITATIONS, {"s": slug, "pending": True}, owner.token))["organization"]["invitations"]
    assert pending["totalCount"] == 1 and pending["nodes"][0]["role"] == "CREATOR"

    person = await factory.user(email=address)
    body = await gql(ACCEPT, {"t": first_token}, person.token)
    assert [e["code"] for e in body["data"]["acceptOrganizationInvitation"]["errors"]] == ["INVALID_TOKEN"]
    token = INVITATION_LINK.search(mail.text).group(1)
    data = await gql.ok(ACCEPT, {"t": token}, person.token)
    assert data["acceptOrganizationInvitation"]["member"]["role"] == "CREATOR"


async def test_two_parallel_accepts_make_one_membership(gql, factory, admin_db, org):
    owner, org_id, _ = org
    person = await factory.user()
    second_session = await factory.login(person.email)
    token = await mint_token(admin_db, (await invite(gql, owner.token, person.email, "ADMIN"))["id"])
    bodies = await asyncio.gather(*[gql(ACCEPT, {"t": token}, t) for t in (person.token, second_session) * 2])
    outcomes = sorted(tuple(e["code"] for e in b["data"]["acceptOrganizationInvitation"]["errors"]) for b in bodies)
    assert outcomes == [(), ("INVALID_TOKEN",), ("INVALID_TOKEN",), ("INVALID_TOKEN",)]
    assert await admin_db.fetchval(
        "select count(*) from organization_membership where organization_id = $1 and user_id = $2",
        org_id, person.user_id) == 1
    assert await admin_db.fetchval(
        "select count(*) from audit_log_entry where organization_id = $1 and action = 'INVITATION_ACCEPTED'", org_id) == 1


async def test_invitee_cannot_read_other_invitations_through_the_token_policy(db, gql, factory, admin_db, org):
    """RLS: naming a token's hash opens that one invitation, never the organization's others."""
    from sqlalchemy import text

    from codex_graphql.db import TenantScope

    owner, org_id, _ = org
    person = await factory.user()
    token = await mint_token(admin_db, (await invite(gql, owner.token, person.email))["id"])
    await invite(gql, owner.token, unique_email())
    async with db.transaction(TenantScope(user_id=person.user_id)) as session:
        assert (await session.execute(text("select count(*) from organization_invitation"))).scalar() == 0
        await session.execute(text("select set_config('codex.invitation_token_hash', :h, true)"), {"h": sha256(token)})
        assert (await session.execute(text("select email from organization_invitation"))).scalars().all() == [person.email]
        updated = await session.execute(text("update organization_invitation set role = 'OWNER'"))
        assert updated.rowcount == 0


# --- authorization matrices -----------------------------------------------------------------------


async def test_invite_matrix(gql, factory, admin_db):
    actors = await make_actors(factory, with_role=OrgRole.ADMIN, without_role=OrgRole.CREATOR)

    async def snapshot():
        return await team_state(admin_db, actors.org)

    org = to_global_id("Organization", actors.org)
    results = await assert_authz_matrix(gql, actors, INVITE, {"e": unique_email(), "r": "MEMBER", "o": org},
                                        path=["inviteOrganizationMember", "invitation"], allowed={"staff_with_permission"},
                                        snapshot=snapshot)
    assert results["staff_with_permission"]["data"]["inviteOrganizationMember"]["invitation"]["status"] == "PENDING"
    assert await admin_db.fetchval("select count(*) from organization_invitation where organization_id = $1",
                                   actors.org) == 1


async def test_revoke_matrix(gql, factory, admin_db):
    actors = await make_actors(factory, with_role=OrgRole.ADMIN, without_role=OrgRole.MEMBER)
    invitation = await invite(gql, actors.staff_with.token, unique_email())

    async def snapshot():
        return await team_state(admin_db, actors.org)

    org = to_global_id("Organization", actors.org)
    await assert_authz_matrix(gql, actors, REVOKE, {"id": invitation["id"], "o": org},
                              path=["revokeOrganizationInvitation", "invitation"], allowed={"staff_with_permission"},
                              snapshot=snapshot)
    assert await admin_db.fetchval("select revoked_at is not null from organization_invitation where organization_id = $1",
                                   actors.org)


async def test_invitations_field_matrix(gql, factory):
    actors = await make_actors(factory, with_role=OrgRole.MEMBER, without_role=OrgRole.MEMBER)
    owner = await factory.user()
    org_id = actors.org
    await factory.member(org_id, owner, OrgRole.OWNER)
    invited = unique_email()
    await invite(gql, owner.token, invited, "CREATOR")
    # Every role holds MEMBERS_READ: both staff callers list invitations; nobody else sees them.
    results = await assert_authz_matrix(gql, actors, INVITATIONS, {"s": actors.org_slug, "pending": True},
                                        path=["organization", "invitations"],
                                        allowed={"staff_with_permission", "staff_without_permission"})
    listed = results["staff_with_permission"]["data"]["organization"]["invitations"]
    assert listed["totalCount"] == 1 and listed["nodes"][0]["email"] == invited
    node = await gql.ok("query($id: ID!) { node(id: $id) { ... on OrganizationInvitation { email } } }",
                        {"id": listed["nodes"][0]["id"]}, actors.other_staff.token)
    assert node["node"] is None


async def test_accept_matrix(gql, factory, admin_db):
    """Any signed-in account may try a token; only the invited address joins. Anonymous callers are refused."""
    actors = await make_actors(factory)
    invitee = await factory.user()
    token = await mint_token(admin_db, (await invite(gql, actors.staff_with.token, invitee.email))["id"])

    async def snapshot():
        return await team_state(admin_db, actors.org)

    signed_in = {"customer", "other_org_staff", "staff_without_permission", "staff_with_permission"}
    before = await snapshot()
    results = await assert_authz_matrix(gql, actors, ACCEPT, {"t": token}, path=["acceptOrganizationInvitation"],
                                        allowed=signed_in, snapshot=snapshot)
    for name in signed_in:
        payload = results[name]["data"]["acceptOrganizationInvitation"]
        assert payload["member"] is None and payload["errors"], name
    assert await snapshot() == before
    assert (await gql.ok(ACCEPT, {"t": token}, invitee.token))["acceptOrganizationInvitation"]["member"]


async def test_invitations_statement_count_does_not_grow_with_the_page(app, gql, factory, admin_db, org):
    owner, org_id, slug = org
    inviters = [await factory.user(name=f"Inviter {i}") for i in range(10)]
    await gql.ok(INVITATIONS, {"s": slug, "pending": True}, owner.token)  # warms the session cache
    counts = {}
    for total in (2, 10):
        await admin_db.execute("delete from organization_invitation where organization_id = $1", org_id)
        for inviter in inviters[:total]:
            await admin_db.execute(
                "insert into organization_invitation (id, organization_id, email, role, expires_at, invited_by_user_id) "
                "values ($1, $2, $3, 'MEMBER', now() + interval '1 day', $4)",
                uuid.uuid4(), org_id, unique_email(), inviter.user_id)
        async with statements(app) as seen:
            listed = (await gql.ok(INVITATIONS, {"s": slug, "pending": True}, owner.token))["organization"]["invitations"]
        assert listed["totalCount"] == total
        assert {n["invitedBy"]["name"] for n in listed["nodes"]} == {f"Inviter {i}" for i in range(total)}
        counts[total] = len(seen)
    assert counts[2] == counts[10], counts
