"""Team management: roles, removal, leaving, ownership transfer and invitations by email.

A change to someone's membership drops that person's cached viewers on every instance (as logout does),
so their very next request has the new permissions. A change to the viewer's own membership answers
with the new state: the rest of the request resolves as the changed viewer (``Context.become``).
"""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.authz import OrgRole, Permission
from codex_graphql.context import Context
from codex_graphql.db import acting_in
from codex_graphql.organizations import invitations, refresh, team
from codex_graphql.organizations.types import Organization, OrganizationInvitation, OrganizationMember
from codex_graphql.payloads import invalid_id, mutation_field
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated
from codex_graphql.relay import decode_id, to_global_id


def _active_organization() -> Any:
    """The optional ``organizationId`` of a team mutation's input: it may only name the active organization."""
    return strawberry.field(
        default=None, description="The organization (must be the active one); default: the active organization.")


def _member() -> Any:
    """The ``memberId`` of a team mutation's input (decoded by ``_member_id``)."""
    return strawberry.field(description="Global id of the `OrganizationMember`.")


@strawberry.input(description="Invite someone by email to the active organization.")
class InviteOrganizationMemberInput:
    email: str = strawberry.field(description="Where the invitation link is sent; case-insensitive.")
    role: OrgRole = strawberry.field(description="Role the person gets on accepting; at most your own.")
    organization_id: strawberry.ID | None = _active_organization()


@strawberry.input(description="A pending invitation of the active organization to withdraw.")
class RevokeOrganizationInvitationInput:
    invitation_id: strawberry.ID = strawberry.field(description="Global id of the `OrganizationInvitation`.")
    organization_id: strawberry.ID | None = _active_organization()


@strawberry.input(description="The token from an invitation link.")
class AcceptOrganizationInvitationInput:
    token: str = strawberry.field(description="The `token` parameter of the link in the invitation email.")


@strawberry.input(description="A member of the active organization and their new role.")
class UpdateOrganizationMemberRoleInput:
    member_id: strawberry.ID = _member()
    role: OrgRole = strawberry.field(description="The new role; at most your own.")
    organization_id: strawberry.ID | None = _active_organization()


@strawberry.input(description="A member of the active organization to remove.")
class RemoveOrganizationMemberInput:
    member_id: strawberry.ID = _member()
    organization_id: strawberry.ID | None = _active_organization()


@strawberry.input(description="An organization the viewer leaves.")
class LeaveOrganizationInput:
    organization_id: strawberry.ID = strawberry.field(description="Global id of an organization you are a member of.")


@strawberry.input(description="The member of the active organization who becomes OWNER.")
class TransferOrganizationOwnershipInput:
    member_id: strawberry.ID = _member()
    organization_id: strawberry.ID | None = _active_organization()


# The payloads' ``organization`` after a change to someone's membership.
AFTER_CHANGE = (Organization, "The organization, seen with the viewer's permissions after the change.")


def _active(ctx: Context, named: strawberry.ID | None = None) -> uuid.UUID:
    """The organization a team mutation acts in: the active one, which ``organizationId`` may name."""
    organization_id = ctx.viewer.active_organization_id
    assert organization_id is not None  # the permission guard checked it
    if named is not None and decode_id(named, "Organization") != organization_id:
        raise invalid_id("organizationId", "organization you manage")
    return organization_id


def _member_id(input: UpdateOrganizationMemberRoleInput | RemoveOrganizationMemberInput
               | TransferOrganizationOwnershipInput) -> uuid.UUID | None:
    return decode_id(input.member_id, "OrganizationMember")


@strawberry.type
class TeamMutations:
    @mutation_field(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Email a single-use invitation link (valid 7 days) to join the active organization with a role "
        "at most your own. Inviting an address again replaces its pending invitation; members cannot be invited.",
        input_description="The organization, the email address to invite and the role the invitation grants.",
        payload={"invitation": (OrganizationInvitation, "The new pending invitation.")},
    )
    async def invite_organization_member(ctx: Context, input: InviteOrganizationMemberInput) -> dict:
        invitation = await invitations.invite(ctx.db, ctx.viewer, _active(ctx, input.organization_id), input.email,
                                              input.role)
        return {"invitation": OrganizationInvitation.from_model(invitation)}

    @mutation_field(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Withdraw a pending invitation of the active organization; its link stops working.",
        input_description="The id of the pending invitation to withdraw, and the organization (default: the "
        "active one).",
        payload={"invitation": (OrganizationInvitation, "The revoked invitation.")},
    )
    async def revoke_organization_invitation(ctx: Context, input: RevokeOrganizationInvitationInput) -> dict:
        invitation = await invitations.revoke(ctx.db, ctx.viewer, _active(ctx, input.organization_id),
                                              decode_id(input.invitation_id, "OrganizationInvitation"))
        return {"invitation": OrganizationInvitation.from_model(invitation)}

    @mutation_field(
        IsAuthenticated(),
        description="Join an organization with the token from an invitation email; the signed-in account must use "
        "the invited address (right after `register` works too). The organization becomes the active one.",
        input_description="The token from the invitation email; the signed-in account joins with the invited role.",
        payload={"member": (OrganizationMember, "The viewer's new membership."),
                 "organization": (Organization, "The organization joined, now the viewer's active one (its "
                                  "restricted fields answer with the new role's permissions).")},
    )
    async def accept_organization_invitation(ctx: Context, input: AcceptOrganizationInvitationInput) -> dict:
        accepted = await invitations.accept(ctx.db, ctx.require_user_id(), input.token)
        organization_id = accepted.membership.organization_id
        await refresh.switch_to(ctx, organization_id)
        return {"member": OrganizationMember.from_model(accepted.membership),
                "organization": await refresh.organization_now(ctx, organization_id)}

    @mutation_field(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Change a member's role in the active organization. Nobody grants or changes a role above "
        "their own, and the last OWNER cannot be demoted (LAST_OWNER).",
        input_description="The member to change, their new role, and the organization (default: the active one).",
        payload={"member": (OrganizationMember, "The member with the new role."), "organization": AFTER_CHANGE},
    )
    async def update_organization_member_role(ctx: Context, input: UpdateOrganizationMemberRoleInput) -> dict:
        organization_id = _active(ctx, input.organization_id)
        member = await team.change_role(ctx.db, ctx.viewer, organization_id, _member_id(input), input.role)
        return {"member": OrganizationMember.from_model(member),
                "organization": await refresh.organization_after_change(ctx, organization_id, member.user_id)}

    @mutation_field(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Remove a member from the active organization; their permissions end with their next request. "
        "Nobody removes someone above them, and the last OWNER cannot be removed (LAST_OWNER).",
        input_description="The member to remove, and the organization (default: the active one).",
        payload={"removed_member_id": (strawberry.ID, "Global id of the removed membership."),
                 "organization": AFTER_CHANGE},
    )
    async def remove_organization_member(ctx: Context, input: RemoveOrganizationMemberInput) -> dict:
        organization_id = _active(ctx, input.organization_id)
        member = await team.remove_member(ctx.db, ctx.viewer, organization_id, _member_id(input))
        return {"removed_member_id": to_global_id("OrganizationMember", member.id),
                "organization": await refresh.organization_after_change(ctx, organization_id, member.user_id)}

    @mutation_field(
        IsAuthenticated(),
        description="Leave an organization you are a member of. The last OWNER cannot leave (LAST_OWNER).",
        input_description="The organization the signed-in account leaves.",
        payload={"removed_member_id": (strawberry.ID, "Global id of the ended membership."),
                 "viewer": (Viewer, "The viewer after leaving (memberships, active organization).")},
    )
    async def leave_organization(ctx: Context, input: LeaveOrganizationInput) -> dict:
        organization_id = decode_id(input.organization_id, "Organization")
        if organization_id is None or ctx.viewer.role_in(organization_id) is None:
            raise invalid_id("organizationId", "organization you are a member of")
        async with acting_in(ctx.db, organization_id):
            member = await team.leave(ctx.db, ctx.viewer, organization_id)
        await refresh.forget_and_refresh(ctx, ctx.require_user_id())
        user = await account_loaders.users(ctx).load(ctx.require_user_id())
        return {"removed_member_id": to_global_id("OrganizationMember", member.id), "viewer": Viewer.from_model(user)}

    @mutation_field(
        HasOrgPermission(Permission.OWNERSHIP_TRANSFER),
        description="Make another member of the active organization OWNER; you become ADMIN.",
        input_description="The member who becomes OWNER in the caller's place, and the organization (default: the "
        "active one).",
        payload={"new_owner": (OrganizationMember, "The member who is OWNER now."),
                 "previous_owner": (OrganizationMember, "The viewer, now ADMIN."), "organization": AFTER_CHANGE},
    )
    async def transfer_organization_ownership(ctx: Context, input: TransferOrganizationOwnershipInput) -> dict:
        organization_id = _active(ctx, input.organization_id)
        new_owner, previous = await team.transfer_ownership(ctx.db, ctx.viewer, organization_id, _member_id(input))
        return {"new_owner": OrganizationMember.from_model(new_owner),
                "previous_owner": OrganizationMember.from_model(previous),
                "organization": await refresh.organization_after_change(ctx, organization_id, new_owner.user_id,
                                                                        previous.user_id)}


__all__ = ["TeamMutations"]
