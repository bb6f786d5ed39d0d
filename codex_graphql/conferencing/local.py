"""The demo conferencing provider: a meeting page served by this server, nothing leaves it
(``CONFERENCING_PROVIDER=local``, never in production). Its join URL is fixed by the meeting's marker and signed,
so the page (``GET /meet/{room}``) can tell a real room from a guessed one."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from codex_graphql.conferencing.protocol import Meeting, Tokens


def room_for(secret_key: str, marker: str) -> str:
    digest = hmac.new(hashlib.sha256(b"codex-local-meeting:" + secret_key.encode()).digest(), marker.encode(),
                      hashlib.sha256).hexdigest()
    return digest[:32]


class LocalProvider:
    name = "LOCAL"

    def __init__(self, secret_key: str, public_base_url: str) -> None:
        self.secret_key, self.base = secret_key, public_base_url.rstrip("/")

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return f"{redirect_uri}?code=local&state={state}"

    async def exchange_code(self, code: str, redirect_uri: str) -> Tokens:
        return Tokens("local", None, datetime.now(UTC) + timedelta(days=3650))

    async def refresh(self, refresh_token: str) -> Tokens:
        return Tokens("local", None, datetime.now(UTC) + timedelta(days=3650))

    async def create_meeting(self, access_token: str, *, topic: str, start: datetime, end: datetime,
                             time_zone: str, marker: str, retry: bool) -> Meeting:
        room = room_for(self.secret_key, marker)
        return Meeting(room, f"{self.base}/meet/{room}")

    async def delete_meeting(self, access_token: str, provider_meeting_id: str) -> None:
        return None
