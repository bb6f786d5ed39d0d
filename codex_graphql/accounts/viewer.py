"""The ``Viewer`` type: the signed-in user's own view of their account."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from codex_graphql.accounts.models import User as UserModel
from codex_graphql.authz import Permission, PlatformRole
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.organizations import loaders as org_loaders
from codex_graphql.organizations import repository as orgs
from codex_graphql.organizations.types import Organization, OrganizationMember
from codex_graphql.relay import Connection, to_global_id

if TYPE_CHECKING:
    from codex_graphql.commerce.types import Purchase


@strawberry.type(description="The signed-in user, with private account details and organization context.")
class Viewer:
    id: strawberry.ID = strawberry.field(description="Global id of the user (type `User`).")
    email: str = strawberry.field(description="Sign-in email address.")
    name: str = strawberry.field(description="Display name.")
    email_verified: bool = strawberry.field(description="Whether the email address has been confirmed.")
    platform_role: PlatformRole = strawberry.field(description="Platform-wide role.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, user: UserModel) -> Viewer:
        return cls(
            id=to_global_id("User", user.id),
            email=user.email,
            name=user.name,
            email_verified=user.email_verified_at is not None,
            platform_role=user.platform_role,
            created_at=user.created_at,
            user_id=user.id,
        )

    @strawberry.field(description="The viewer's memberships in every organization.")
    async def memberships(self, info: strawberry.Info) -> list[OrganizationMember]:
        rows = await orgs.memberships_of_user(info.context.db, self.user_id)
        return [OrganizationMember.from_model(m) for m, _ in rows]

    @strawberry.field(description="Organizations the viewer may act in (those they are a member of).")
    async def available_organizations(self, info: strawberry.Info) -> list[Organization]:
        rows = await orgs.memberships_of_user(info.context.db, self.user_id)
        return [Organization.from_model(o) for _, o in rows]

    @strawberry.field(
        description="The organization staff actions apply to: set with `setActiveOrganization` or per request "
        "with the `X-Codex-Organization` header (id or slug)."
    )
    async def active_organization(self, info: strawberry.Info) -> Organization | None:
        org_id = info.context.viewer.active_organization_id
        if org_id is None:
            return None
        organization = await org_loaders.organizations(info.context).load(org_id)
        return Organization.from_model(organization) if organization else None

    @strawberry.field(description="The viewer's purchases in every organization, newest first.")
    async def purchases(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None
    ) -> Connection[Annotated[Purchase, strawberry.lazy("codex_graphql.commerce.types")]]:
        from codex_graphql.commerce import (
            queries as commerce_queries,  # commerce types refer back to accounts
        )

        return await commerce_queries.viewer_purchases(info, self.user_id, first, after)

    @strawberry.field(description="Permissions the viewer holds in the active organization.")
    def permissions(self, info: strawberry.Info) -> list[Permission]:
        viewer = info.context.viewer
        return sorted(viewer.permissions_in(viewer.active_organization_id))
