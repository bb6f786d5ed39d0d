from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.context import Context
from codex_graphql.organizations import loaders, repository
from codex_graphql.organizations.types import Organization, OrganizationInvitation, OrganizationMember
from codex_graphql.relay import register_node


@strawberry.type
class OrganizationQueries:
    @strawberry.field(description="An organization by its slug; its public face is readable by anyone.")
    async def organization(
        self, info: strawberry.Info,
        slug: Annotated[str, strawberry.argument(
            description="The organization's URL slug, e.g. `acme-studio`; matched case-insensitively, surrounding "
            "spaces ignored. Unknown slugs return null.")],
    ) -> Organization | None:
        organization = await repository.by_slug(info.context.db, slug.strip().lower())
        if organization is None:
            return None
        # Fields below it that load their organization by id (analytics: its time zone) find it loaded.
        loaders.organizations(info.context).prime(organization.id, organization)
        return Organization.from_model(organization)


@register_node("Organization")
async def _organization_node(ctx: Context, id_: uuid.UUID) -> Organization | None:
    organization = await loaders.organizations(ctx).load(id_)
    return Organization.from_model(organization) if organization else None


@register_node("OrganizationMember")
async def _member_node(ctx: Context, id_: uuid.UUID) -> OrganizationMember | None:
    membership = await repository.membership_by_id(ctx.db, id_)
    if membership is None or not ctx.viewer.owns_or_can(membership.user_id, Permission.MEMBERS_READ,
                                                        membership.organization_id):
        return None
    return OrganizationMember.from_model(membership)


@register_node("OrganizationInvitation")
async def _invitation_node(ctx: Context, id_: uuid.UUID) -> OrganizationInvitation | None:
    invitation = await repository.invitation_by_id(ctx.db, id_)
    if invitation is None or not ctx.viewer.can(Permission.MEMBERS_READ, invitation.organization_id):
        return None
    return OrganizationInvitation.from_model(invitation)
