"""Subscriptions stay authorized for as long as they run, not only when they start.

A subscription resolver wraps its event source in ``events(info, source, arguments)``. The field's own
guard (the rules of its ``guarded_subscription``, declared once) and the organization it was started in
are kept as a ``LiveGuard`` and checked again:

* on every invalidation of the subscriber's session or user (logout, password reset, role or membership
  change), by the WebSocket connection with the viewer re-read from PostgreSQL (graphql_ws.py);
* before every event is delivered, against the viewer from the session cache (an in-memory lookup, the
  entry the invalidation broadcast drops), so that a lost broadcast leaks at most until that entry
  expires (``SESSION_LOCAL_CACHE_SECONDS``).

A subscription whose guard no longer holds ends with an ``error`` message (``FORBIDDEN``); a session that
is gone closes the socket with 4401.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from graphql import GraphQLError
from strawberry.permission import PermissionExtension

from codex_graphql.authz import Viewer
from codex_graphql.errors import Forbidden
from codex_graphql.events import event_channel
from codex_graphql.permissions import Rule, organization_id_of
from codex_graphql.relay import decode_id

T = TypeVar("T")

# The graphql-transport-ws operation id the current task runs (set by the connection for its operations).
OPERATION: ContextVar[str | None] = ContextVar("codex_subscription_operation", default=None)


class Connection(Protocol):
    """What a live connection offers the guard (graphql_ws.CodexTransportWSHandler)."""

    def track(self, operation_id: str, guard: LiveGuard) -> None: ...
    def untrack(self, operation_id: str, guard: LiveGuard) -> None: ...
    async def may_deliver(self, operation_id: str, guard: LiveGuard) -> bool: ...


@dataclass(frozen=True, slots=True)
class _ViewerOnly:
    viewer: Viewer


@dataclass(frozen=True, slots=True)
class _Info:
    """The part of ``strawberry.Info`` the rules read: ``info.context.viewer``."""

    context: _ViewerOnly


@dataclass(frozen=True)
class LiveGuard:
    field: str
    rules: tuple[Rule, ...]
    arguments: dict[str, Any]
    organization_id: uuid.UUID | None

    def allows(self, viewer: Viewer) -> bool:
        """The field's rules hold for ``viewer``, in the organization the subscription started in."""
        if organization_id_of(None, viewer, self.arguments) != self.organization_id:
            return False  # the connection now acts in another organization: its events are not this one's
        info = _Info(_ViewerOnly(viewer))
        for rule in self.rules:
            try:
                if not rule.has_permission(None, info, **self.arguments):  # type: ignore[arg-type]
                    return False
            except GraphQLError:  # the rules raise UNAUTHENTICATED / FORBIDDEN for some refusals
                return False
        return True

    def refusal(self) -> dict[str, Any]:
        """The ``error`` message payload entry ending a subscription whose guard no longer holds."""
        rules = " ".join(rule.describe() for rule in self.rules)
        message = f"Your access changed: {self.field} ended. {rules}".strip()
        return GraphQLError(message, path=[self.field], extensions={"code": "FORBIDDEN"}).formatted


def guard_of(info: Any, arguments: dict[str, Any]) -> LiveGuard:
    rules: list[Rule] = []
    for extension in info._field.extensions:
        if isinstance(extension, PermissionExtension):
            rules += [rule for rule in extension.permissions if isinstance(rule, Rule)]
    viewer = info.context.viewer
    return LiveGuard(info.field_name, tuple(rules), dict(arguments), organization_id_of(None, viewer, arguments))


async def events(info: Any, source: AsyncIterator[bytes], arguments: dict[str, Any] | None = None) -> AsyncIterator[bytes]:
    """``source``'s messages while the subscriber still passes the field's guard. ``arguments``: the
    field's arguments as the rules receive them (Python names)."""
    connection: Connection | None = getattr(info.context, "connection", None)
    operation_id = OPERATION.get()
    async with aclosing(source):  # type: ignore[type-var]
        if connection is None or operation_id is None:  # not on a live connection: nothing to follow
            async for message in source:
                yield message
            return
        guard = guard_of(info, arguments or {})
        connection.track(operation_id, guard)
        try:
            async for message in source:
                if not await connection.may_deliver(operation_id, guard):
                    return
                yield message
        finally:
            connection.untrack(operation_id, guard)


async def organization_events(info: Any, organization_id: str, types: Mapping[str, T],
                              refusal: str) -> AsyncIterator[tuple[T, dict[str, Any]]]:
    """The outbox events of ``types`` of the connection's active organization, as (type, message): FORBIDDEN
    (``refusal``) unless ``organization_id`` names that organization; each delivered only while the subscriber
    still passes the field's guard (``events``). ``purchaseEvents`` and ``subscriptionEvents`` read through it."""
    ctx = info.context
    active = ctx.viewer.active_organization_id
    if decode_id(organization_id, "Organization") != active or active is None:
        raise Forbidden(refusal)
    source = ctx.services.pubsub.subscribe(event_channel(active))
    async for raw in events(info, source, {"organization_id": organization_id}):
        message = orjson.loads(raw)
        kind = types.get(message.get("type"))
        if kind is not None and message.get("organizationId") == str(active):
            yield kind, message
