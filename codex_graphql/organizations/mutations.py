from __future__ import annotations

from typing import Annotated

import strawberry

from codex_graphql.accounts import current
from codex_graphql.accounts import repository as accounts
from codex_graphql.authz import OrgRole, Permission
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.organizations import loaders, service
from codex_graphql.organizations.types import Organization, OrganizationMember
from codex_graphql.payloads import errors_field, invalid_id, run_mutation
from codex_graphql.permissions import HasOrgPermission, IsAuthenticated, guarded_mutation
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


@strawberry.type(description="Result of createOrganization.")
class CreateOrganizationPayload:
    errors: list[UserError] = errors_field()
    organization: Organization | None = strawberry.field(default=None, description="The new organization.")


@strawberry.type(description="Result of addOrganizationMember.")
class AddOrganizationMemberPayload:
    errors: list[UserError] = errors_field()
    member: OrganizationMember | None = strawberry.field(default=None, description="The new membership.")


@strawberry.type(description="Result of setActiveOrganization.")
class SetActiveOrganizationPayload:
    errors: list[UserError] = errors_field()
    organization: Organization | None = strawberry.field(default=None, description="The now active organization.")


@strawberry.type
class OrganizationMutations:
    @guarded_mutation(
        IsAuthenticated(),
        description="Create an organization; the caller becomes its OWNER and it becomes active. Only the "
        "platform owner may, unless ENABLE_MULTI_ORG lets any verified user.",
    )
    async def create_organization(
        self, info: strawberry.Info,
        input: Annotated[CreateOrganizationInput, strawberry.argument(description=(
            "Name and URL slug of the new organization; the caller becomes its OWNER."
        ))],
    ) -> CreateOrganizationPayload:
        ctx: Context = info.context

        async def action() -> dict:
            if not service.may_create_organization(ctx.viewer, ctx.settings):
                raise DomainError(ErrorCode.NOT_ALLOWED, "You may not create organizations on this platform.")
            organization = await service.create_organization(ctx.db, ctx.viewer, input.name, input.slug)
            if ctx.viewer.session_id:
                await accounts.set_session_organization(ctx.db, ctx.viewer.session_id, organization.id)
            await ctx.forget_viewers(user_id=ctx.require_user_id())
            # The payload answers as the new OWNER (viewerRole, settings) in the new organization's scope.
            await ctx.become(await current.viewer_now(ctx.db, ctx.viewer, active=organization.id))
            return {"organization": Organization.from_model(organization)}

        return await run_mutation(info, CreateOrganizationPayload, action)

    @guarded_mutation(HasOrgPermission(Permission.MEMBERS_MANAGE), description="Add an existing account as a member.")
    async def add_organization_member(
        self, info: strawberry.Info,
        input: Annotated[AddOrganizationMemberInput, strawberry.argument(description=(
            "The organization, the registered person's email and the role to give them."
        ))],
    ) -> AddOrganizationMemberPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = decode_id(input.organization_id, "Organization")
            if organization_id is None or organization_id != ctx.viewer.active_organization_id:
                raise invalid_id("organizationId", "organization you manage")
            membership = await service.add_member(ctx.db, ctx.viewer, organization_id, input.email, input.role)
            await ctx.forget_viewers(user_id=membership.user_id)
            return {"member": OrganizationMember.from_model(membership)}

        return await run_mutation(info, AddOrganizationMemberPayload, action)

    @guarded_mutation(IsAuthenticated(), description="Choose the organization staff actions apply to in this session.")
    async def set_active_organization(
        self, info: strawberry.Info,
        input: Annotated[SetActiveOrganizationInput, strawberry.argument(description=(
            "The organization (global id) to make this session's active organization; the caller "
            "must be a member of it."
        ))],
    ) -> SetActiveOrganizationPayload:
        ctx: Context = info.context

        async def action() -> dict:
            organization_id = decode_id(input.organization_id, "Organization")
            if organization_id is None:
                raise invalid_id("organizationId", "organization")
            await service.set_active(ctx.db, ctx.viewer, organization_id)
            await ctx.forget_viewers(user_id=ctx.require_user_id())
            await ctx.become(await current.viewer_now(ctx.db, ctx.viewer, active=organization_id))
            organization = await loaders.organizations(ctx).load(organization_id)
            return {"organization": Organization.from_model(organization)}

        return await run_mutation(info, SetActiveOrganizationPayload, action)


__all__ = ["OrganizationMutations"]
