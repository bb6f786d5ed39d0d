"""WebSocket /graphql: subscriptions over ``graphql-transport-ws``.

The viewer comes from the ``connection_init`` payload (``{"authorization": "Bearer <token>"}`` or
``{"token": "<token>"}``), never from cookies, so a page on another origin cannot ride a
browser's session over a cross-site WebSocket. ``"organization": "<id or slug>"`` in the same payload
picks the organization the connection acts in (as the ``X-Codex-Organization`` header does per HTTP
request); naming one the viewer is not a member of closes the connection with 4403 Forbidden.

A connection stays bound to its session (see subscription_guard.py for the per-event check). Each
authenticated connection registers its session and user with the process's session resolver
(``SessionResolver.watch``); every invalidation of either, made on this instance or broadcast by another
(logout, logout everywhere, password reset, role and membership changes), re-reads the viewer from
PostgreSQL, and then:

* session gone (revoked, expired, password reset): the socket closes with 4401 Unauthorized;
* the organization named in ``connection_init`` is no longer one of the viewer's: 4403 Forbidden, as at
  connection_init;
* otherwise the connection continues as the new viewer: each running subscription whose guard no longer
  holds gets an ``error`` message with ``extensions.code`` FORBIDDEN for its id and ends; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from codex_graphql.accounts.security import token_hash
from codex_graphql.authz import ANONYMOUS, Viewer
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
from codex_graphql.subscription_guard import OPERATION, LiveGuard

log = logging.getLogger(__name__)
UNAUTHORIZED = 4401  # graphql-transport-ws: the session behind the connection is gone
FORBIDDEN = 4403  # the connection's organization choice is refused


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
    organization_hint: str | None = None  # the connection_init ``organization`` choice
    connection: Any = None  # the CodexTransportWSHandler serving this context


class CodexTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws that follows the session: see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guards: dict[str, LiveGuard] = {}
        self._unwatch: Callable[[], None] | None = None
        self._recheck: asyncio.Task[None] | None = None
        self._stale = False
        self._closed = False
        if isinstance(self.context, WebSocketContext):
            self.context.connection = self

    def follow(self, context: WebSocketContext) -> None:
        """Called at connection_init for an authenticated viewer: re-check on every invalidation."""
        viewer = context.viewer
        if context.token and viewer.user_id is not None and self._unwatch is None:
            self._unwatch = context.services.sessions.watch(token_hash(context.token), viewer.user_id, self.invalidated)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        OPERATION.set(operation.id)  # this task's context: subscription_guard.events finds its operation
        await super().run_operation(operation)

    async def shutdown(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._recheck is not None:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._recheck
        await super().shutdown()

    # --- subscription_guard.Connection ----------------------------------------------------------------

    def track(self, operation_id: str, guard: LiveGuard) -> None:
        self.guards[operation_id] = guard

    def untrack(self, operation_id: str, guard: LiveGuard) -> None:
        if self.guards.get(operation_id) is guard:
            del self.guards[operation_id]

    async def may_deliver(self, operation_id: str, guard: LiveGuard) -> bool:
        """Before each event: the viewer from the session cache (in memory while fresh, dropped by the
        invalidation broadcast) and the connection's current viewer must both pass the guard."""
        context: WebSocketContext = self.context
        if self._closed:
            return False
        if context.token:
            viewer = await context.services.sessions.resolve(context.token, context.organization_hint)
            if not await self._session_holds(viewer):
                return False
            if not (guard.allows(viewer) and guard.allows(context.viewer)):
                await self._forbid(operation_id, guard, cancel=False)
                return False
        elif not guard.allows(context.viewer):
            await self._forbid(operation_id, guard, cancel=False)
            return False
        return True

    # --- invalidations --------------------------------------------------------------------------------

    def invalidated(self) -> None:
        """SessionResolver callback (synchronous): schedule one re-check, coalescing bursts. A re-check
        that is running reads again once it is done, so the last one always starts after the last
        invalidation (and so after the commit that caused it)."""
        self._stale = True
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.create_task(self._recheck_viewer(), name="ws-session-recheck")

    async def _recheck_viewer(self) -> None:
        context: WebSocketContext = self.context
        while self._stale and not self._closed:
            self._stale = False
            try:
                viewer = await context.services.sessions.reload(context.token, context.organization_hint)
            except Exception:  # the database is away: the per-event check (session cache) still applies
                log.warning("could not re-check a WebSocket's session", exc_info=True)
                return
            if not await self._session_holds(viewer):
                return
            context.viewer = viewer  # new operations on this connection run as the viewer is now
            for operation_id, guard in list(self.guards.items()):
                if not guard.allows(viewer):
                    await self._forbid(operation_id, guard, cancel=True)

    async def _session_holds(self, viewer: Viewer) -> bool:
        """False (and the socket closed) when the session ended or the organization choice is refused."""
        if not viewer.is_authenticated:
            await self._close(UNAUTHORIZED, "Unauthorized")
            return False
        if organization_refused(viewer, self.context.organization_hint):
            await self._close(FORBIDDEN, "Forbidden")
            return False
        return True

    async def _forbid(self, operation_id: str, guard: LiveGuard, *, cancel: bool) -> None:
        """End one subscription with an ``error`` message (FORBIDDEN); the connection stays."""
        self.guards.pop(operation_id, None)
        operation = self.operations.get(operation_id)
        if operation is None:
            return
        with contextlib.suppress(Exception):  # the client may be gone already
            await operation.send_operation_message({"id": operation_id, "type": "error", "payload": [guard.refusal()]})
        if cancel and operation.task is not None and operation.task is not asyncio.current_task():
            operation.task.cancel()

    async def _close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for operation in list(self.operations.values()):
            operation.completed = True  # nothing more is sent for it, not even its `complete`
            if operation.task is not None and operation.task is not current:
                operation.task.cancel()
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)


class GraphQLWebSocket(GraphQL):
    graphql_transport_ws_handler_class = CodexTransportWSHandler

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
        context.organization_hint = chosen
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
        if context.connection is not None:
            context.connection.follow(context)
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
