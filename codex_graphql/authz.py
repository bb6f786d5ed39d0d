"""Roles, permissions and the one row-scoping helper every repository uses.

Code checks permissions, never role names: custom roles later extend ``ROLE_PERMISSIONS``.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from sqlalchemy import Select

from codex_graphql.db import TenantScope
from codex_graphql.enum_docs import describe_values


@strawberry.enum(description="Platform-wide role of a user account.")
class PlatformRole(enum.StrEnum):
    PLATFORM_OWNER = "PLATFORM_OWNER"
    CUSTOMER = "CUSTOMER"


describe_values(PlatformRole, {
    "PLATFORM_OWNER": "Operator of the whole platform: may act across organizations through platform-scoped"
                      " fields (made with `codex-graphql create-owner`). Not a member role inside an "
                      "organization.",
    "CUSTOMER": "Ordinary account (the default for everyone who registers): buys, claims and plays content;"
                " may also be staff of organizations through an OrgRole.",
})


@strawberry.enum(description="Role of a member inside one organization.")
class OrgRole(enum.StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    CREATOR = "CREATOR"
    MEMBER = "MEMBER"


describe_values(OrgRole, {
    "OWNER": "Holds every Permission in the organization, including AUDIT_LOG_READ and OWNERSHIP_TRANSFER. "
             "An organization always keeps at least one owner (LAST_OWNER otherwise).",
    "ADMIN": "Every Permission except AUDIT_LOG_READ and OWNERSHIP_TRANSFER: runs members, content, "
             "customers, refunds, analytics and settings.",
    "CREATOR": "ORGANIZATION_READ, MEMBERS_READ and CONTENT_READ plus CONTENT_CREATE and CONTENT_MANAGE: "
               "creates and manages their own content items only.",
    "MEMBER": "Read-only staff: ORGANIZATION_READ, MEMBERS_READ and CONTENT_READ (sees unpublished items "
              "and the team list, changes nothing).",
})


@strawberry.enum(description="A capability inside an organization, granted through the member's role.")
class Permission(enum.StrEnum):
    ORGANIZATION_READ = "ORGANIZATION_READ"
    MEMBERS_READ = "MEMBERS_READ"
    MEMBERS_MANAGE = "MEMBERS_MANAGE"
    CONTENT_READ = "CONTENT_READ"
    CONTENT_CREATE = "CONTENT_CREATE"
    CONTENT_MANAGE = "CONTENT_MANAGE"
    CONTENT_MANAGE_ALL = "CONTENT_MANAGE_ALL"
    PURCHASES_READ = "PURCHASES_READ"
    PURCHASES_REFUND = "PURCHASES_REFUND"
    CUSTOMERS_READ = "CUSTOMERS_READ"
    CUSTOMERS_MANAGE = "CUSTOMERS_MANAGE"
    ANALYTICS_READ = "ANALYTICS_READ"
    SETTINGS_MANAGE = "SETTINGS_MANAGE"
    CREDITS_MANAGE = "CREDITS_MANAGE"
    SUBSCRIPTIONS_MANAGE = "SUBSCRIPTIONS_MANAGE"
    AUDIT_LOG_READ = "AUDIT_LOG_READ"
    OWNERSHIP_TRANSFER = "OWNERSHIP_TRANSFER"


describe_values(Permission, {
    "ORGANIZATION_READ": "Staff-level read access to the organization: every member holds it, customers do "
                         "not. No field needs it alone today; custom roles keep it as the baseline.",
    "MEMBERS_READ": "List the organization's members and invitations (`Organization.members`, "
                    "`Organization.invitations`). Held by every role.",
    "MEMBERS_MANAGE": "Add, invite, re-role and remove members and revoke invitations. OWNER and ADMIN.",
    "CONTENT_READ": "See every content item of the organization, unpublished ones included, and play them "
                    "without buying. Held by every role.",
    "CONTENT_CREATE": "Create content items (`createContent`). OWNER, ADMIN and CREATOR.",
    "CONTENT_MANAGE": "Update, publish, unpublish and delete content items the member created, complete "
                      "their uploads and moderate their reviews. OWNER, ADMIN and CREATOR.",
    "CONTENT_MANAGE_ALL": "Like CONTENT_MANAGE, but for every item of the organization, whoever created it."
                          " OWNER and ADMIN.",
    "PURCHASES_READ": "List the organization's purchases and receive `purchaseEvents` and "
                      "`subscriptionEvents`. OWNER and ADMIN.",
    "PURCHASES_REFUND": "Refund purchases, fully or in part (`refundPurchase`). OWNER and ADMIN.",
    "CUSTOMERS_READ": "List the organization's customers and their purchases (`Organization.customers`). "
                      "OWNER and ADMIN.",
    "CUSTOMERS_MANAGE": "Grant and revoke free access to content (`grantContentAccess`, "
                        "`revokePendingGrant`, `revokeContentAccess`). OWNER and ADMIN.",
    "ANALYTICS_READ": "Read sales and audience figures (`Organization.analytics`). OWNER and ADMIN.",
    "SETTINGS_MANAGE": "Change the organization's settings and logo (`updateOrganizationSettings`, "
                       "`createOrganizationLogoUpload`). OWNER and ADMIN.",
    "CREDITS_MANAGE": "Correct customers' credit balances (`adjustCredits`, audited). OWNER and ADMIN.",
    "SUBSCRIPTIONS_MANAGE": "Create, change, publish and archive subscription tiers (`createSubscriptionTier`, "
                            "`updateSubscriptionTier`, `archiveSubscriptionTier`, audited), move their subscribers "
                            "to a tier's current price (`migrateSubscriptionTierPrice`, audited) and see every tier, "
                            "drafts and archived ones included. OWNER and ADMIN.",
    "AUDIT_LOG_READ": "Read the organization's audit log (`Organization.auditLog`). OWNER only.",
    "OWNERSHIP_TRANSFER": "Hand the OWNER role to another member (`transferOrganizationOwnership`). OWNER "
                          "only.",
})


_STAFF_BASE = {Permission.ORGANIZATION_READ, Permission.MEMBERS_READ, Permission.CONTENT_READ}

ROLE_PERMISSIONS: dict[OrgRole, frozenset[Permission]] = {
    OrgRole.OWNER: frozenset(Permission),
    OrgRole.ADMIN: frozenset(set(Permission) - {Permission.AUDIT_LOG_READ, Permission.OWNERSHIP_TRANSFER}),
    OrgRole.CREATOR: frozenset(_STAFF_BASE | {Permission.CONTENT_CREATE, Permission.CONTENT_MANAGE}),
    OrgRole.MEMBER: frozenset(_STAFF_BASE),
}

# Roles an actor may hand out: nobody grants a role above their own.
ROLE_RANK = {OrgRole.MEMBER: 0, OrgRole.CREATOR: 1, OrgRole.ADMIN: 2, OrgRole.OWNER: 3}


@dataclass(frozen=True, slots=True)
class Membership:
    organization_id: uuid.UUID
    role: OrgRole


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking. Built once per request from the session; anonymous when user_id is None."""

    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    platform_role: PlatformRole | None = None
    email_verified: bool = False
    memberships: tuple[Membership, ...] = ()
    active_organization_id: uuid.UUID | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_platform_owner(self) -> bool:
        return self.platform_role is PlatformRole.PLATFORM_OWNER

    def role_in(self, organization_id: uuid.UUID | None) -> OrgRole | None:
        for membership in self.memberships:
            if membership.organization_id == organization_id:
                return membership.role
        return None

    def permissions_in(self, organization_id: uuid.UUID | None) -> frozenset[Permission]:
        """Permissions apply only in the active organization: that is the tenant RLS lets us see."""
        if organization_id is None or organization_id != self.active_organization_id:
            return frozenset()
        role = self.role_in(organization_id)
        return ROLE_PERMISSIONS[role] if role else frozenset()

    def can(self, permission: Permission, organization_id: uuid.UUID | None) -> bool:
        return permission in self.permissions_in(organization_id)

    def owns_or_can(self, user_id: uuid.UUID, permission: Permission, organization_id: uuid.UUID) -> bool:
        """A user's own row (``user_id`` is the viewer), or one ``permission`` lets staff read in its organization."""
        return user_id == self.user_id or self.can(permission, organization_id)

    @property
    def scope(self) -> TenantScope:
        active = self.active_organization_id if self.role_in(self.active_organization_id) else None
        return TenantScope(user_id=self.user_id, organization_id=active)


ANONYMOUS = Viewer()

S = TypeVar("S", bound=Select[Any])


def in_organization(statement: S, model: Any, organization_id: uuid.UUID) -> S:
    """The one row-scoping helper: restrict a statement on a tenant table to one organization.

    Row-level security enforces the same boundary below the application; this keeps queries
    index-friendly and correct even for a database role that bypasses RLS.
    """
    return statement.where(model.organization_id == organization_id)
