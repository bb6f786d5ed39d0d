"""Conferencing rules (docs/conferencing.md): which provider serves an organization, connecting and
disconnecting one, asking for meetings when sessions of online offerings appear, and attaching a recording.

Services never commit and never call the network: the OAuth code exchange happens in the callback route with
no transaction open, meetings are made by jobs (``jobs.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import ROLE_PERMISSIONS, Permission, Viewer
from codex_graphql.conferencing import credentials, recordings, repository
from codex_graphql.conferencing.google_meet import GoogleMeetProvider
from codex_graphql.conferencing.local import LocalProvider
from codex_graphql.conferencing.models import ConferencingConnection, ConferencingProviderName
from codex_graphql.conferencing.protocol import ConferencingProvider, Tokens
from codex_graphql.conferencing.zoom import ZoomProvider
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings.models import OfferingSession
from codex_graphql.organizations import repository as organizations
from codex_graphql.settings import Settings

CALLBACK_PATH = "/conferencing/oauth/callback"


def provider_for(settings: Settings, name: ConferencingProviderName | str) -> ConferencingProvider | None:
    """The provider ``name`` as configured; None when it is not (no OAuth app, or LOCAL in production)."""
    name = ConferencingProviderName(name)
    if name is ConferencingProviderName.ZOOM and settings.zoom_client_id and settings.zoom_client_secret:
        return ZoomProvider(settings.zoom_client_id, settings.zoom_client_secret, api_base=settings.zoom_api_base,
                            oauth_base=settings.zoom_oauth_base)
    if name is ConferencingProviderName.GOOGLE_MEET and settings.google_client_id and settings.google_client_secret:
        return GoogleMeetProvider(settings.google_client_id, settings.google_client_secret,
                                  oauth_base=settings.google_oauth_base, token_url=settings.google_token_url,
                                  api_base=settings.google_calendar_api_base)
    if name is ConferencingProviderName.LOCAL and not settings.is_production:
        return LocalProvider(settings.secret_key, settings.public_base_url)
    return None


def default_provider(settings: Settings) -> ConferencingProviderName | None:
    """What serves an organization that connected nothing: the demo provider in development and tests."""
    if settings.conferencing_provider == "local" and not settings.is_production:
        return ConferencingProviderName.LOCAL
    return None


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}{CALLBACK_PATH}"


def start_connection(settings: Settings, viewer: Viewer, name: ConferencingProviderName) -> str:
    """The provider's authorize URL, with a signed ``state`` naming the viewer, the organization and the provider."""
    organization_id = viewer.active_organization_id
    if organization_id is None or viewer.user_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "Choose an active organization first.", "provider")
    provider = provider_for(settings, name)
    if provider is None:
        raise DomainError(ErrorCode.INVALID_STATE, "This conferencing provider is not configured on this server.",
                          "provider")
    state = credentials.sign_state(settings.secret_key, credentials.State(organization_id, viewer.user_id,
                                                                          name.value))
    return provider.authorize_url(state, redirect_uri(settings))


async def record_connection(session: AsyncSession, settings: Settings, state: credentials.State,
                            tokens: Tokens) -> bool:
    """Store the tokens (encrypted) in the state's organization, when the person who started the connection
    still holds SETTINGS_MANAGE there (the caller's transaction is in that organization's scope)."""
    member = await organizations.membership(session, state.organization_id, state.user_id)
    if member is None or Permission.SETTINGS_MANAGE not in ROLE_PERMISSIONS.get(member.role, frozenset()):
        return False
    seal = credentials.encrypt
    await repository.save_connection(session, ConferencingConnection(
        organization_id=state.organization_id, provider=ConferencingProviderName(state.provider),
        access_token=seal(settings.secret_key, state.organization_id, "access", tokens.access_token),
        refresh_token=seal(settings.secret_key, state.organization_id, "refresh", tokens.refresh_token)
        if tokens.refresh_token else None,
        expires_at=tokens.expires_at, scope=tokens.scope[:2000], connected_by=state.user_id))
    return True


async def disconnect(session: AsyncSession, viewer: Viewer) -> bool:
    """Forget the organization's connection (its tokens); meetings made stay. True when one was connected."""
    organization_id = viewer.active_organization_id
    if organization_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "Choose an active organization first.", "provider")
    return await repository.delete_connection(session, organization_id)


async def attach_recording(session: AsyncSession, viewer: Viewer, session_id: uuid.UUID | None,
                           content_id: uuid.UUID | None) -> OfferingSession:
    """attachSessionRecording: an uploaded video or audio item of the organization becomes the session's
    recording in the offering's portal."""
    organization_id = viewer.active_organization_id
    found = (await repository.session_with_offering(session, organization_id, session_id)
             if organization_id and session_id else None)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No session of your organization has this id.", "sessionId")
    target, offering = found
    if offering.created_by != viewer.user_id and not viewer.can(Permission.CONTENT_MANAGE_ALL, organization_id):
        raise DomainError(ErrorCode.NOT_ALLOWED, "You can only manage offerings you created.", "sessionId")
    await recordings.attach_uploaded(session, viewer, offering, target, content_id)
    return target


__all__: Sequence[str] = ["attach_recording", "disconnect", "provider_for", "record_connection", "start_connection"]


async def status(session: AsyncSession, settings: Settings,
                 organization_id: uuid.UUID) -> tuple[ConferencingProviderName | None, ConferencingConnection | None]:
    """The provider serving the organization's meetings (connected, or the server's default) and its connection."""
    row = await repository.connection(session, organization_id)
    return (row.provider if row else default_provider(settings)), row
