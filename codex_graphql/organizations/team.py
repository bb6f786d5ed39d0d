"""Team rules: changing roles, removing members, leaving, transferring ownership.

Every change first locks the organization's OWNER rows (``repository.lock_owners``), so changes in one
organization are serialized and decided on committed state: nobody acts above their own role (read
fresh after the lock, not from the cached viewer) and an organization always keeps one OWNER.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.authz import ROLE_RANK, OrgRole, Viewer
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.organizations import repository
from codex_graphql.organizations.models import OrganizationMembership


def _not_found(field: str = "memberId") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No member of this organization has this id.", field)


def _last_owner(field: str = "memberId") -> DomainError:
    return DomainError(
        ErrorCode.LAST_OWNER,
        "An organization keeps at least one OWNER: make someone else OWNER first (transferOrganizationOwnership).",
        field,
    )


async def _locked(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID,
                  membership_id: uuid.UUID | None) -> tuple[list[OrganizationMembership], OrganizationMembership, OrgRole]:
    """Lock the owners, then the target; the actor's role as committed now."""
    owners = await repository.lock_owners(session, organization_id)
    target = await repository.lock_membership(session, organization_id, membership_id) if membership_id else None
    if target is None:
        raise _not_found()
    assert viewer.user_id is not None
    actor = await repository.membership(session, organization_id, viewer.user_id, fresh=True)
    if actor is None:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You are no longer a member of this organization.")
    return owners, target, actor.role


def _facts(membership: OrganizationMembership) -> dict[str, str]:
    return {"userId": str(membership.user_id), "role": membership.role.value}


async def change_role(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID,
                      membership_id: uuid.UUID | None, role: OrgRole) -> OrganizationMembership:
    owners, target, actor_role = await _locked(session, viewer, organization_id, membership_id)
    if ROLE_RANK[role] > ROLE_RANK[actor_role]:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You cannot grant a role above your own.", "role")
    if ROLE_RANK[target.role] > ROLE_RANK[actor_role]:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You cannot change the role of someone above you.", "memberId")
    if target.role is role:
        return target
    if target.role is OrgRole.OWNER and len(owners) <= 1:
        raise _last_owner()
    before = _facts(target)
    target.role = role
    await session.flush()
    events.emit(session, "organization.member_role_changed",
                {"organizationId": str(organization_id), "userId": str(target.user_id), "role": role.value}, organization_id)
    await audit.record(session, audit.AuditAction.MEMBER_ROLE_CHANGED, organization_id=organization_id,
                       target_type="OrganizationMember", target_id=target.id, before=before, after=_facts(target))
    return target


async def remove_member(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID,
                        membership_id: uuid.UUID | None) -> OrganizationMembership:
    owners, target, actor_role = await _locked(session, viewer, organization_id, membership_id)
    if ROLE_RANK[target.role] > ROLE_RANK[actor_role]:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You cannot remove someone above you.", "memberId")
    if target.role is OrgRole.OWNER and len(owners) <= 1:
        raise _last_owner()
    await _delete(session, organization_id, target, audit.AuditAction.MEMBER_REMOVED)
    return target


async def leave(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID) -> OrganizationMembership:
    """The viewer leaves; the caller has switched the scope to that organization."""
    assert viewer.user_id is not None
    owners = await repository.lock_owners(session, organization_id)
    mine = await repository.membership(session, organization_id, viewer.user_id, fresh=True)
    if mine is None:
        raise DomainError(ErrorCode.NOT_FOUND, "You are not a member of this organization.", "organizationId")
    if mine.role is OrgRole.OWNER and len(owners) <= 1:
        raise _last_owner("organizationId")
    await _delete(session, organization_id, mine, audit.AuditAction.MEMBER_LEFT)
    return mine


async def _delete(session: AsyncSession, organization_id: uuid.UUID, membership: OrganizationMembership,
                  action: audit.AuditAction) -> None:
    await repository.delete_membership(session, organization_id, membership.id)
    events.emit(session, "organization.member_removed",
                {"organizationId": str(organization_id), "userId": str(membership.user_id)}, organization_id)
    await audit.record(session, action, organization_id=organization_id, target_type="OrganizationMember",
                       target_id=membership.id, before=_facts(membership))


async def transfer_ownership(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID,
                             membership_id: uuid.UUID | None) -> tuple[OrganizationMembership, OrganizationMembership]:
    """The target becomes OWNER and the acting owner ADMIN. Returns (new owner, previous owner)."""
    _, target, actor_role = await _locked(session, viewer, organization_id, membership_id)
    if actor_role is not OrgRole.OWNER:
        raise DomainError(ErrorCode.NOT_ALLOWED, "Only an OWNER can transfer ownership.")
    assert viewer.user_id is not None
    if target.user_id == viewer.user_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "Choose another member: you are the OWNER already.", "memberId")
    previous = await repository.membership(session, organization_id, viewer.user_id)
    assert previous is not None
    before = {"newOwner": _facts(target), "previousOwner": _facts(previous)}
    target.role = OrgRole.OWNER
    previous.role = OrgRole.ADMIN
    await session.flush()
    events.emit(session, "organization.ownership_transferred",
                {"organizationId": str(organization_id), "from": str(previous.user_id), "to": str(target.user_id)},
                organization_id)
    await audit.record(session, audit.AuditAction.OWNERSHIP_TRANSFERRED, organization_id=organization_id,
                       target_type="OrganizationMember", target_id=target.id, before=before,
                       after={"newOwner": _facts(target), "previousOwner": _facts(previous)})
    return target, previous
