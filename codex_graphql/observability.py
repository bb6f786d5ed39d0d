"""JSON logs carrying the request id (and the trace and span ids while tracing is on), and Prometheus metrics."""

from __future__ import annotations

import contextvars
import hmac
import logging
import re
import sys
import traceback
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import event
from starlette.datastructures import Headers, MutableHeaders

from codex_graphql import tracing

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        ids = tracing.log_ids()  # the active span's ids (None while tracing is off)
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class Metrics:
    """One registry per app instance, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "codex_graphql_requests_total", "GraphQL requests by operation name.",
            ["operation"], registry=self.registry,
        )
        self.errors = Counter(
            "codex_graphql_errors_total", "GraphQL errors by operation and code.",
            ["operation", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "codex_graphql_request_duration_seconds", "GraphQL request latency by operation.",
            ["operation"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.http_requests = Counter(
            "codex_http_requests_total", "HTTP requests by route and status.", ["route", "status"],
            registry=self.registry,
        )


    def watch_pool(self, pool: Any) -> None:
        """Database pool gauges, and a count of checkouts that left no free connection (the next
        request then waits): the signal to raise DB_POOL_SIZE or add instances."""
        limit = pool.size() + max(pool._max_overflow, 0)  # noqa: SLF001 (no public accessor)
        Gauge("codex_db_pool_size", "Connections the pool keeps open.", registry=self.registry).set_function(pool.size)
        Gauge("codex_db_pool_checked_out", "Connections in use.", registry=self.registry).set_function(pool.checkedout)
        Gauge("codex_db_pool_overflow", "Connections open beyond the pool size.", registry=self.registry).set_function(
            pool.overflow)
        saturated = Counter("codex_db_pool_saturated_total", "Checkouts that left the pool with no free connection.",
                            registry=self.registry)

        def on_checkout(*_: Any) -> None:
            if pool.checkedout() >= limit:
                saturated.inc()

        event.listen(pool, "checkout", on_checkout)


def metrics_refusal(settings: Any, authorization: str | None) -> tuple[int, dict[str, str]] | None:
    """Whether GET /metrics may answer this caller: None to serve, else (status, headers).

    With METRICS_TOKEN only ``Authorization: Bearer <token>`` is served (compared in constant time;
    401 otherwise). Without a token the endpoint is open when METRICS_PUBLIC is true (the default
    outside production) and answers 404 otherwise, as if it did not exist."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return 401, {"www-authenticate": 'Bearer realm="metrics"'}
    public = settings.metrics_public
    if public is None:  # settings copied without validation (model_copy) keep the unresolved default
        public = settings.environment != "production"
    return None if public else (404, {})


# A client may pass its own trace id; anything else (too long, odd characters) is replaced.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def pick_request_id(raw: str | None) -> str:
    return raw if raw and SAFE_REQUEST_ID.match(raw) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every HTTP request an id (the client's ``x-request-id`` when safe), exposes it to logs
    through ``request_id_var``, echoes it on the response, and counts responses by route and status."""

    def __init__(self, app: Any, metrics: Metrics | None = None, routes: Collection[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = set(routes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = pick_request_id(Headers(scope=scope).get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            if self.metrics is not None:
                # The matched route's template (set by Starlette's router), never the raw path: bounded labels.
                route = getattr(scope.get("route"), "path", None)
                if route is None:
                    route = scope["path"] if scope["path"] in self.routes else "other"
                self.metrics.http_requests.labels(route, str(status)).inc()
