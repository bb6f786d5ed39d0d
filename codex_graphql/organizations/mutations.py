from __future__ import annotations

import strawberry

from codex_graphql.authz import OrgRole, Permission
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.organizations import refresh, service
from codex_graphql.organizations.types import Organization, OrganizationMember
from codex_graphql.payloads import invalid_id, mutation_field
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated
from codex_graphql.relay import decode_id


@strawberry.input(description="A new organization.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(description="Unique handle: 3-64 lowercase letters, digits, inner hyphens. "
                                "Reserved words get ALREADY_EXISTS; id-shaped slugs (a UUID or a global id) get INVALID_INPUT.")


@strawberry.input(description="Add an existing account to the active organization.")
class AddOrganizationMemberInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization (must be the active one).")
    email: str = strawberry.field(description="Email of an existing account.")
    role: OrgRole = strawberry.field(description="Role to grant; at most your own.")


@strawberry.input(description="Which organization staff actions apply to.")
class SetActiveOrganizationInput:
    organization_id: strawberry.ID = strawberry.field(description="An organization you are a member of.")


@strawberry.type
class OrganizationMutations:
    @mutation_field(
        IsAuthenticated(),
        description="Create an organization; the caller becomes its OWNER and it becomes active. Only the "
        "platform owner may, unless ENABLE_MULTI_ORG lets any verified user.",
        input_description="Name and URL slug of the new organization; the caller becomes its OWNER.",
        payload={"organization": (Organization, "The new organization.")},
    )
    async def create_organization(ctx: Context, input: CreateOrganizationInput) -> dict:
        if not service.may_create_organization(ctx.viewer, ctx.settings):
            raise DomainError(ErrorCode.NOT_ALLOWED, "You may not create organizations on this platform.")
        organization = await service.create_organization(ctx.db, ctx.viewer, input.name, input.slug)
        # The payload answers as the new OWNER (viewerRole, settings) in the new organization's scope.
        await refresh.switch_to(ctx, organization.id)
        return {"organization": Organization.from_model(organization)}

    @mutation_field(
        HasOrgPermission(Permission.MEMBERS_MANAGE),
        description="Add an existing account as a member.",
        input_description="The organization, the registered person's email and the role to give them.",
        payload={"member": (OrganizationMember, "The new membership.")},
    )
    async def add_organization_member(ctx: Context, input: AddOrganizationMemberInput) -> dict:
        organization_id = decode_id(input.organization_id, "Organization")
        if organization_id is None or organization_id != ctx.viewer.active_organization_id:
            raise invalid_id("organizationId", "organization you manage")
        membership = await service.add_member(ctx.db, ctx.viewer, organization_id, input.email, input.role)
        await ctx.forget_viewers(user_id=membership.user_id)
        return {"member": OrganizationMember.from_model(membership)}

    @mutation_field(
        IsAuthenticated(),
        description="Choose the organization staff actions apply to in this session.",
        input_description="The organization (global id) to make this session's active organization; the caller must "
        "be a member of it.",
        payload={"organization": (Organization, "The now active organization.")},
    )
    async def set_active_organization(ctx: Context, input: SetActiveOrganizationInput) -> dict:
        organization_id = decode_id(input.organization_id, "Organization")
        if organization_id is None:
            raise invalid_id("organizationId", "organization")
        await service.set_active(ctx.db, ctx.viewer, organization_id)
        await refresh.forget_and_refresh(ctx, ctx.require_user_id(), active=organization_id)
        return {"organization": await refresh.organization_now(ctx, organization_id)}


__all__ = ["OrganizationMutations"]
