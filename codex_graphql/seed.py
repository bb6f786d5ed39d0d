"""Provisioning from the command line: demo data (`codex-graphql seed`) and platform owners
(`codex-graphql create-owner`). Each function owns one transaction; running it again changes nothing."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from codex_graphql.accounts import repository as accounts
from codex_graphql.accounts.models import User
from codex_graphql.accounts.security import hash_password, password_problem
from codex_graphql.accounts.service import normalize_email
from codex_graphql.authz import OrgRole, PlatformRole, Viewer
from codex_graphql.db import Database, TenantScope, rescope, utcnow
from codex_graphql.errors import DomainError
from codex_graphql.organizations import repository as organizations
from codex_graphql.organizations import service as organization_service
from codex_graphql.organizations.models import OrganizationMembership

# A fixed, documented password for the demo accounts of a development database (override with
# DEMO_PASSWORD or `seed --password`). `seed` refuses to run when ENVIRONMENT=production.
DEFAULT_DEMO_PASSWORD = "codex-demo-password"
DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo Studio"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    platform_role: PlatformRole
    org_role: OrgRole | None


# `.local` addresses are not deliverable, so they cannot collide with real accounts; they are
# inserted directly because registration (rightly) refuses special-use domains.
DEMO_USERS = (
    DemoUser("owner@codex.local", "Demo Owner", PlatformRole.PLATFORM_OWNER, OrgRole.OWNER),
    DemoUser("creator@codex.local", "Demo Creator", PlatformRole.CUSTOMER, OrgRole.CREATOR),
    DemoUser("customer@codex.local", "Demo Customer", PlatformRole.CUSTOMER, None),
)


class InvalidInput(ValueError):
    """An email or password given on the command line is not acceptable; the message says why."""


def check_demo_password(password: str) -> None:
    problem = password_problem(password, "")
    if problem:
        raise InvalidInput(f"Demo password rejected: {problem}")


@dataclass
class SeedReport:
    organization_id: uuid.UUID
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


async def seed_demo(db: Database, password: str = DEFAULT_DEMO_PASSWORD) -> SeedReport:
    """Ensure the demo accounts, the "Demo Studio" organization (slug ``demo``) and its memberships exist.

    Existing rows are left exactly as they are (a changed password stays changed)."""
    check_demo_password(password)
    created: list[str] = []
    existing: list[str] = []
    user_ids: dict[str, uuid.UUID] = {}
    owner = DEMO_USERS[0]
    async with db.transaction() as session:
        for demo in DEMO_USERS:
            user = await accounts.user_by_email(session, demo.email)
            if user is None:
                user = User(email=demo.email, name=demo.name, password_hash=await hash_password(password),
                            platform_role=demo.platform_role, email_verified_at=utcnow())
                session.add(user)
                await session.flush()
                created.append(f"user {demo.email} ({demo.platform_role.value})")
            else:
                existing.append(f"user {demo.email}")
            user_ids[demo.email] = user.id

        owner_id = user_ids[owner.email]
        await rescope(session, TenantScope(user_id=owner_id))
        organization = await organizations.by_slug(session, DEMO_ORG_SLUG)
        if organization is None:
            viewer = Viewer(user_id=owner_id, platform_role=PlatformRole.PLATFORM_OWNER, email_verified=True)
            # Through the service: slug rules, the OWNER membership and the organization.created event.
            organization = await organization_service.create_organization(session, viewer, DEMO_ORG_NAME, DEMO_ORG_SLUG)
            created.append(f"organization {DEMO_ORG_SLUG} ({DEMO_ORG_NAME})")
            created.append(f"membership {owner.email} OWNER")
        else:
            existing.append(f"organization {DEMO_ORG_SLUG}")
        organization_id = organization.id

        await rescope(session, TenantScope(user_id=owner_id, organization_id=organization_id))
        for demo in DEMO_USERS:
            if demo.org_role is None:
                continue
            label = f"membership {demo.email} {demo.org_role.value}"
            if await organizations.membership(session, organization_id, user_ids[demo.email]) is not None:
                if label not in created:  # the owner's was just made by create_organization
                    existing.append(label)
                continue
            session.add(OrganizationMembership(organization_id=organization_id, user_id=user_ids[demo.email],
                                               role=demo.org_role))
            await session.flush()
            created.append(label)
    return SeedReport(organization_id=organization_id, created=created, existing=existing)


class OwnerOutcome(enum.StrEnum):
    CREATED = "created"
    PROMOTED = "promoted"
    UNCHANGED = "unchanged"




def check_owner_input(email: str, password: str) -> str:
    """The normalized email, or InvalidInput saying what is wrong (checked before touching the database)."""
    try:
        email = normalize_email(email)
    except DomainError as exc:
        raise InvalidInput(str(exc)) from exc
    problem = password_problem(password, email)
    if problem:
        raise InvalidInput(f"Password rejected: {problem}")
    return email


async def create_owner(db: Database, email: str, password: str, name: str = "") -> tuple[OwnerOutcome, str]:
    """Create a PLATFORM_OWNER account, or promote the existing account with this email.

    An existing account keeps its password and everything else; only its platform role changes.
    Returns the outcome and the normalized email."""
    email = check_owner_input(email, password)
    async with db.transaction() as session:
        user = await accounts.user_by_email(session, email)
        if user is None:
            session.add(User(email=email, name=name.strip()[:200], password_hash=await hash_password(password),
                             platform_role=PlatformRole.PLATFORM_OWNER, email_verified_at=utcnow()))
            await session.flush()
            return OwnerOutcome.CREATED, email
        if user.platform_role is PlatformRole.PLATFORM_OWNER:
            return OwnerOutcome.UNCHANGED, email
        user.platform_role = PlatformRole.PLATFORM_OWNER
        await session.flush()
        return OwnerOutcome.PROMOTED, email
