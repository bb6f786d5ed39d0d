"""Invitations by email: invite, revoke, accept, and the mail that carries the link.

The link's token is random and exists in clear only in the mail: the mail job mints it and stores
its SHA-256 on the invitation (a retried job mints a new one and the previous link stops working).
An invitation is pending until accepted, revoked (inviting the address again revokes the old one) or
past ``expires_at``. Accepting locks the row, so two concurrent accepts make one membership.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts.security import new_token, token_hash
from codex_graphql.accounts.service import normalize_email
from codex_graphql.authz import ROLE_RANK, OrgRole, Viewer
from codex_graphql.db import TenantScope, rescope, scope_of, utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.mail import Mail, templates
from codex_graphql.organizations import repository
from codex_graphql.organizations.models import Organization, OrganizationInvitation, OrganizationMembership
from codex_graphql.savepoints import add_unique
from codex_graphql.settings import Settings

INVITATION_TTL = timedelta(days=7)
INVITATION_EMAIL_ACTOR = "send_invitation_email"


def is_pending(invitation: OrganizationInvitation) -> bool:
    return invitation.accepted_at is None and invitation.revoked_at is None and invitation.expires_at > utcnow()


async def _actor_role(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID) -> OrgRole:
    assert viewer.user_id is not None
    mine = await repository.membership(session, organization_id, viewer.user_id, fresh=True)
    if mine is None:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You are no longer a member of this organization.")
    return mine.role


async def invite(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, email: str,
                 role: OrgRole) -> OrganizationInvitation:
    email = normalize_email(email)
    if ROLE_RANK[role] > ROLE_RANK[await _actor_role(session, viewer, organization_id)]:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You cannot invite with a role above your own.", "role")
    user = await accounts.user_by_email(session, email)
    if user is not None and await repository.membership(session, organization_id, user.id):
        raise DomainError(ErrorCode.ALREADY_EXISTS, "This person is already a member.", "email")
    replaced = await repository.lock_pending_invitation(session, organization_id, email)
    if replaced is not None:
        replaced.revoked_at = utcnow()
        await session.flush()
    invitation = OrganizationInvitation(
        organization_id=organization_id, email=email, role=role, expires_at=utcnow() + INVITATION_TTL,
        invited_by_user_id=viewer.user_id,
    )
    await add_unique(session, invitation,  # refused when a concurrent invitation of the address committed first
                     DomainError(ErrorCode.CONFLICT, "This address was invited at the same moment; try again.", "email"))
    events.enqueue(session, INVITATION_EMAIL_ACTOR, organization_id, invitation_id=str(invitation.id),
                   organization=str(organization_id))
    await audit.record(session, audit.AuditAction.MEMBER_INVITED, organization_id=organization_id,
                       target_type="OrganizationInvitation", target_id=invitation.id,
                       before={"replacedInvitationId": str(replaced.id)} if replaced else None,
                       after={"email": email, "role": role.value, "expiresAt": invitation.expires_at.isoformat()})
    return invitation


async def revoke(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID,
                 invitation_id: uuid.UUID | None) -> OrganizationInvitation:
    invitation = await repository.lock_invitation(session, organization_id, invitation_id) if invitation_id else None
    if invitation is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No invitation of this organization has this id.", "invitationId")
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "This invitation was already accepted or revoked.", "invitationId")
    if ROLE_RANK[invitation.role] > ROLE_RANK[await _actor_role(session, viewer, organization_id)]:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You cannot revoke an invitation to a role above your own.",
                          "invitationId")
    invitation.revoked_at = utcnow()
    await session.flush()
    await audit.record(session, audit.AuditAction.INVITATION_REVOKED, organization_id=organization_id,
                       target_type="OrganizationInvitation", target_id=invitation.id,
                       before={"email": invitation.email, "role": invitation.role.value})
    return invitation


@dataclass(frozen=True, slots=True)
class Accepted:
    membership: OrganizationMembership
    invitation: OrganizationInvitation


async def accept(session: AsyncSession, user_id: uuid.UUID, token: str) -> Accepted:
    """Make the account a member with the invited role. On success the transaction is left in the
    organization's scope (the caller then makes it the viewer's active organization)."""
    found = await repository.invitation_by_token_hash(session, token_hash(token.strip()))
    if found is None:
        raise DomainError(ErrorCode.INVALID_TOKEN, "This invitation link is not valid.", "token")
    organization_id = found.organization_id
    previous = scope_of(session)
    await rescope(session, TenantScope(user_id=user_id, organization_id=organization_id))
    try:
        return await _accept_locked(session, user_id, organization_id, found.id)
    except BaseException:
        await rescope(session, previous)
        raise


async def _accept_locked(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID,
                         invitation_id: uuid.UUID) -> Accepted:
    invitation = await repository.lock_invitation(session, organization_id, invitation_id)
    if invitation is None or invitation.revoked_at is not None:
        raise DomainError(ErrorCode.INVALID_TOKEN, "This invitation was withdrawn.", "token")
    if invitation.accepted_at is not None:
        raise DomainError(ErrorCode.INVALID_TOKEN, "This invitation has already been used.", "token")
    if invitation.expires_at <= utcnow():
        raise DomainError(ErrorCode.EXPIRED_TOKEN, "This invitation has expired; ask for a new one.", "token")
    user = await accounts.user_by_id(session, user_id)
    if user is None or user.email != invitation.email:
        raise DomainError(ErrorCode.NOT_ALLOWED, "This invitation was sent to another email address; sign in "
                          "with that address to accept it.", "token")
    if await repository.membership(session, organization_id, user_id, fresh=True):
        raise DomainError(ErrorCode.ALREADY_EXISTS, "You are already a member of this organization.", "token")
    membership = OrganizationMembership(organization_id=organization_id, user_id=user_id, role=invitation.role)
    await add_unique(session, membership,
                     DomainError(ErrorCode.ALREADY_EXISTS, "You are already a member of this organization.", "token"))
    invitation.accepted_at = utcnow()
    invitation.accepted_by_user_id = user_id
    await session.flush()
    events.emit(session, "organization.member_added",
                {"organizationId": str(organization_id), "userId": str(user_id), "role": invitation.role.value},
                organization_id)
    await audit.record(session, audit.AuditAction.INVITATION_ACCEPTED, organization_id=organization_id,
                       target_type="OrganizationMember", target_id=membership.id, actor_user_id=user_id,
                       after={"userId": str(user_id), "email": user.email, "role": invitation.role.value,
                              "invitationId": str(invitation.id)})
    return Accepted(membership=membership, invitation=invitation)


async def invitation_mail(session: AsyncSession, settings: Settings, organization_id: uuid.UUID,
                          invitation_id: uuid.UUID, token: str | None = None) -> Mail | None:
    """For the mail job (in the organization's scope): mint the token, store its hash, build the mail.
    None when the invitation is no longer pending (revoked, replaced, accepted or expired)."""
    invitation = await repository.lock_invitation(session, organization_id, invitation_id)
    if invitation is None or not is_pending(invitation):
        return None
    organization: Organization | None = await repository.by_id(session, organization_id)
    if organization is None:
        return None
    inviter = await accounts.user_by_id(session, invitation.invited_by_user_id) if invitation.invited_by_user_id else None
    token = token or new_token()  # given: the mail job's token, the same in its build and in its record
    invitation.token_hash = token_hash(token)
    await session.flush()
    link = f"{settings.link_base}/invitations/accept?token={token}"
    days = max(1, round((invitation.expires_at - utcnow()).total_seconds() / 86400))
    return templates.organization_invitation(
        invitation.email, organization.name, (inviter.name or inviter.email) if inviter else "", invitation.role.value,
        link, days,
    )
