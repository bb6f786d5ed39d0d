"""The conferencing provider protocol (docs/conferencing.md, "Providers").

A provider turns OAuth codes into tokens, refreshes them, and creates and deletes one meeting per offering
session. Every call is a network call: callers make them with no database transaction open. ``marker`` is the
idempotency marker of one meeting row (``codex-<meeting id>``): a provider that supports client-chosen ids uses
it as the id; one that does not (Zoom) writes it into the meeting and, on a retried attempt, first looks for a
meeting carrying it, so a crash between the provider's answer and our record never makes a second meeting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Meeting:
    provider_meeting_id: str
    join_url: str
    host_url: str | None = None  # a host's start link: short-lived and secret, never stored


class ProviderError(Exception):
    """The provider refused or failed; ``retryable`` when trying again later may succeed (5xx, network)."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class TokenExpired(ProviderError):
    """The access token was refused (expired or revoked): refresh and try once more."""

    def __init__(self, message: str = "access token refused") -> None:
        super().__init__(message, retryable=True, status=401)


class ConferencingProvider(Protocol):
    name: str

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        """Where to send the person connecting their account."""
        ...

    async def exchange_code(self, code: str, redirect_uri: str) -> Tokens: ...

    async def refresh(self, refresh_token: str) -> Tokens: ...

    async def create_meeting(self, access_token: str, *, topic: str, start: datetime, end: datetime,
                             time_zone: str, marker: str, retry: bool) -> Meeting: ...

    async def delete_meeting(self, access_token: str, provider_meeting_id: str) -> None:
        """Delete it; one already gone is no error."""
        ...
