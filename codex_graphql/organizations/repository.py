"""SQL for organizations and memberships. Membership statements go through ``in_organization``
except the viewer's own memberships, which RLS lets a user read across organizations."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts.models import User
from codex_graphql.authz import in_organization
from codex_graphql.organizations.models import Organization, OrganizationMembership
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page


async def by_slug(session: AsyncSession, slug: str) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.slug == slug))


async def by_id(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


async def by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[Organization]:
    return list((await session.scalars(select(Organization).where(Organization.id.in_(ids)))).all())


async def memberships_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[OrganizationMembership, Organization]]:
    rows = await session.execute(
        select(OrganizationMembership, Organization)
        .join(Organization, Organization.id == OrganizationMembership.organization_id)
        .where(OrganizationMembership.user_id == user_id)
        .order_by(OrganizationMembership.created_at, OrganizationMembership.id)
    )
    return [(m, o) for m, o in rows.all()]


async def membership(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> OrganizationMembership | None:
    statement = select(OrganizationMembership).where(OrganizationMembership.user_id == user_id)
    return await session.scalar(in_organization(statement, OrganizationMembership, organization_id))


async def members_page(session: AsyncSession, organization_id: uuid.UUID, first: int, after: str | None) -> Page[Any]:
    statement = in_organization(select(OrganizationMembership), OrganizationMembership, organization_id)
    return await keyset_page(
        session, statement, created_col=OrganizationMembership.created_at, id_col=OrganizationMembership.id,
        first=first, after=after, newest_first=False,
    )


async def members_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    statement = in_organization(select(func.count()).select_from(OrganizationMembership), OrganizationMembership, organization_id)
    return int(await session.scalar(statement) or 0)


async def user_ids_of_members(session: AsyncSession, organization_id: uuid.UUID) -> list[uuid.UUID]:
    statement = in_organization(select(OrganizationMembership.user_id), OrganizationMembership, organization_id)
    return list((await session.scalars(statement)).all())


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def membership_by_id(session: AsyncSession, membership_id: uuid.UUID) -> OrganizationMembership | None:
    """RLS limits this to the viewer's own memberships and those of the active organization."""
    return await session.get(OrganizationMembership, membership_id)


async def all_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every organization id, for system jobs that then work tenant by tenant."""
    return list((await session.scalars(select(Organization.id).order_by(Organization.created_at))).all())
