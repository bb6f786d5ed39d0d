"""Google Meet through the Google Calendar API with httpx (docs/conferencing.md, "Google Meet").

OAuth 2 authorization code with offline access (``access_type=offline``, ``prompt=consent``, scope
``calendar.events``): the code and the refresh token are traded at Google's token endpoint (Google keeps the
refresh token; a refresh answers none). A meeting is a Calendar event in the connected account's primary
calendar with a Meet conference (``conferenceData.createRequest``, ``conferenceDataVersion=1``): its join URL is
the event's ``hangoutLink``. Idempotent by construction: the event's id is derived from our marker, so a retried
insert answers 409 and the existing event is read instead.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from codex_graphql.conferencing.protocol import Meeting, ProviderError, TokenExpired, Tokens

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
SCOPE = "https://www.googleapis.com/auth/calendar.events"


def event_id(marker: str) -> str:
    """A Calendar event id (base32hex characters a-v and 0-9, 5 to 1024 long) fixed by the marker."""
    return hashlib.sha256(marker.encode()).hexdigest()[:40]


class GoogleMeetProvider:
    name = "GOOGLE_MEET"

    def __init__(self, client_id: str, client_secret: str, *, oauth_base: str, token_url: str, api_base: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.oauth_base, self.token_url, self.api_base = oauth_base.rstrip("/"), token_url, api_base.rstrip("/")
        self.transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urlencode({"client_id": self.client_id, "redirect_uri": redirect_uri, "response_type": "code",
                           "scope": SCOPE, "access_type": "offline", "prompt": "consent", "state": state})
        return f"{self.oauth_base}/o/oauth2/v2/auth?{query}"

    async def _token(self, form: dict[str, str]) -> Tokens:
        form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            async with self._client() as client:
                response = await client.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Google OAuth unreachable: {exc.__class__.__name__}") from exc
        body = _json(response)
        if response.status_code != 200 or "access_token" not in body:
            raise ProviderError(f"Google OAuth refused: {body.get('error') or response.status_code}",
                                retryable=response.status_code >= 500, status=response.status_code)
        expires = datetime.now(UTC) + timedelta(seconds=int(body.get("expires_in") or 3600))
        return Tokens(body["access_token"], body.get("refresh_token"), expires, str(body.get("scope") or ""))

    async def exchange_code(self, code: str, redirect_uri: str) -> Tokens:
        return await self._token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        try:
            async with self._client() as client:
                response = await client.request(method, f"{self.api_base}{path}",
                                                headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Google unreachable: {exc.__class__.__name__}") from exc
        if response.status_code == 401:
            raise TokenExpired("Google refused the access token")
        return response

    async def create_meeting(self, access_token: str, *, topic: str, start: datetime, end: datetime,
                             time_zone: str, marker: str, retry: bool) -> Meeting:
        identifier = event_id(marker)
        body = {
            "id": identifier, "summary": topic[:200], "description": f"Booked through Codex ({marker})",
            "start": {"dateTime": start.astimezone(UTC).isoformat(), "timeZone": time_zone},
            "end": {"dateTime": end.astimezone(UTC).isoformat(), "timeZone": time_zone},
            "conferenceData": {"createRequest": {"requestId": marker,
                                                 "conferenceSolutionKey": {"type": "hangoutsMeet"}}},
        }
        response = await self._call("POST", "/calendars/primary/events", access_token,
                                     params={"conferenceDataVersion": "1"}, json=body)
        if response.status_code == 409:  # made by an earlier attempt
            response = await self._call("GET", f"/calendars/primary/events/{quote(identifier)}", access_token)
        if response.status_code != 200:
            raise _failure("create a meeting", response)
        event = _json(response)
        link = event.get("hangoutLink") or next(
            (e.get("uri") for e in (event.get("conferenceData") or {}).get("entryPoints") or []
             if e.get("entryPointType") == "video"), None)
        if not link:  # the conference is still being created: try again shortly
            raise ProviderError("Google has not finished creating the Meet conference")
        return Meeting(str(event.get("id") or identifier), str(link))

    async def delete_meeting(self, access_token: str, provider_meeting_id: str) -> None:
        response = await self._call("DELETE", f"/calendars/primary/events/{quote(provider_meeting_id)}",
                                    access_token, params={"sendUpdates": "none"})
        if response.status_code in (200, 204, 404, 410):
            return
        raise _failure("delete a meeting", response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _failure(action: str, response: httpx.Response) -> ProviderError:
    error = _json(response).get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return ProviderError(f"Google could not {action}: {response.status_code} {message or ''}".strip(),
                         retryable=response.status_code >= 500 or response.status_code == 429,
                         status=response.status_code)
