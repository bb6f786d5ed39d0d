from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.authz import OrgRole, Permission
from codex_graphql.content.queries import ContentFilter, organization_contents
from codex_graphql.content.types import AfterArg, Content, FirstArg
from codex_graphql.org_settings import service as org_settings
from codex_graphql.org_settings.types import (
    Branding,
    OrganizationSettings,
    Policies,
    branding_of,
    policies_of,
)
from codex_graphql.organizations import loaders, repository
from codex_graphql.organizations.models import Organization as OrganizationModel
from codex_graphql.organizations.models import OrganizationInvitation as InvitationModel
from codex_graphql.organizations.models import OrganizationMembership
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection, Node, build_connection, check_first
from codex_graphql.row_types import from_row


@strawberry.type(description="A person's role in an organization.")
class OrganizationMember(Node):
    role: OrgRole = strawberry.field(description="Role, which decides the member's permissions.")
    created_at: datetime = strawberry.field(description="When the person joined.")
    user_id: strawberry.Private[uuid.UUID]
    organization_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, membership: OrganizationMembership) -> OrganizationMember:
        return from_row(cls, membership, "OrganizationMember")

    @strawberry.field(description="The member's account.")
    async def user(self, info: strawberry.Info) -> User:
        user = await account_loaders.users(info.context).load(self.user_id)
        return User.from_model(user)

    @strawberry.field(description="The member's email address (visible to the member and to staff who can list members).")
    async def email(self, info: strawberry.Info) -> str:
        user = await account_loaders.users(info.context).load(self.user_id)
        return user.email

    @strawberry.field(description="The organization.")
    async def organization(self, info: strawberry.Info) -> Organization:
        return Organization.from_model(await loaders.organizations(info.context).load(self.organization_id))


@strawberry.enum(description="Where an invitation stands.")
class OrganizationInvitationStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Sent and usable: not accepted, revoked or expired.")
    ACCEPTED = strawberry.enum_value("ACCEPTED", description="Used: the invited person joined.")
    REVOKED = strawberry.enum_value("REVOKED", description="Withdrawn by staff, or replaced by a newer invitation.")
    EXPIRED = strawberry.enum_value("EXPIRED", description="Not used before `expiresAt`.")


@strawberry.type(description="An email invitation to join an organization with a role (a single-use link, 7 days).")
class OrganizationInvitation(Node):
    email: str = strawberry.field(description="The invited address; only an account with it can accept.")
    role: OrgRole = strawberry.field(description="Role the person gets on accepting.")
    status: OrganizationInvitationStatus = strawberry.field(description="Pending, accepted, revoked or expired.")
    created_at: datetime = strawberry.field(description="When it was sent.")
    expires_at: datetime = strawberry.field(description="After this instant the link no longer works.")
    accepted_at: datetime | None = strawberry.field(description="When it was accepted; null otherwise.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked or replaced; null otherwise.")
    invited_by_user_id: strawberry.Private[uuid.UUID | None]
    organization_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: InvitationModel) -> OrganizationInvitation:
        if row.accepted_at is not None:
            status = OrganizationInvitationStatus.ACCEPTED
        elif row.revoked_at is not None:
            status = OrganizationInvitationStatus.REVOKED
        elif row.expires_at <= datetime.now(row.expires_at.tzinfo):
            status = OrganizationInvitationStatus.EXPIRED
        else:
            status = OrganizationInvitationStatus.PENDING
        return from_row(cls, row, "OrganizationInvitation", status=status)

    @strawberry.field(description="Who sent it; null when that account was deleted.")
    async def invited_by(self, info: strawberry.Info) -> User | None:
        if self.invited_by_user_id is None:
            return None
        user = await account_loaders.users(info.context).load(self.invited_by_user_id)
        return User.from_model(user) if user else None


# Fields other domains own (purchases, creatorEarnings, analytics, customers, auditLog) are declared there
# (commerce/, analytics/, audit/ ``organization_fields.py``) and placed before ``members`` by schema
# assembly (codex_graphql/contributions.py): this module imports none of those domains.
@strawberry.type(description="A business that sells content on the platform. Name and slug are public.")
class Organization(Node):
    slug: str = strawberry.field(description="URL-safe unique handle, e.g. `acme-films`.")
    name: str = strawberry.field(description="Display name.")
    created_at: datetime = strawberry.field(description="When the organization was created.")
    organization_id: strawberry.Private[uuid.UUID]
    row: strawberry.Private[OrganizationModel | None] = None

    @classmethod
    def from_model(cls, organization: OrganizationModel) -> Organization:
        return from_row(cls, organization, "Organization", organization_id=organization.id, row=organization)

    async def _settings_document(self, info: strawberry.Info):  # type: ignore[no-untyped-def]
        row = self.row if self.row is not None else await loaders.organizations(info.context).load(self.organization_id)
        return org_settings.document(row)

    @guarded(HasOrgPermission(Permission.SETTINGS_MANAGE),
             description="Every setting, including private business details (legal name, contact email).")
    async def settings(self, info: strawberry.Info) -> OrganizationSettings | None:
        return OrganizationSettings.from_document(await self._settings_document(info))

    @strawberry.field(description="How the storefront looks: platform name, logo, primary color and palette. Public.")
    async def branding(self, info: strawberry.Info) -> Branding:
        return branding_of(await self._settings_document(info))

    @strawberry.field(description="Refund policy, terms of service and privacy policy (sanitized HTML). Public.")
    async def policies(self, info: strawberry.Info) -> Policies:
        return policies_of(await self._settings_document(info))

    @strawberry.field(description="The signed-in viewer's role here, or null when not a member.")
    def viewer_role(self, info: strawberry.Info) -> OrgRole | None:
        return info.context.viewer.role_in(self.organization_id)

    @strawberry.field(
        description="Permissions the viewer holds here. Empty unless this is the viewer's active organization."
    )
    def viewer_permissions(self, info: strawberry.Info) -> list[Permission]:
        return sorted(info.context.viewer.permissions_in(self.organization_id))

    @strawberry.field(
        description="Content items, newest first: PUBLISHED ones for everyone; every status for staff with "
        "CONTENT_READ in this (active) organization."
    )
    async def contents(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None,
        filter: Annotated[ContentFilter | None, strawberry.argument(
            description="Narrow the list by kind, tag, words or (staff only) status; conditions combine with AND. Omit for every visible item.")] = None,
    ) -> Connection[Content]:
        return await organization_contents(info, self.organization_id, first, after, filter)

    @guarded(HasOrgPermission(Permission.MEMBERS_READ), description="Members of the organization, oldest first.")
    async def members(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None
    ) -> Connection[OrganizationMember] | None:
        db = info.context.db
        page = await repository.members_page(db, self.organization_id, check_first(first), after)
        return build_connection(
            page, OrganizationMember.from_model, lambda: repository.members_count(db, self.organization_id)
        )


    @guarded(HasOrgPermission(Permission.MEMBERS_READ), description="Invitations sent by email, newest first.")
    async def invitations(
        self, info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, at most 100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor to continue after.")] = None,
        pending_only: Annotated[bool, strawberry.argument(
            description="Only invitations that can still be accepted (default); false lists accepted, revoked "
            "and expired ones too.")] = True,
    ) -> Connection[OrganizationInvitation] | None:
        db = info.context.db
        page = await repository.invitations_page(db, self.organization_id, pending_only, check_first(first), after)
        return build_connection(page, OrganizationInvitation.from_model,
                                lambda: repository.invitations_count(db, self.organization_id, pending_only))
