"""GraphQL of conferencing: ``Organization.conferencing``, ``OfferingSession.joinUrl`` and the mutations
``startConferencingConnection``, ``disconnectConferencing`` and ``attachSessionRecording``."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.conferencing import loaders
from codex_graphql.conferencing import service as conferencing
from codex_graphql.conferencing.models import ConferencingProviderName
from codex_graphql.context import Context
from codex_graphql.offerings.models import OfferingSession as SessionModel
from codex_graphql.permissions import HasOrgPermission, guarded


@strawberry.type(description="How the organization's online sessions get their meetings. Tokens are never shown.")
class ConferencingStatus:
    provider: ConferencingProviderName | None = strawberry.field(
        description="The provider that makes the meetings: the connected one, else the server's default (LOCAL in "
        "development); null when meetings are not made.")
    connected: bool = strawberry.field(description="Whether the organization connected its own Zoom or Google "
                                       "account (`startConferencingConnection`).")
    connected_at: datetime | None = strawberry.field(description="When that account was connected.")


async def status_of(ctx: Context, organization_id: uuid.UUID) -> ConferencingStatus:
    provider, row = await conferencing.status(ctx.db, ctx.settings, organization_id)
    return ConferencingStatus(provider=provider, connected=row is not None,
                              connected_at=row.connected_at if row else None)


@strawberry.type(description="Conferencing's fields of `Organization` (never served as a type of its own).")
class OrganizationConferencing:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(HasOrgPermission(Permission.SETTINGS_MANAGE),
             description="The conferencing provider that makes the meetings of the organization's online sessions.")
    async def conferencing(self, info: strawberry.Info) -> ConferencingStatus | None:
        return await status_of(info.context, self.organization_id)


@strawberry.type(description="Conferencing's fields of `OfferingSession` (never served as a type of its own).")
class SessionConferencing:
    row: strawberry.Private[SessionModel]  # ``self`` is the OfferingSession object being resolved

    @strawberry.field(description="Where to join the session online: for the offering's staff and the people holding "
                      "a confirmed seat in it (a cohort's: in any of its sessions); null for everyone else, for "
                      "in-person offerings and until the meeting is made (a job, moments after the session is "
                      "published).")
    async def join_url(self, info: strawberry.Info) -> str | None:
        return await loaders.join_urls(info.context).load(self.row.id)
