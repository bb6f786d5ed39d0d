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
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import httpx

from codex_graphql.conferencing.oauth_rest import OAuthRestProvider
from codex_graphql.conferencing.oauth_rest import json_body as _json
from codex_graphql.conferencing.protocol import Meeting, ProviderError

SCOPE = "https://www.googleapis.com/auth/calendar.events"


def event_id(marker: str) -> str:
    """A Calendar event id (base32hex characters a-v and 0-9, 5 to 1024 long) fixed by the marker."""
    return hashlib.sha256(marker.encode()).hexdigest()[:40]


class GoogleMeetProvider(OAuthRestProvider):
    name = "GOOGLE_MEET"
    label = "Google"

    def __init__(self, client_id: str, client_secret: str, *, oauth_base: str, token_url: str, api_base: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(client_id, client_secret, api_base=api_base, transport=transport)
        self.oauth_base, self.token_url = oauth_base.rstrip("/"), token_url

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urlencode({"client_id": self.client_id, "redirect_uri": redirect_uri, "response_type": "code",
                           "scope": SCOPE, "access_type": "offline", "prompt": "consent", "state": state})
        return f"{self.oauth_base}/o/oauth2/v2/auth?{query}"

    async def _token_response(self, client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
        # Google takes the app's credentials in the form.
        return await client.post(self.token_url, data={**form, "client_id": self.client_id,
                                                      "client_secret": self.client_secret})

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


def _failure(action: str, response: httpx.Response) -> ProviderError:
    error = _json(response).get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return ProviderError(f"Google could not {action}: {response.status_code} {message or ''}".strip(),
                         retryable=response.status_code >= 500 or response.status_code == 429,
                         status=response.status_code)
