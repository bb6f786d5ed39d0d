"""Zoom over its REST API with httpx (docs/conferencing.md, "Zoom").

OAuth 2 authorization code: the person is sent to ``{ZOOM_OAUTH_BASE}/oauth/authorize``; the code and later the
refresh token are traded at ``{ZOOM_OAUTH_BASE}/oauth/token`` with the app's credentials as HTTP Basic auth (Zoom
rotates the refresh token on every refresh). Meetings: ``POST {ZOOM_API_BASE}/v2/users/me/meetings`` (type 2, a
scheduled meeting) and ``DELETE /v2/meetings/{id}``. Zoom takes no idempotency key, so the meeting's ``agenda``
carries our marker and a retried attempt first lists the user's upcoming meetings for it.

Webhooks are verified as Zoom documents: ``x-zm-signature`` is ``v0=`` + hex HMAC-SHA256 of
``v0:{x-zm-request-timestamp}:{body}`` under the app's secret token, the timestamp within five minutes; the
``endpoint.url_validation`` challenge is answered with the HMAC of its ``plainToken``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from codex_graphql.conferencing.oauth_rest import OAuthRestProvider
from codex_graphql.conferencing.oauth_rest import json_body as _json
from codex_graphql.conferencing.protocol import Meeting, ProviderError

TOLERANCE_SECONDS = 300
INVALID_TOKEN_CODE = 124  # Zoom: "Invalid access token." / "Access token is expired."
MEETING_MISSING_CODE = 3001


MAX_REDIRECTS = 3


class ZoomProvider(OAuthRestProvider):
    name = "ZOOM"
    label = "Zoom"

    def __init__(self, client_id: str, client_secret: str, *, api_base: str, oauth_base: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(client_id, client_secret, api_base=api_base, transport=transport)
        self.oauth_base = oauth_base.rstrip("/")

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "state": state})
        return f"{self.oauth_base}/oauth/authorize?{query}"

    async def _token_response(self, client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
        # Zoom takes the app's credentials as HTTP Basic auth.
        return await client.post(f"{self.oauth_base}/oauth/token", data=form, auth=(self.client_id,
                                                                                      self.client_secret))

    def _refusal(self, body: dict[str, Any], response: httpx.Response) -> Any:
        return body.get("reason") or body.get("error") or response.status_code

    def _expired(self, response: httpx.Response) -> str:
        return str(_json(response).get("message") or "Invalid access token.")

    async def _find(self, token: str, marker: str) -> Meeting | None:
        next_page = ""
        for _ in range(20):
            params = {"type": "upcoming", "page_size": "300", **({"next_page_token": next_page} if next_page else {})}
            response = await self._call("GET", "/v2/users/me/meetings", token, params=params)
            if response.status_code != 200:
                raise _failure("list meetings", response)
            body = _json(response)
            for meeting in body.get("meetings") or []:
                if marker in str(meeting.get("agenda") or ""):
                    return Meeting(str(meeting["id"]), meeting["join_url"])
            next_page = str(body.get("next_page_token") or "")
            if not next_page:
                return None
        return None

    async def create_meeting(self, access_token: str, *, topic: str, start: datetime, end: datetime,
                             time_zone: str, marker: str, retry: bool) -> Meeting:
        if retry:  # an earlier attempt may have made it before we could record it
            found = await self._find(access_token, marker)
            if found is not None:
                return found
        body = {
            "topic": topic[:200], "type": 2, "start_time": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": max(1, int((end - start).total_seconds() // 60)), "timezone": time_zone,
            "agenda": f"Booked through Codex ({marker})",
            "settings": {"join_before_host": False, "waiting_room": True},
        }
        response = await self._call("POST", "/v2/users/me/meetings", access_token, json=body)
        if response.status_code != 201:
            raise _failure("create a meeting", response)
        made = _json(response)
        return Meeting(str(made["id"]), made["join_url"], made.get("start_url"))

    async def delete_meeting(self, access_token: str, provider_meeting_id: str) -> None:
        response = await self._call("DELETE", f"/v2/meetings/{provider_meeting_id}", access_token)
        if response.status_code == 204:
            return
        if response.status_code == 404 and _json(response).get("code") == MEETING_MISSING_CODE:
            return
        raise _failure("delete a meeting", response)

    async def download(self, url: str, download_token: str, destination: Any, limit: int) -> int:
        """Stream a recording file (``download_url`` with the webhook's ``download_token``) to ``destination``
        (a binary file); at most ``limit`` bytes. Returns the size."""
        size = 0
        try:
            async with self._client() as client:
                response = await self._download_response(client, url, download_token)
                try:
                    if response.status_code != 200:
                        raise ProviderError(f"Zoom refused the recording download ({response.status_code})",
                                            retryable=response.status_code >= 500 or response.status_code == 429,
                                            status=response.status_code)
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise ProviderError("the recording is larger than storage accepts", retryable=False)
                        destination.write(chunk)
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            raise ProviderError(f"Zoom unreachable: {exc.__class__.__name__}") from exc
        return size


    def _download_allowed(self, url: str) -> bool:
        """A recording is fetched from Zoom only: https on zoom.us or a subdomain (its download host and the CDN it
        redirects to), or the configured API hosts (a stand-in in tests). The URL comes from a signed webhook,
        but the worker sends the download token to it and must never be pointed at an internal address."""
        parts = httpx.URL(url)
        host = (parts.host or "").lower()
        bases = [httpx.URL(self.api_base), httpx.URL(self.oauth_base)]
        if any(host == base.host and parts.scheme == base.scheme for base in bases):
            return True
        return parts.scheme == "https" and (host == "zoom.us" or host.endswith(".zoom.us"))

    async def _download_response(self, client: httpx.AsyncClient, url: str, download_token: str) -> httpx.Response:
        """The streamed response of the recording, following at most ``MAX_REDIRECTS`` redirects, each checked."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self._download_allowed(url):
                raise ProviderError("the recording's download URL is not Zoom's", retryable=False)
            request = client.build_request("GET", url, headers={"Authorization": f"Bearer {download_token}"})
            response = await client.send(request, stream=True)
            if not response.is_redirect:
                return response
            await response.aclose()
            url = str(response.next_request.url) if response.next_request else ""
        raise ProviderError("the recording's download redirected too often", retryable=False)


def _failure(action: str, response: httpx.Response) -> ProviderError:
    body = _json(response)
    retryable = response.status_code >= 500 or response.status_code == 429
    return ProviderError(f"Zoom could not {action}: {response.status_code} {body.get('code', '')} "
                         f"{body.get('message', '')}".strip(), retryable=retryable, status=response.status_code)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str | None, body: bytes, timestamp: str | None, signed: str | None,
           now: float | None = None) -> bool:
    if not secret or not timestamp or not signed or not timestamp.isdigit():
        return False
    if abs((now or time.time()) - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signed)


def url_validation(secret: str, plain_token: str) -> dict[str, str]:
    return {"plainToken": plain_token,
            "encryptedToken": hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()}
