"""Organization rules: creation, membership, the active organization."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit, events
from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts.service import normalize_email
from codex_graphql.authz import ROLE_RANK, OrgRole, Viewer
from codex_graphql.db import TenantScope, rescope
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.organizations import repository
from codex_graphql.organizations.models import Organization, OrganizationMembership
from codex_graphql.relay import from_global_id
from codex_graphql.savepoints import add_unique
from codex_graphql.settings import Settings

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")
RESERVED_SLUGS = {"admin", "api", "graphql", "www", "static", "webhooks", "account", "healthz", "readyz", "metrics"}


def may_create_organization(viewer: Viewer, settings: Settings) -> bool:
    if viewer.is_platform_owner:
        return True
    return settings.enable_multi_org and viewer.is_authenticated and viewer.email_verified


def _check_slug(raw: str) -> str:
    raw = raw.strip()
    slug = raw.lower()
    if _id_shaped(raw) or _id_shaped(slug):
        raise DomainError(ErrorCode.INVALID_INPUT, "A slug may not look like an id (a UUID or a global id): "
                          "organizations are named by id or slug, so it could stand for another one.", "slug")
    if not SLUG_RE.match(slug):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Use 3 to 64 lowercase letters, digits and inner hyphens.",
            "slug",
        )
    if slug in RESERVED_SLUGS:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "This slug is reserved.", "slug")
    return slug


def _id_shaped(text: str) -> bool:
    """A UUID in any spelling uuid.UUID accepts, or a Relay global id of any type."""
    try:
        uuid.UUID(text)
    except ValueError:
        return from_global_id(text) is not None
    return True


async def create_organization(session: AsyncSession, viewer: Viewer, name: str, slug: str) -> Organization:
    assert viewer.user_id is not None
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "The name must have 1 to 200 characters.", "name")
    slug = _check_slug(slug)
    if await repository.by_slug(session, slug):
        raise DomainError(ErrorCode.ALREADY_EXISTS, "This slug is taken.", "slug")
    organization = Organization(name=name, slug=slug)
    await add_unique(session, organization, DomainError(ErrorCode.ALREADY_EXISTS, "This slug is taken.", "slug"))
    # The creator becomes OWNER: write it in the new tenant's scope so RLS admits the row.
    await rescope(session, TenantScope(user_id=viewer.user_id, organization_id=organization.id))
    session.add(OrganizationMembership(organization_id=organization.id, user_id=viewer.user_id, role=OrgRole.OWNER))
    await session.flush()
    events.emit(session, "organization.created", {"organizationId": str(organization.id)}, organization.id)
    return organization


async def add_member(
    session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, email: str, role: OrgRole
) -> OrganizationMembership:
    actor_role = viewer.role_in(organization_id)
    if actor_role is None or ROLE_RANK[role] > ROLE_RANK[actor_role]:
        raise DomainError(ErrorCode.NOT_ALLOWED, "You cannot grant a role above your own.", "role")
    user = await accounts.user_by_email(session, normalize_email(email))
    if user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No account uses this email; ask them to sign up first.", "email")
    if await repository.membership(session, organization_id, user.id):
        raise DomainError(ErrorCode.ALREADY_EXISTS, "This person is already a member.", "email")
    membership = OrganizationMembership(organization_id=organization_id, user_id=user.id, role=role)
    await add_unique(session, membership,
                     DomainError(ErrorCode.ALREADY_EXISTS, "This person is already a member.", "email"))
    events.emit(
        session, "organization.member_added",
        {"organizationId": str(organization_id), "userId": str(user.id), "role": role.value}, organization_id,
    )
    await audit.record(session, audit.AuditAction.MEMBER_ADDED, organization_id=organization_id,
                       target_type="OrganizationMember", target_id=membership.id,
                       after={"userId": str(user.id), "email": user.email, "role": role.value})
    return membership


async def set_active(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID) -> None:
    if viewer.role_in(organization_id) is None or viewer.session_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "You are not a member of this organization.", "organizationId")
    await accounts.set_session_organization(session, viewer.session_id, organization_id)
