"""WebSocket /graphql: subscriptions over ``graphql-transport-ws``.

The viewer comes from the ``connection_init`` payload (``{"authorization": "Bearer <token>"}`` or
``{"token": "<token>"}``), never from cookies, so a page on another origin cannot ride a
browser's session over a cross-site WebSocket. ``"organization": "<id or slug>"`` in the same payload
picks the organization the connection acts in (as the ``X-Codex-Organization`` header does per HTTP
request); naming one the viewer is not a member of closes the connection with 4403 Forbidden.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from codex_graphql.authz import ANONYMOUS
from codex_graphql.context import (
    ORGANIZATION_HEADER,
    ORGANIZATION_REFUSED,
    Context,
    organization_choice,
    organization_refused,
)
from codex_graphql.ratelimit import caller_key, limits_for
from codex_graphql.schema import CodexSchema
from codex_graphql.services import Services


def token_from_params(params: Any) -> str | None:
    if not isinstance(params, dict):
        return None
    raw = params.get("authorization") or params.get("Authorization") or params.get("token")
    if not isinstance(raw, str):
        return None
    return raw[7:].strip() if raw[:7].lower() == "bearer " else raw.strip() or None


def organization_from_params(params: Any) -> str | None:
    """The organization this connection acts in (``organization``, or ``X-Codex-Organization`` as the
    HTTP header is named): an id or slug the viewer must be a member of; the session's choice otherwise."""
    if not isinstance(params, dict):
        return None
    for key in ("organization", "X-Codex-Organization", ORGANIZATION_HEADER):
        if key in params:
            raw = params[key]
            if raw is None or isinstance(raw, str):
                return organization_choice(raw)  # null or blank: not named
            return str(raw)  # not a name (a number, an object): matches no membership, so refused
    return None


class WebSocketContext(Context):
    """A subscription's context; ``connection_params`` is filled in by strawberry at connection_init."""

    connection_params: Any = None
    # (caller, lease id, lease renewal task) while this connection holds a slot (ratelimit.ConnectionLimiter).
    connection_slot: Any = None


class GraphQLWebSocket(GraphQL):
    def __init__(self, schema: CodexSchema, services_getter: Any, max_subscriptions: int = 20) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=False,
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=max_subscriptions,
        )
        self.services_getter = services_getter

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            context = scope.get("codex.ws_context")
            if context is not None and context.connection_slot is not None:
                caller, lease, renewal = context.connection_slot
                context.connection_slot = None
                renewal.cancel()
                await limits_for(context.services).connections.release(caller, lease)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Any:
        services: Services = self.services_getter()
        context = WebSocketContext(services=services, viewer=ANONYMOUS, request_id=uuid.uuid4().hex,
                                   client_ip=request.client.host if request.client else "")
        request.scope["codex.ws_context"] = context  # for releasing the connection slot in __call__
        return context

    async def on_ws_connect(self, context: Any) -> Any:
        token = token_from_params(context.connection_params)
        chosen = organization_from_params(context.connection_params)
        if token:
            viewer = await context.services.sessions.resolve(token, chosen)
            if not viewer.is_authenticated:
                # A wrong token must not silently become an anonymous connection.
                raise ConnectionRejectionError({"message": "Invalid or expired session token."})
            context.viewer = viewer
            context.token = token
        if organization_refused(context.viewer, chosen):
            # Closed with 4403 Forbidden, as graphql-transport-ws does for any rejected connection_init.
            raise ConnectionRejectionError({"message": ORGANIZATION_REFUSED, "code": "FORBIDDEN"})
        await self._take_connection_slot(context)
        return None

    async def _take_connection_slot(self, context: WebSocketContext) -> None:
        """MAX_WS_CONNECTIONS_PER_USER: one lease per live connection, per user (per IP when anonymous)."""
        if context.connection_slot is not None:
            return
        limiter = limits_for(context.services).connections
        caller = caller_key(context)
        lease = await limiter.acquire(caller, context.services.settings.max_ws_connections_per_user)
        if lease is None:
            raise ConnectionRejectionError({"message": "Too many open connections.", "code": "TOO_MANY_CONNECTIONS"})
        context.connection_slot = (caller, lease, asyncio.create_task(limiter.keep_alive(caller, lease)))
