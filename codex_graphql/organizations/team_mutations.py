"""Team management: roles, removal, leaving, ownership transfer and invitations by email.

A change to someone's membership drops that person's cached viewers on every instance (as logout does),
so their very next request has the new permissions. A change to the viewer's own membership answers
with the new state: the rest of the request resolves as the changed viewer (``Context.become``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.accounts import current
from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.authz import OrgRole, Permission
from codex_graphql.context import Context
from codex_graphql.db import acting_in
from codex_graphql.errors import UserError
from codex_graphql.organizations import invitations, loaders, team
from codex_graphql.organizations.types import Organization, OrganizationInvitation, OrganizationMember
from codex_graphql.payloads import errors_field, invalid_id, run_mutation
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded_mutation
from codex_graphql.relay import decode_id, to_global_id


@strawberry.input(description="Invite someone by email to the active organization.")
class InviteOrganizationMemberInput:
    email: str = strawberry.field(description="Where the invitation link is sent; case-insensitive.")
    role: OrgRole = strawberry.field(description="Role the person gets on accepting; at most your own.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization (must be the active one); default: the active organization.")


@strawberry.input(description="A pending invitation of the active organization to withdraw.")
class RevokeOrganizationInvitationInput:
    invitation_id: strawberry.ID = strawberry.field(description="Global id of the `OrganizationInvitation`.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization (must be the active one); default: the active organization.")


@strawberry.input(description="The token from an invitation link.")
class AcceptOrganizationInvitationInput:
    token: str = strawberry.field(description="The `token` parameter of the link in the invitation email.")


@strawberry.input(description="A member of the active organization and their new role.")
class UpdateOrganizationMemberRoleInput:
    member_id: strawberry.ID = strawberry.field(description="Global id of the `OrganizationMember`.")
    role: OrgRole = strawberry.field(description="The new role; at most your own.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization (must be the active one); default: the active organization.")


@strawberry.input(description="A member of the active organization to remove.")
class RemoveOrganizationMemberInput:
    member_id: strawberry.ID = strawberry.field(description="Global id of the `OrganizationMember`.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization (must be the active one); default: the active organization.")


@strawberry.input(description="An organization the viewer leaves.")
class LeaveOrganizationInput:
    organization_id: strawberry.ID = strawberry.field(description="Global id of an organization you are a member of.")


@strawberry.input(description="The member of the active organization who becomes OWNER.")
class TransferOrganizationOwnershipInput:
    member_id: strawberry.ID = strawberry.field(description="Global id of the `OrganizationMember`.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization (must be the active one); default: the active organization.")


@strawberry.type(description="Result of inviteOrganizationMember.")
class InviteOrganizationMemberPayload:
    errors: list[UserError] = errors_field()
    invitation: OrganizationInvitation | None = strawberry.field(default=None, description="The new pending invitation.")


@strawberry.type(description="Result of revokeOrganizationInvitation.")
class RevokeOrganizationInvitationPayload:
    errors: list[UserError] = errors_field()
    invitation: OrganizationInvitation | None = strawberry.field(default=None, description="The revoked invitation.")


@strawberry.type(description="Result of acceptOrganizationInvitation.")
class AcceptOrganizationInvitationPayload:
    errors: list[UserError] = errors_field()
    member: OrganizationMember | None = strawberry.field(default=None, description="The viewer's new membership.")
    organization: Organization | None = strawberry.field(
        default=None, description="The organization joined, now the viewer's active one (its restricted fields "
        "answer with the new role's permissions).")


@strawberry.type(description="Result of updateOrganizationMemberRole.")
class UpdateOrganizationMemberRolePayload:
    errors: list[UserError] = errors_field()
    member: OrganizationMember | None = strawberry.field(default=None, description="The member with the new role.")
    organization: Organization | None = strawberry.field(
        default=None, description="The organization, seen with the viewer's permissions after the change.")


@strawberry.type(description="Result of removeOrganizationMember.")
class RemoveOrganizationMemberPayload:
    errors: list[UserError] = errors_field()
    removed_member_id: strawberry.ID | None = strawberry.field(default=None, description="Global id of the removed membership.")
    organization: Organization | None = strawberry.field(
        default=None, description="The organization, seen with the viewer's permissions after the change.")


@strawberry.type(description="Result of leaveOrganization.")
class LeaveOrganizationPayload:
    errors: list[UserError] = errors_field()
    removed_member_id: strawberry.ID | None = strawberry.field(default=None, description="Global id of the ended membership.")
    viewer: Viewer | None = strawberry.field(
        default=None, description="The viewer after leaving (memberships, active organization).")


@strawberry.type(description="Result of transferOrganizationOwnership.")
class TransferOrganizationOwnershipPayload:
    errors: list[UserError] = errors_field()
    new_owner: OrganizationMember | None = strawberry.field(default=None, description="The member who is OWNER now.")
    previous_owner: OrganizationMember | None = strawberry.field(default=None, description="The viewer, now ADMIN.")
    organization: Organization | None = strawberry.field(
        default=None, description="The organization, seen with the viewer's permissions after the change.")


def _active(ctx: Context, named: strawberry.ID | None = None) -> uuid.UUID:
    """The organization a team mutation acts in: the active one, which ``organizationId`` may name."""
    organization_id = ctx.viewer.active_organization_id
    assert organization_id is not None  # the permission guard checked it
    if named is not None and decode_id(named, "Organization") != organization_id:
        raise invalid_id("organizationId", "organization you manage")
    return organization_id


async def _refresh(ctx: Context, *, active: uuid.UUID | None = None) -> None:
    await ctx.become(await current.viewer_now(ctx.db, ctx.viewer, active=active))


async def _organization(ctx: Context, organization_id: uuid.UUID) -> Organization:
    return Organization.from_model(await loaders.organizations(ctx).load(organization_id))


@strawberry.type
class TeamMutations:
    @guarded_mutation(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Email a single-use invitation link (valid 7 days) to join the active organization with a role at "
        "most your own. Inviting an address again replaces its pending invitation; members cannot be invited.",
    )
    async def invite_organization_member(
        self, info: strawberry.Info,
        input: Annotated[InviteOrganizationMemberInput, strawberry.argument(description=(
            "The organization, the email address to invite and the role the invitation grants."
        ))],
    ) -> InviteOrganizationMemberPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = _active(ctx, input.organization_id)
            invitation = await invitations.invite(ctx.db, ctx.viewer, organization_id, input.email, input.role)
            return {"invitation": OrganizationInvitation.from_model(invitation)}

        return await run_mutation(info, InviteOrganizationMemberPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.MEMBERS_MANAGE),
                      description="Withdraw a pending invitation of the active organization; its link stops working.")
    async def revoke_organization_invitation(
        self, info: strawberry.Info,
        input: Annotated[RevokeOrganizationInvitationInput, strawberry.argument(description=(
            "The id of the pending invitation to withdraw, and the organization (default: the "
            "active one)."
        ))],
    ) -> RevokeOrganizationInvitationPayload:
        ctx: Context = info.context

        async def action() -> dict:
            invitation = await invitations.revoke(ctx.db, ctx.viewer, _active(ctx, input.organization_id),
                                                  decode_id(input.invitation_id, "OrganizationInvitation"))
            return {"invitation": OrganizationInvitation.from_model(invitation)}

        return await run_mutation(info, RevokeOrganizationInvitationPayload, action)

    @guarded_mutation(
        IsAuthenticated(),
        description="Join an organization with the token from an invitation email; the signed-in account must use the "
        "invited address (right after `register` works too). The organization becomes the active one.",
    )
    async def accept_organization_invitation(
        self, info: strawberry.Info,
        input: Annotated[AcceptOrganizationInvitationInput, strawberry.argument(description=(
            "The token from the invitation email; the signed-in account joins with the invited "
            "role."
        ))],
    ) -> AcceptOrganizationInvitationPayload:
        ctx: Context = info.context

        async def action() -> dict:
            accepted = await invitations.accept(ctx.db, ctx.require_user_id(), input.token)
            organization_id = accepted.membership.organization_id
            if ctx.viewer.session_id:
                await accounts.set_session_organization(ctx.db, ctx.viewer.session_id, organization_id)
            await ctx.forget_viewers(user_id=ctx.require_user_id())
            await _refresh(ctx, active=organization_id)
            return {"member": OrganizationMember.from_model(accepted.membership),
                    "organization": await _organization(ctx, organization_id)}

        return await run_mutation(info, AcceptOrganizationInvitationPayload, action)

    @guarded_mutation(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Change a member's role in the active organization. Nobody grants or changes a role above their "
        "own, and the last OWNER cannot be demoted (LAST_OWNER).",
    )
    async def update_organization_member_role(
        self, info: strawberry.Info,
        input: Annotated[UpdateOrganizationMemberRoleInput, strawberry.argument(description=(
            "The member to change, their new role, and the organization (default: the active "
            "one)."
        ))],
    ) -> UpdateOrganizationMemberRolePayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = _active(ctx, input.organization_id)
            member = await team.change_role(ctx.db, ctx.viewer, organization_id,
                                            decode_id(input.member_id, "OrganizationMember"), input.role)
            await ctx.forget_viewers(user_id=member.user_id)
            await _refresh(ctx)
            return {"member": OrganizationMember.from_model(member), "organization": await _organization(ctx, organization_id)}

        return await run_mutation(info, UpdateOrganizationMemberRolePayload, action)

    @guarded_mutation(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Remove a member from the active organization; their permissions end with their next request. "
        "Nobody removes someone above them, and the last OWNER cannot be removed (LAST_OWNER).",
    )
    async def remove_organization_member(
        self, info: strawberry.Info,
        input: Annotated[RemoveOrganizationMemberInput, strawberry.argument(description=(
            "The member to remove, and the organization (default: the active one)."
        ))],
    ) -> RemoveOrganizationMemberPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = _active(ctx, input.organization_id)
            member = await team.remove_member(ctx.db, ctx.viewer, organization_id,
                                              decode_id(input.member_id, "OrganizationMember"))
            await ctx.forget_viewers(user_id=member.user_id)
            await _refresh(ctx)
            return {"removed_member_id": to_global_id("OrganizationMember", member.id),
                    "organization": await _organization(ctx, organization_id)}

        return await run_mutation(info, RemoveOrganizationMemberPayload, action)

    @guarded_mutation(IsAuthenticated(),
                      description="Leave an organization you are a member of. The last OWNER cannot leave (LAST_OWNER).")
    async def leave_organization(
        self, info: strawberry.Info,
        input: Annotated[LeaveOrganizationInput, strawberry.argument(description=(
            "The organization the signed-in account leaves."
        ))],
    ) -> LeaveOrganizationPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = decode_id(input.organization_id, "Organization")
            if organization_id is None or ctx.viewer.role_in(organization_id) is None:
                raise invalid_id("organizationId", "organization you are a member of")
            async with acting_in(ctx.db, organization_id):
                member = await team.leave(ctx.db, ctx.viewer, organization_id)
            await ctx.forget_viewers(user_id=ctx.require_user_id())
            await _refresh(ctx)
            user = await account_loaders.users(ctx).load(ctx.require_user_id())
            return {"removed_member_id": to_global_id("OrganizationMember", member.id), "viewer": Viewer.from_model(user)}

        return await run_mutation(info, LeaveOrganizationPayload, action)

    @guarded_mutation(
        HasOrgPermission(Permission.OWNERSHIP_TRANSFER),
        description="Make another member of the active organization OWNER; you become ADMIN.",
    )
    async def transfer_organization_ownership(
        self, info: strawberry.Info,
        input: Annotated[TransferOrganizationOwnershipInput, strawberry.argument(description=(
            "The member who becomes OWNER in the caller's place, and the organization (default: "
            "the active one)."
        ))],
    ) -> TransferOrganizationOwnershipPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = _active(ctx, input.organization_id)
            new_owner, previous = await team.transfer_ownership(
                ctx.db, ctx.viewer, organization_id, decode_id(input.member_id, "OrganizationMember"))
            await ctx.forget_viewers(user_id=new_owner.user_id)
            await ctx.forget_viewers(user_id=previous.user_id)
            await _refresh(ctx)
            return {"new_owner": OrganizationMember.from_model(new_owner),
                    "previous_owner": OrganizationMember.from_model(previous),
                    "organization": await _organization(ctx, organization_id)}

        return await run_mutation(info, TransferOrganizationOwnershipPayload, action)


__all__ = ["TeamMutations"]
