from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

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
from codex_graphql.relay import Connection, Node, build_connection, check_first, to_global_id

if TYPE_CHECKING:
    from codex_graphql.analytics.types import Analytics, Customer, CustomerFilter, CustomerOrder, DateRange
    from codex_graphql.audit.types import AuditLogEntry, AuditLogFilter
    from codex_graphql.commerce.types import CreatorEarnings, Purchase

ANALYTICS_TYPES = "codex_graphql.analytics.types"
AUDIT_TYPES = "codex_graphql.audit.types"


@strawberry.type(description="A person's role in an organization.")
class OrganizationMember(Node):
    role: OrgRole = strawberry.field(description="Role, which decides the member's permissions.")
    created_at: datetime = strawberry.field(description="When the person joined.")
    user_id: strawberry.Private[uuid.UUID]
    organization_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, membership: OrganizationMembership) -> OrganizationMember:
        return cls(
            id=to_global_id("OrganizationMember", membership.id),
            role=membership.role,
            created_at=membership.created_at,
            user_id=membership.user_id,
            organization_id=membership.organization_id,
        )

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
        return cls(
            id=to_global_id("OrganizationInvitation", row.id), email=row.email, role=row.role, status=status,
            created_at=row.created_at, expires_at=row.expires_at, accepted_at=row.accepted_at,
            revoked_at=row.revoked_at, invited_by_user_id=row.invited_by_user_id, organization_id=row.organization_id,
        )

    @strawberry.field(description="Who sent it; null when that account was deleted.")
    async def invited_by(self, info: strawberry.Info) -> User | None:
        if self.invited_by_user_id is None:
            return None
        user = await account_loaders.users(info.context).load(self.invited_by_user_id)
        return User.from_model(user) if user else None


@strawberry.type(description="A business that sells content on the platform. Name and slug are public.")
class Organization(Node):
    slug: str = strawberry.field(description="URL-safe unique handle, e.g. `acme-films`.")
    name: str = strawberry.field(description="Display name.")
    created_at: datetime = strawberry.field(description="When the organization was created.")
    organization_id: strawberry.Private[uuid.UUID]
    row: strawberry.Private[OrganizationModel | None] = None

    @classmethod
    def from_model(cls, organization: OrganizationModel) -> Organization:
        return cls(
            id=to_global_id("Organization", organization.id),
            slug=organization.slug,
            name=organization.name,
            created_at=organization.created_at,
            organization_id=organization.id,
            row=organization,
        )

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

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Purchases in this organization, newest first.")
    async def purchases(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None
    ) -> Connection[Annotated[Purchase, strawberry.lazy("codex_graphql.commerce.types")]] | None:
        from codex_graphql.commerce import (
            queries as commerce_queries,  # commerce types refer back to Organization
        )

        return await commerce_queries.organization_purchases(info, self.organization_id, first, after)

    @guarded(HasOrgPermission(Permission.PURCHASES_READ), description="Earnings per creator, for payouts.")
    async def creator_earnings(
        self, info: strawberry.Info
    ) -> list[Annotated[CreatorEarnings, strawberry.lazy("codex_graphql.commerce.types")]] | None:
        from codex_graphql.commerce import queries as commerce_queries

        return await commerce_queries.creator_earnings(info, self.organization_id)

    @guarded(
        HasOrgPermission(Permission.ANALYTICS_READ),
        description="Sales dashboard for a range of local days (organization timezone; default: the last 30 days). "
        "Money is minor units net of tax; refunds subtract; FREE and GRANT purchases count with 0 revenue.",
    )
    async def analytics(
        self, info: strawberry.Info,
        range_: Annotated[
            Annotated[DateRange, strawberry.lazy(ANALYTICS_TYPES)] | None,
            strawberry.argument(name="range", description="Inclusive local days; at most 1000."),
        ] = None,
    ) -> Annotated[Analytics, strawberry.lazy(ANALYTICS_TYPES)] | None:
        from codex_graphql.analytics import queries as analytics_queries  # analytics types refer back here

        return await analytics_queries.analytics(info, self.organization_id, range_)

    @guarded(
        HasOrgPermission(Permission.CUSTOMERS_READ),
        description="People with purchases here (grants and free claims included); default order: latest purchase first.",
    )
    async def customers(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None,
        filter: Annotated[
            Annotated[CustomerFilter, strawberry.lazy(ANALYTICS_TYPES)] | None,
            strawberry.argument(description="Narrow the list by email/name text or by a purchased item; conditions combine with AND. Omit for every customer."),
        ] = None,
        order_by: Annotated[
            Annotated[CustomerOrder, strawberry.lazy(ANALYTICS_TYPES)] | None,
            strawberry.argument(description="Sort key and direction; default LAST_PURCHASE_AT DESC (latest "
                                "purchase first). Ties are broken by user id so pages are stable."),
        ] = None,
    ) -> Connection[Annotated[Customer, strawberry.lazy(ANALYTICS_TYPES)]] | None:
        from codex_graphql.analytics import queries as analytics_queries

        return await analytics_queries.customers(info, self.organization_id, first, after, filter, order_by)

    @guarded(
        HasOrgPermission(Permission.AUDIT_LOG_READ),
        description="Sensitive actions in this organization (refunds, grants, revocations, new members, settings "
        "changes, publishing), newest first.",
    )
    async def audit_log(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None,
        filter: Annotated[
            Annotated[AuditLogFilter, strawberry.lazy(AUDIT_TYPES)] | None,
            strawberry.argument(description="Narrow the log by action, actor, target or time window; conditions combine with AND. Omit for every entry."),
        ] = None,
    ) -> Connection[Annotated[AuditLogEntry, strawberry.lazy(AUDIT_TYPES)]] | None:
        from codex_graphql.audit import types as audit_types

        return await audit_types.organization_audit_log(info, self.organization_id, first, after, filter)

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
