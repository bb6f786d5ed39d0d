"""Mutations of conferencing: connect or disconnect the organization's provider (SETTINGS_MANAGE) and attach
an uploaded recording to a session's offering portal (CONTENT_MANAGE)."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.conferencing import service as conferencing
from codex_graphql.conferencing.models import ConferencingProviderName
from codex_graphql.conferencing.types import ConferencingStatus, status_of
from codex_graphql.context import Context
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings.types import OfferingSession
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id


@strawberry.input(description="The conferencing provider to connect.")
class StartConferencingConnectionInput:
    provider: ConferencingProviderName = strawberry.field(description="ZOOM or GOOGLE_MEET (LOCAL outside "
                                                          "production, for the demo).")


@strawberry.input(description="The conferencing provider to disconnect.")
class DisconnectConferencingInput:
    provider: ConferencingProviderName | None = strawberry.field(
        default=None, description="The provider expected to be connected; null: whichever is.")


@strawberry.input(description="A recording for a session.")
class AttachSessionRecordingInput:
    session_id: strawberry.ID = strawberry.field(description="The offering session recorded.")
    content_id: strawberry.ID = strawberry.field(description="An uploaded VIDEO or AUDIO item of the organization.")


@strawberry.type
class ConferencingMutations:
    @mutation_field(HasOrgPermission(Permission.SETTINGS_MANAGE),
                    payload={"authorize_url": (str | None, "Send the browser here: the provider asks the person to "
                                               "allow access, then returns to this server, which stores the account's "
                                               "tokens (encrypted). Valid for 10 minutes.")},
                    description="Start connecting the active organization's Zoom or Google account for the meetings of "
                    "its online sessions. INVALID_STATE when the provider is not configured on this server.",
                    input_description="The provider.")
    async def start_conferencing_connection(ctx: Context, input: StartConferencingConnectionInput) -> dict:
        return {"authorize_url": conferencing.start_connection(ctx.settings, ctx.viewer, input.provider)}

    @mutation_field(HasOrgPermission(Permission.SETTINGS_MANAGE),
                    payload={"conferencing": (ConferencingStatus, "The organization's conferencing now.")},
                    description="Disconnect the active organization's conferencing account: its tokens are deleted; "
                    "meetings already made stay. NOT_FOUND when none (or another provider) is connected.",
                    input_description="The provider expected.")
    async def disconnect_conferencing(ctx: Context, input: DisconnectConferencingInput) -> dict:
        organization_id = ctx.viewer.active_organization_id
        assert organization_id is not None
        current, row = await conferencing.status(ctx.db, ctx.settings, organization_id)
        if row is None or (input.provider is not None and input.provider is not current):
            raise DomainError(ErrorCode.NOT_FOUND, "No such conferencing account is connected.", "provider")
        await conferencing.disconnect(ctx.db, ctx.viewer)
        return {"conferencing": await status_of(ctx, organization_id)}

    @mutation_field(HasOrgPermission(Permission.CONTENT_MANAGE),
                    payload={"session": (OfferingSession, "The session.")},
                    description="Attach an uploaded recording (a VIDEO or AUDIO item of the organization, its upload "
                    "completed) to the session's offering portal, for its participants. Attaching it again changes "
                    "nothing. Creators manage their own offerings; CONTENT_MANAGE_ALL manages every offering.",
                    input_description="The session and the item.")
    async def attach_session_recording(ctx: Context, input: AttachSessionRecordingInput) -> dict:
        target = await conferencing.attach_recording(ctx.db, ctx.viewer, decode_id(input.session_id, "OfferingSession"),
                                                     decode_id(input.content_id, "Content"))
        return {"session": OfferingSession.from_model(target)}


__all__ = ["ConferencingMutations"]
