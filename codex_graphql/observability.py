"""JSON logs carrying the request id (and the trace and span ids while tracing is on), and Prometheus metrics."""

from __future__ import annotations

import bisect
import contextvars
import hmac
import itertools
import logging
import os
import re
import secrets
import sys
import time
import traceback
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy import event

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


class _Child:
    """One labelled series of a ``LocalCounter``: a plain number, no lock."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class _HistogramChild:
    """One labelled series of a ``LocalHistogram``: per-bucket counts (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # le: a value equal to a bound is in it
        self.sum += value


class _LocalMetric:
    """A labelled metric kept in plain per-process numbers and folded into the exposition at scrape time.

    prometheus_client's Counter and Histogram take a lock per ``labels()`` and per ``inc()``/``observe()``;
    these are only ever updated from the event loop's thread (HTTP handlers), where the GIL already makes
    a ``+=`` on a float safe enough for a counter, and they are read by the registry when /metrics is
    served. The API (``labels(*values).inc()`` / ``.observe()``), the series names, the labels and the
    ``_created`` samples are those of prometheus_client."""

    def __init__(self, name: str, documentation: str, labelnames: Collection[str],
                 registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)  # read by tests/schema/test_operations_doc.py, like prometheus_client's
        self._children: dict[tuple[str, ...], Any] = {}
        registry.register(self)

    def _new_child(self) -> Any:
        raise NotImplementedError

    def labels(self, *values: Any) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name}: expected labels {self._labelnames}, got {values!r}")
            child = self._children.setdefault(tuple(str(v) for v in values), self._new_child())
            self._children[values] = child  # also under the values as given (e.g. an int status)
        return child

    def _series(self) -> Iterator[tuple[tuple[str, ...], Any]]:
        seen: set[int] = set()
        for key, child in list(self._children.items()):
            if id(child) not in seen and all(isinstance(v, str) for v in key):
                seen.add(id(child))
                yield key, child

    def _family(self) -> Metric:
        raise NotImplementedError

    def describe(self) -> list[Metric]:
        return [self._family()]


class LocalCounter(_LocalMetric):
    def _new_child(self) -> _Child:
        return _Child()

    def _family(self) -> Metric:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> list[Metric]:
        family = self._family()
        for key, child in self._series():
            family.add_metric(list(key), child.value, created=child.created)
        return [family]


class LocalHistogram(_LocalMetric):
    def __init__(self, name: str, documentation: str, labelnames: Collection[str], registry: CollectorRegistry,
                 buckets: tuple[float, ...]) -> None:
        self._bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> _HistogramChild:
        return _HistogramChild(self._bounds)

    def _family(self) -> Metric:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> list[Metric]:
        family = self._family()
        for key, child in self._series():
            cumulative, buckets = 0, []
            for bound, count in zip((*self._bounds, float("inf")), list(child.counts), strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(key), buckets, child.sum)
            family.add_sample(self._name + "_created", dict(zip(self._labelnames, key, strict=True)), child.created)
        return [family]


class Metrics:
    """One registry per app instance, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = LocalCounter(
            "codex_graphql_requests_total", "GraphQL requests by operation name.",
            ["operation"], registry=self.registry,
        )
        self.errors = LocalCounter(
            "codex_graphql_errors_total", "GraphQL errors by operation and code.",
            ["operation", "code"], registry=self.registry,
        )
        self.latency = LocalHistogram(
            "codex_graphql_request_duration_seconds", "GraphQL request latency by operation.",
            ["operation"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.http_requests = LocalCounter(
            "codex_http_requests_total", "HTTP requests by route and status.", ["route", "status"],
            registry=self.registry,
        )
        self.fastpath_fallbacks = LocalCounter(
            "codex_fastpath_fallback_total", "Root fields (or whole documents) the compiled path left to the "
            "resolvers, by reason (e.g. Organization.branding; bounded).", ["reason"], registry=self.registry,
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


class _RequestIds:
    """Request ids without uuid4 per request: a random per-process prefix (renewed in a forked child) and a
    counter, e.g. ``3f9a1c0e5b7d-1a2b``; unique across processes and restarts, 12-30 characters."""

    def __init__(self) -> None:
        self.reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = secrets.token_hex(6) + "-"
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


_request_ids = _RequestIds()
new_request_id = _request_ids.next


def pick_request_id(raw: str | None) -> str:
    return raw if raw and SAFE_REQUEST_ID.match(raw) else _request_ids.next()


def incoming_request_id(scope: Any) -> str:
    """The request id for an ASGI ``scope``: its ``x-request-id`` header when safe, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return pick_request_id(value.decode("latin-1"))
    return _request_ids.next()


def route_label(scope: Any, routes: Collection[str]) -> str:
    """The matched route's template (set by Starlette's router), never the raw path: bounded labels."""
    route = getattr(scope.get("route"), "path", None)
    if route is None:
        route = scope["path"] if scope["path"] in routes else "other"
    return route


class RequestIdMiddleware:
    """Gives every HTTP request an id (the client's ``x-request-id`` when safe), exposes it to logs
    through ``request_id_var``, echoes it on the response, and counts responses by route and status.
    (POST/GET /graphql usually bypasses it: ``app.CodexApp`` does the same work in one place.)"""

    def __init__(self, app: Any, metrics: Metrics | None = None, routes: Collection[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            if self.metrics is not None:
                self.metrics.http_requests.labels(route_label(scope, self.routes), str(status)).inc()
