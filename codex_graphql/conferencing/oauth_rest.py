"""What the Zoom and Google Meet providers share: OAuth 2 code and refresh grants at a token endpoint, and bearer
calls to a REST API over httpx, with the provider's failures as ``ProviderError`` (``TokenExpired`` on a 401)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from codex_graphql.conferencing.protocol import ProviderError, TokenExpired, Tokens

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class OAuthRestProvider:
    """A provider's OAuth grants and API calls; subclasses name themselves (``label``), say how their token
    endpoint is called (``_token_response``) and what a refusal says (``_refusal``, ``_expired``)."""

    label = "provider"

    def __init__(self, client_id: str, client_secret: str, *, api_base: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.api_base = api_base.rstrip("/")
        self.transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport)

    async def _token_response(self, client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
        raise NotImplementedError

    def _refusal(self, body: dict[str, Any], response: httpx.Response) -> Any:
        return body.get("error") or response.status_code

    def _expired(self, response: httpx.Response) -> str:
        return f"{self.label} refused the access token"

    async def _token(self, form: dict[str, str]) -> Tokens:
        try:
            async with self._client() as client:
                response = await self._token_response(client, form)
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.label} OAuth unreachable: {exc.__class__.__name__}") from exc
        body = json_body(response)
        if response.status_code != 200 or "access_token" not in body:
            raise ProviderError(f"{self.label} OAuth refused: {self._refusal(body, response)}",
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
            raise ProviderError(f"{self.label} unreachable: {exc.__class__.__name__}") from exc
        if response.status_code == 401:
            raise TokenExpired(self._expired(response))
        return response
