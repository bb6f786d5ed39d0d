"""The viewer as this transaction now sees it, for mutations that change who the viewer is or what they
may do (sign-in, a new or changed membership, another active organization): ``Context.become`` then
resolves the rest of the request as that viewer and in its tenant scope.

Read in the request's own transaction (the change is not committed yet), with the same rule for the
active organization as a session resolves (``sessions._viewer_from``): the one asked for, else the one
in use, else the first membership.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts import repository
from codex_graphql.authz import Membership, Viewer
from codex_graphql.db import TenantScope, rescope, scope_of
from codex_graphql.organizations import repository as orgs


async def viewer_now(session: AsyncSession, previous: Viewer, *, user_id: uuid.UUID | None = None,
                     session_id: uuid.UUID | None = None, active: uuid.UUID | None = None) -> Viewer:
    user_id = user_id or previous.user_id
    assert user_id is not None
    user = await repository.user_by_id(session, user_id)
    assert user is not None
    scope = scope_of(session)
    if scope.user_id != user_id:  # own memberships are readable in the user's scope
        await rescope(session, TenantScope(user_id=user_id, organization_id=scope.organization_id))
    memberships = tuple(Membership(m.organization_id, m.role) for m, _ in await orgs.memberships_of_user(session, user_id))
    member_orgs = [m.organization_id for m in memberships]
    current = previous.active_organization_id if previous.user_id == user_id else None
    chosen = next((org for org in (active, current) if org is not None and org in member_orgs), None)
    if chosen is None and member_orgs:
        chosen = member_orgs[0]
    return Viewer(
        user_id=user_id,
        session_id=session_id or (previous.session_id if previous.user_id == user_id else None),
        platform_role=user.platform_role,
        email_verified=user.email_verified_at is not None,
        memberships=memberships,
        active_organization_id=chosen,
        extra=dict(previous.extra) if previous.user_id == user_id else {},
    )
