"""The ``Viewer`` type: the signed-in user's own view of their account."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.accounts.models import User as UserModel
from codex_graphql.authz import Permission, PlatformRole
from codex_graphql.organizations import loaders as org_loaders
from codex_graphql.organizations import repository as orgs
from codex_graphql.organizations.types import Organization, OrganizationMember
from codex_graphql.row_types import from_row


# ``purchases`` is commerce's: declared in commerce/viewer_fields.py and placed before ``permissions`` by
# schema assembly (codex_graphql/contributions.py), so this module imports nothing from commerce.
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
        return from_row(cls, user, "User", email_verified=user.email_verified_at is not None, user_id=user.id)

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

    @strawberry.field(description="Permissions the viewer holds in the active organization.")
    def permissions(self, info: strawberry.Info) -> list[Permission]:
        viewer = info.context.viewer
        return sorted(viewer.permissions_in(viewer.active_organization_id))
