"""SQL for organizations and memberships. Membership statements go through ``in_organization``
except the viewer's own memberships, which RLS lets a user read across organizations."""

from __future__ import annotations

import uuid
from collections import namedtuple
from functools import partial
from typing import Any

from sqlalchemy import any_, bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import authz
from codex_graphql.accounts.models import User
from codex_graphql.authz import in_organization
from codex_graphql.db import SerializedSession, raw_read, utcnow
from codex_graphql.organizations.models import Organization, OrganizationInvitation, OrganizationMembership
from codex_graphql.pagination import keyset_page
from codex_graphql.relay import Page

# An organization as read for answers: an immutable tuple with the columns of ``Organization`` as attributes
# (what the ``Organization`` type and the settings document read), without an ORM instance.
OrganizationRecord = namedtuple("OrganizationRecord", [column.key for column in Organization.__table__.columns])  # type: ignore[misc]
_record = partial(tuple.__new__, OrganizationRecord)
# Built and compiled once, run straight on the driver (``SerializedSession.fetch``).
_BY_SLUG = raw_read(select(*Organization.__table__.columns).where(Organization.slug == bindparam("slug")))


async def by_slug(session: SerializedSession, slug: str) -> Any | None:
    """The organization of that slug as a read-only ``OrganizationRecord`` (change one through ``by_id``)."""
    found = await session.fetch(_BY_SLUG, {"slug": slug}, _record)
    return found[0] if found else None


async def by_id(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


_BY_IDS = raw_read(select(*Organization.__table__.columns).where(
    Organization.id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))))


async def by_ids(session: SerializedSession, ids: list[uuid.UUID]) -> list[Any]:
    """The organizations loader's batch, as read-only ``OrganizationRecord`` tuples (one array parameter)."""
    return await session.fetch(_BY_IDS, {"ids": list(ids)}, _record)


async def memberships_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[OrganizationMembership, Organization]]:
    rows = await session.execute(
        select(OrganizationMembership, Organization)
        .join(Organization, Organization.id == OrganizationMembership.organization_id)
        .where(OrganizationMembership.user_id == user_id)
        .order_by(OrganizationMembership.created_at, OrganizationMembership.id)
    )
    return [(m, o) for m, o in rows.all()]


async def membership(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, *,
                     fresh: bool = False) -> OrganizationMembership | None:
    """``fresh``: re-read the row even if this session holds it (after waiting on a lock)."""
    statement = select(OrganizationMembership).where(OrganizationMembership.user_id == user_id)
    statement = in_organization(statement, OrganizationMembership, organization_id)
    return await session.scalar(statement.execution_options(populate_existing=fresh))


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


async def member_ids_among(session: AsyncSession, organization_id: uuid.UUID,
                           user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``user_ids`` are members of the organization (any role)."""
    statement = in_organization(select(OrganizationMembership.user_id), OrganizationMembership, organization_id)
    return set((await session.scalars(statement.where(OrganizationMembership.user_id.in_(user_ids)))).all())


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def membership_by_id(session: AsyncSession, membership_id: uuid.UUID) -> OrganizationMembership | None:
    """RLS limits this to the viewer's own memberships and those of the active organization."""
    return await session.get(OrganizationMembership, membership_id)


async def all_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every organization id, for system jobs that then work tenant by tenant."""
    return list((await session.scalars(select(Organization.id).order_by(Organization.created_at))).all())


# --- team management: locks, removal, invitations -------------------------------------------------


async def lock_owners(session: AsyncSession, organization_id: uuid.UUID) -> list[OrganizationMembership]:
    """Lock the organization's OWNER rows (in id order, so concurrent callers queue instead of deadlocking).

    Every membership change takes this lock first, so changes in one organization run one after another
    and "at least one OWNER remains" is decided on committed rows: a caller that waited re-reads them."""
    statement = in_organization(select(OrganizationMembership), OrganizationMembership, organization_id)
    statement = (statement.where(OrganizationMembership.role == authz.OrgRole.OWNER).order_by(OrganizationMembership.id)
                 .with_for_update().execution_options(populate_existing=True))
    return list((await session.scalars(statement)).all())


async def lock_membership(session: AsyncSession, organization_id: uuid.UUID,
                          membership_id: uuid.UUID) -> OrganizationMembership | None:
    statement = select(OrganizationMembership).where(OrganizationMembership.id == membership_id)
    statement = in_organization(statement, OrganizationMembership, organization_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def delete_membership(session: AsyncSession, organization_id: uuid.UUID, membership_id: uuid.UUID) -> None:
    statement = delete(OrganizationMembership).where(OrganizationMembership.id == membership_id)
    await session.execute(in_organization(statement, OrganizationMembership, organization_id))  # type: ignore[type-var]


def _pending(statement: Any) -> Any:
    return statement.where(
        OrganizationInvitation.accepted_at.is_(None), OrganizationInvitation.revoked_at.is_(None),
        OrganizationInvitation.expires_at > utcnow(),
    )


async def lock_pending_invitation(session: AsyncSession, organization_id: uuid.UUID, email: str) -> OrganizationInvitation | None:
    """The open invitation of this address (expired ones included: they still hold the address's slot)."""
    statement = select(OrganizationInvitation).where(
        OrganizationInvitation.email == email, OrganizationInvitation.accepted_at.is_(None),
        OrganizationInvitation.revoked_at.is_(None),
    )
    statement = in_organization(statement, OrganizationInvitation, organization_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def lock_invitation(session: AsyncSession, organization_id: uuid.UUID,
                          invitation_id: uuid.UUID) -> OrganizationInvitation | None:
    statement = select(OrganizationInvitation).where(OrganizationInvitation.id == invitation_id)
    statement = in_organization(statement, OrganizationInvitation, organization_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def invitation_by_token_hash(session: AsyncSession, hashed: str) -> OrganizationInvitation | None:
    """The invitation a mailed token names, whatever the organization: the transaction names the hash
    (``codex.invitation_token_hash``), which the table's ``invitation_by_token`` policy admits."""
    await session.execute(text("select set_config('codex.invitation_token_hash', :h, true)"), {"h": hashed})
    return await session.scalar(select(OrganizationInvitation).where(OrganizationInvitation.token_hash == hashed))


async def invitations_page(session: AsyncSession, organization_id: uuid.UUID, pending_only: bool, first: int,
                           after: str | None) -> Page[Any]:
    statement = in_organization(select(OrganizationInvitation), OrganizationInvitation, organization_id)
    if pending_only:
        statement = _pending(statement)
    return await keyset_page(session, statement, created_col=OrganizationInvitation.created_at,
                             id_col=OrganizationInvitation.id, first=first, after=after)


async def invitations_count(session: AsyncSession, organization_id: uuid.UUID, pending_only: bool) -> int:
    statement = in_organization(select(func.count()).select_from(OrganizationInvitation), OrganizationInvitation,
                                organization_id)
    if pending_only:
        statement = _pending(statement)
    return int(await session.scalar(statement) or 0)


async def invitation_by_id(session: AsyncSession, invitation_id: uuid.UUID) -> OrganizationInvitation | None:
    """RLS limits this to the active organization's invitations; node() re-checks the permission."""
    return await session.get(OrganizationInvitation, invitation_id)
