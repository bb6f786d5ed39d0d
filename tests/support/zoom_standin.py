"""A small, faithful stand-in for the parts of Zoom the server uses: OAuth 2 (authorize redirect, the token
endpoint with HTTP Basic client auth, single-use codes, rotating refresh tokens, expiring access tokens), the
meetings API (``POST``/``GET /v2/users/me/meetings``, ``DELETE /v2/meetings/{id}``) with Zoom's documented
shapes and error bodies (``{"code": 124, "message": "Access token is expired."}`` with 401, ``3001`` for a
missing meeting), recording downloads that need the webhook's ``download_token``, and webhook bodies signed
the way Zoom signs them (``x-zm-signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.live_server import live_server

__all__ = ["ZoomStandIn", "running_zoom"]


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class ZoomStandIn:
    def __init__(self, client_id: str, client_secret: str, webhook_secret: str) -> None:
        self.client_id, self.client_secret, self.webhook_secret = client_id, client_secret, webhook_secret
        self.base_url = ""
        self.codes: dict[str, str] = {}  # code -> redirect_uri it was issued for
        self.access: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.refresh_tokens: set[str] = set()
        self.access_ttl = 3599
        self.meetings: dict[int, dict[str, Any]] = {}
        self.recordings: dict[str, bytes] = {}  # file id -> bytes
        self.download_tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.fail_status: int | None = None  # answer every API call (not OAuth) with this while set
        self.during_request: Callable[[str, str], Awaitable[None]] | None = None
        self._next_id = 81_234_567_890

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/oauth/authorize", self.authorize, methods=["GET"]),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/v2/users/me/meetings", self.create_meeting, methods=["POST"]),
            Route("/v2/users/me/meetings", self.list_meetings, methods=["GET"]),
            Route("/v2/meetings/{id}", self.delete_meeting, methods=["DELETE"]),
            Route("/rec/download/{file_id}", self.download, methods=["GET"]),
        ])

    # OAuth ---------------------------------------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        """The consent screen, already agreed to: back to ``redirect_uri`` with a single-use code."""
        query = request.query_params
        if query.get("response_type") != "code" or query.get("client_id") != self.client_id:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = query["redirect_uri"]
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}",
                                status_code=302)

    def _issue(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access] = time.time() + self.access_ttl
        self.refresh_tokens.add(refresh)
        return {"access_token": access, "token_type": "bearer", "refresh_token": refresh,
                "expires_in": self.access_ttl, "scope": "meeting:write meeting:read"}

    async def token(self, request: Request) -> Response:
        self.requests.append(("POST", "/oauth/token"))
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                                status_code=401)
        form = await request.form()
        grant = form.get("grant_type")
        if grant == "authorization_code":
            redirect = self.codes.pop(str(form.get("code")), None)
            if redirect is None or redirect != form.get("redirect_uri"):
                return JSONResponse({"reason": "Invalid authorization code", "error": "invalid_grant"},
                                    status_code=400)
            return JSONResponse(self._issue())
        if grant == "refresh_token":
            refresh = str(form.get("refresh_token"))
            if refresh not in self.refresh_tokens:
                return JSONResponse({"reason": "Invalid Token!", "error": "invalid_request"}, status_code=400)
            self.refresh_tokens.discard(refresh)  # Zoom rotates refresh tokens: each works once
            return JSONResponse(self._issue())
        return JSONResponse({"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, status_code=400)

    def expire_all(self) -> None:
        for token in self.access:
            self.access[token] = time.time() - 1

    # API -----------------------------------------------------------------------------------------------------
    async def _guard(self, request: Request) -> Response | None:
        self.requests.append((request.method, request.url.path))
        if self.during_request is not None:
            await self.during_request(request.method, request.url.path)
        if self.fail_status is not None:
            return _error(self.fail_status, self.fail_status, "Service temporarily unavailable.")
        header = request.headers.get("authorization", "")
        token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        expires = self.access.get(token)
        if expires is None:
            return _error(401, 124, "Invalid access token.")
        if expires < time.time():
            return _error(401, 124, "Access token is expired.")
        return None

    async def create_meeting(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, 300, "Invalid request body.")
        if body.get("type", 2) not in (1, 2, 3, 8) or not isinstance(body.get("duration", 0), int):
            return _error(400, 300, "Invalid field.")
        if body.get("type") == 2 and not body.get("start_time"):
            return _error(400, 300, "start_time is required for a scheduled meeting.")
        if len(str(body.get("topic", ""))) > 200:
            return _error(400, 300, "Topic is too long.")
        meeting_id, self._next_id = self._next_id, self._next_id + 1
        password = secrets.token_hex(4)
        meeting = {
            "uuid": base64.b64encode(secrets.token_bytes(16)).decode(), "id": meeting_id, "host_id": "zHostStandIn",
            "host_email": "host@example.com", "topic": body.get("topic", "Zoom Meeting"), "type": body.get("type", 2),
            "status": "waiting", "start_time": body.get("start_time"), "duration": body.get("duration", 60),
            "timezone": body.get("timezone", "UTC"), "agenda": body.get("agenda", ""),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start_url": f"https://zoom.us/s/{meeting_id}?zak=standin", "password": password,
            "join_url": f"https://zoom.us/j/{meeting_id}?pwd={password}", "settings": body.get("settings", {}),
        }
        self.meetings[meeting_id] = meeting
        return JSONResponse(meeting, status_code=201)

    async def list_meetings(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        size = min(int(request.query_params.get("page_size", "30")), 300)
        start = int(request.query_params.get("next_page_token") or 0)
        rows = list(self.meetings.values())
        page = rows[start:start + size]
        keys = ("uuid", "id", "host_id", "topic", "type", "start_time", "duration", "timezone", "agenda",
                "created_at", "join_url")
        return JSONResponse({"page_size": size, "total_records": len(rows),
                             "next_page_token": str(start + size) if start + size < len(rows) else "",
                             "meetings": [{k: m[k] for k in keys} for m in page]})

    async def delete_meeting(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        raw = request.path_params["id"]
        if not raw.isdigit() or self.meetings.pop(int(raw), None) is None:
            return _error(404, 3001, f"Meeting does not exist: {raw}.")
        return Response(status_code=204)

    async def download(self, request: Request) -> Response:
        self.requests.append(("GET", request.url.path))
        if self.during_request is not None:
            await self.during_request(request.method, request.url.path)
        header = request.headers.get("authorization", "")
        token = header[len("Bearer "):] if header.startswith("Bearer ") else request.query_params.get("access_token")
        if token not in self.download_tokens:
            return _error(401, 124, "Invalid access token.")
        data = self.recordings.get(request.path_params["file_id"])
        if data is None:
            return _error(404, 3301, "This recording does not exist.")
        return Response(data, media_type="video/mp4")

    # Webhooks ------------------------------------------------------------------------------------------------
    def recording_completed(self, meeting_id: int, data: bytes, instance: str | None = None) -> dict[str, Any]:
        """A ``recording.completed`` event for the meeting, its MP4 downloadable with the event's token."""
        meeting = self.meetings.get(meeting_id) or {"topic": "Meeting", "start_time": None}
        file_id = secrets.token_hex(8)
        self.recordings[file_id] = data
        token = secrets.token_urlsafe(24)
        self.download_tokens.add(token)
        return {
            "event": "recording.completed", "event_ts": int(time.time() * 1000), "download_token": token,
            "payload": {"account_id": "AcctStandIn", "object": {
                "uuid": instance or base64.b64encode(secrets.token_bytes(16)).decode(), "id": meeting_id,
                "host_id": "zHostStandIn", "topic": meeting["topic"], "type": 2,
                "start_time": meeting["start_time"], "duration": 60, "total_size": len(data), "recording_count": 2,
                "recording_files": [
                    {"id": secrets.token_hex(8), "file_type": "M4A", "file_extension": "M4A", "file_size": 10,
                     "download_url": f"{self.base_url}/rec/download/none", "status": "completed",
                     "recording_type": "audio_only"},
                    {"id": file_id, "meeting_id": "instance", "file_type": "MP4", "file_extension": "MP4",
                     "file_size": len(data), "download_url": f"{self.base_url}/rec/download/{file_id}",
                     "status": "completed", "recording_type": "shared_screen_with_speaker_view"},
                ]}},
        }

    def signed(self, event: dict[str, Any], *, secret: str | None = None,
               timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event).encode()
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        mac = hmac.new((secret or self.webhook_secret).encode(), b"v0:" + stamp.encode() + b":" + body,
                       hashlib.sha256).hexdigest()
        return body, {"x-zm-request-timestamp": stamp, "x-zm-signature": f"v0={mac}",
                      "content-type": "application/json"}


@asynccontextmanager
async def running_zoom(client_id: str = "zoom-client", client_secret: str = "zoom-secret",
                       webhook_secret: str = "zoom-webhook-secret") -> AsyncIterator[ZoomStandIn]:
    standin = ZoomStandIn(client_id, client_secret, webhook_secret)
    async with live_server(standin.app()) as address:
        standin.base_url = f"http://{address}"
        yield standin
