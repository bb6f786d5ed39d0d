"""After a mutation changed memberships: drop the changed people's cached viewers (on every instance, as
logout does) and let the rest of the request resolve as the viewer is now (``Context.become``)."""

from __future__ import annotations

import uuid

from codex_graphql.accounts import current
from codex_graphql.accounts import repository as accounts
from codex_graphql.context import Context
from codex_graphql.organizations import loaders
from codex_graphql.organizations.types import Organization


async def forget_and_refresh(ctx: Context, *user_ids: uuid.UUID, active: uuid.UUID | None = None) -> None:
    """Forget the cached viewers of ``user_ids``, then answer as the viewer now (acting in ``active`` when given)."""
    for user_id in user_ids:
        await ctx.forget_viewers(user_id=user_id)
    await ctx.become(await current.viewer_now(ctx.db, ctx.viewer, active=active))


async def switch_to(ctx: Context, organization_id: uuid.UUID) -> None:
    """The viewer just joined ``organization_id``: it becomes this session's active organization."""
    if ctx.viewer.session_id:
        await accounts.set_session_organization(ctx.db, ctx.viewer.session_id, organization_id)
    await forget_and_refresh(ctx, ctx.require_user_id(), active=organization_id)


async def organization_after_change(ctx: Context, organization_id: uuid.UUID, *user_ids: uuid.UUID) -> Organization:
    """After a change to the memberships of ``user_ids`` in ``organization_id``: forget their cached viewers,
    answer as the viewer now, and return the organization as the viewer now sees it."""
    await forget_and_refresh(ctx, *user_ids)
    return await organization_now(ctx, organization_id)


async def organization_now(ctx: Context, organization_id: uuid.UUID) -> Organization:
    """The organization, seen with the viewer's permissions after the change."""
    return Organization.from_model(await loaders.organizations(ctx).load(organization_id))


__all__ = ["forget_and_refresh", "organization_after_change", "organization_now", "switch_to"]
