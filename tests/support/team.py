"""Shared by the team tests (roles, invitations, payloads): documents, state snapshots, tokens."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import uuid
from typing import Any

import asyncpg

from codex_graphql.relay import to_global_id

INVITE = """
mutation($e: String!, $r: OrgRole!, $o: ID) {
  inviteOrganizationMember(input: {email: $e, role: $r, organizationId: $o}) {
    invitation { id email role status expiresAt invitedBy { name } }
    errors { code field message }
  }
}"""
REVOKE = """
mutation($id: ID!, $o: ID) {
  revokeOrganizationInvitation(input: {invitationId: $id, organizationId: $o}) { invitation { id status } errors { code field message } }
}"""
ACCEPT = """
mutation($t: String!) {
  acceptOrganizationInvitation(input: {token: $t}) {
    member { id role email }
    organization { slug viewerRole viewerPermissions members { totalCount } }
    errors { code field message }
  }
}"""
UPDATE_ROLE = """
mutation($m: ID!, $r: OrgRole!, $o: ID) {
  updateOrganizationMemberRole(input: {memberId: $m, role: $r, organizationId: $o}) {
    member { id role }
    organization { slug viewerRole viewerPermissions }
    errors { code field message }
  }
}"""
REMOVE = """
mutation($m: ID!, $o: ID) {
  removeOrganizationMember(input: {memberId: $m, organizationId: $o}) {
    removedMemberId organization { slug viewerRole } errors { code field message }
  }
}"""
LEAVE = """
mutation($o: ID!) {
  leaveOrganization(input: {organizationId: $o}) {
    removedMemberId
    viewer { memberships { role organization { slug } } activeOrganization { slug } permissions }
    errors { code field message }
  }
}"""
TRANSFER = """
mutation($m: ID!, $o: ID) {
  transferOrganizationOwnership(input: {memberId: $m, organizationId: $o}) {
    newOwner { role email } previousOwner { role email }
    organization { slug viewerRole viewerPermissions }
    errors { code field message }
  }
}"""
INVITATIONS = """
query($s: String!, $pending: Boolean) {
  organization(slug: $s) {
    invitations(first: 10, pendingOnly: $pending) { totalCount nodes { id email role status invitedBy { name } } }
  }
}"""
PERMISSIONS = "{ viewer { activeOrganization { slug } permissions memberships { role organization { slug } } } }"
INVITATION_LINK = re.compile(r"http://testserver/invitations/accept\?token=([A-Za-z0-9_\-]+)")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def member_id(admin_db: asyncpg.Connection, org_id: uuid.UUID, user_id: uuid.UUID) -> str:
    row_id = await admin_db.fetchval(
        "select id from organization_membership where organization_id = $1 and user_id = $2", org_id, user_id)
    assert row_id is not None
    return to_global_id("OrganizationMember", row_id)


async def roles(admin_db: asyncpg.Connection, org_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await admin_db.fetch("select user_id, role from organization_membership where organization_id = $1", org_id)
    return {r["user_id"]: r["role"] for r in rows}


async def team_state(admin_db: asyncpg.Connection, org_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything a refused team mutation must leave as it was in one organization."""
    return (
        tuple(await admin_db.fetch(
            "select id, user_id, role from organization_membership where organization_id = $1 order by id", org_id)),
        tuple(await admin_db.fetch(
            "select id, email, role, token_hash, accepted_at, revoked_at, expires_at from organization_invitation "
            "where organization_id = $1 order by id", org_id)),
        await admin_db.fetchval("select count(*) from audit_log_entry where organization_id = $1", org_id),
        await admin_db.fetchval("select count(*) from outbox_message where organization_id = $1", org_id),
    )


async def mint_token(admin_db: asyncpg.Connection, invitation_global_id: str) -> str:
    """What the mail job does, for tests about accepting: a random token whose hash is stored."""
    from codex_graphql.relay import decode_id

    token = secrets.token_urlsafe(32)
    invitation_id = decode_id(invitation_global_id, "OrganizationInvitation")
    await admin_db.execute("update organization_invitation set token_hash = $1 where id = $2", sha256(token), invitation_id)
    return token


async def invite(gql: Any, token: str, email: str, role: str = "MEMBER") -> dict[str, Any]:
    data = await gql.ok(INVITE, {"e": email, "r": role}, token)
    return data["inviteOrganizationMember"]["invitation"]


async def invitation_jobs(admin_db: asyncpg.Connection) -> list[tuple[str, dict[str, Any]]]:
    rows = await admin_db.fetch(
        "select id, payload from outbox_message where kind = 'job' and topic = 'send_invitation_email' "
        "order by created_at, id")
    return [(str(r["id"]), json.loads(r["payload"])) for r in rows]


async def run_invitation_job(job_id: str, payload: dict[str, Any]) -> None:
    """What a Dramatiq worker thread does with the message (needs the ``email_jobs`` fixture's loop thread)."""
    from workers import actors

    await asyncio.to_thread(actors.send_invitation_email.fn, job_id=job_id, **payload)
