"""HTTP routes of conferencing: the OAuth callback, Zoom's webhook and the demo provider's meeting page."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from codex_graphql.conferencing import credentials, webhooks
from codex_graphql.conferencing import service as conferencing
from codex_graphql.conferencing.protocol import ProviderError
from codex_graphql.db import TenantScope
from codex_graphql.services import Services

MAX_WEBHOOK_BYTES = 512 * 1024


def _page(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head>"
                        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>", status_code=status)


def conferencing_routes(get_services: Any) -> list[Route]:
    async def oauth_callback(request: Request) -> Response:
        """Trade the code for tokens (no transaction open), then store them in the state's organization."""
        services: Services = get_services()
        settings = services.settings
        try:
            state = credentials.open_state(settings.secret_key, request.query_params.get("state", ""))
        except credentials.BadState:
            return _page("Connection refused", "This link is not valid or has expired; start again.", 400)
        done = f"{settings.public_base_url.rstrip('/')}/?"
        if request.query_params.get("error"):
            return RedirectResponse(done + urlencode({"conferencing": "denied"}), status_code=303)
        provider = conferencing.provider_for(settings, state.provider)
        code = request.query_params.get("code", "")
        if provider is None or not code:
            return _page("Connection refused", "This provider is not available.", 400)
        try:
            tokens = await provider.exchange_code(code, conferencing.redirect_uri(settings))
        except ProviderError:
            return _page("Connection failed", "The provider did not accept the authorization; try again.", 502)
        scope = TenantScope(user_id=state.user_id, organization_id=state.organization_id)
        async with services.db.transaction(scope) as session:
            recorded = await conferencing.record_connection(session, settings, state, tokens)
        if not recorded:
            return _page("Connection refused", "You may no longer manage this organization's settings.", 403)
        return RedirectResponse(done + urlencode({"conferencing": "connected"}), status_code=303)

    async def zoom_webhook(request: Request) -> Response:
        services: Services = get_services()
        secret = services.settings.zoom_webhook_secret
        if not secret:
            return JSONResponse({"error": "not found"}, status_code=404)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        raw = await request.body()
        if len(raw) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            payload = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        outcome = await webhooks.ingest(services.db, secret, raw, request.headers.get("x-zm-request-timestamp"),
                                        request.headers.get("x-zm-signature"), payload)
        if outcome.queued:
            services.relay.notify()
        return JSONResponse(outcome.body, status_code=outcome.status)

    async def local_meeting(request: Request) -> Response:
        services: Services = get_services()
        if conferencing.provider_for(services.settings, "LOCAL") is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        room = request.path_params["room"]
        if len(room) != 32 or not all(c in "0123456789abcdef" for c in room):
            return _page("No such meeting", "This meeting link is not valid.", 404)
        return _page("Demo meeting room", f"Room {room}: the local conferencing provider stands in for Zoom or "
                     "Google Meet here; no video is sent anywhere.", 200)

    return [
        Route(conferencing.CALLBACK_PATH, oauth_callback, methods=["GET"]),
        Route("/webhooks/zoom", zoom_webhook, methods=["POST"]),
        Route("/meet/{room}", local_meeting, methods=["GET"]),
    ]
