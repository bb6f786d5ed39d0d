"""OpenTelemetry traces: off unless configured, one span per GraphQL operation when on.

``setup(settings)`` installs an SDK ``TracerProvider`` only when tracing is asked for: ``TRACING_ENABLED=true``,
or an ``OTEL_TRACES_EXPORTER`` other than ``none`` (``OTEL_SDK_DISABLED=true`` wins over both). Without it no
provider exists, nothing is instrumented, and every helper here returns after one module-level boolean check,
so the request hot path pays nothing. When on:

- HTTP requests get a server span (``TracingMiddleware``); a W3C ``traceparent`` is continued only from
  trusted callers (``TRACE_TRUSTED_IPS``, by default ``FORWARDED_ALLOW_IPS``), otherwise a new trace starts
  with a link to the one the caller named;
- each GraphQL operation gets one span (``operation_span``; graphql_http.py sets its attributes), with
  children for SQL statements (asyncpg instrumentation), Redis commands (redis instrumentation), Stripe's
  HTTP calls (httpx instrumentation), storage and payment provider calls and dataloader batches (wrapped
  here); the compiled fast path adds no span of its own beyond the operation span;
- the outbox stores the enqueuing span's ``traceparent`` inside the message payload (``TRACE_KEY``); the
  relay hands it to Dramatiq in the message options and ``workers.broker.TracingMiddleware`` starts the
  job's span as its child, so a job appears in the trace of the request that asked for it.

Exporters come from the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, the default when only
``TRACING_ENABLED`` is set, or ``console``), ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``..._TRACES_ENDPOINT`` /
``..._HEADERS`` (OTLP over HTTP/protobuf), ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` / ``..._ARG`` and ``OTEL_BSP_*`` (batching).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

# Read as ``tracing.ENABLED`` (module attribute) so a later ``setup`` is seen everywhere.
ENABLED = False
TRACE_KEY = "_trace"  # key of the traceparent inside an outbox row's payload; removed before delivery
TRACER_NAME = "codex_graphql"

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: Any = None
_tracer: trace.Tracer = trace.NoOpTracer()
_undo: list[Any] = []  # callables that remove what setup() patched or instrumented
_trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
_trust_all = False
_NULL = contextlib.nullcontext()  # reusable: what operation_span costs while tracing is off


def wanted(settings: Any) -> bool:
    """Whether these settings and the process environment ask for traces."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    explicit = getattr(settings, "tracing_enabled", None)
    if explicit is not None:
        return bool(explicit)
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    return bool(exporter) and exporter != "none"


def provider() -> Any:
    """The SDK TracerProvider installed by ``setup`` (None while tracing is off)."""
    return _provider


def tracer() -> trace.Tracer:
    return _tracer


def setup(settings: Any, exporter: Any = None, *, service_name: str = "codex-graphql") -> Any:
    """Install tracing for this process when ``settings`` (or an explicit ``exporter``, for tests) ask for it;
    returns the provider or None. A second call keeps the installed provider (several apps in one process
    share it) and only refreshes the trusted callers."""
    global ENABLED, _provider, _tracer
    _set_trusted(settings)
    if _provider is not None:
        return _provider
    if exporter is None and not wanted(settings):
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    new_provider = TracerProvider(resource=Resource.create(attributes), sampler=_sampler())
    for processor in _processors(exporter):
        new_provider.add_span_processor(processor)
    _provider, _tracer = new_provider, new_provider.get_tracer(TRACER_NAME)
    _instrument(new_provider)
    ENABLED = True
    log.info("tracing on", extra={"exporters": os.environ.get("OTEL_TRACES_EXPORTER") or "otlp"})
    return new_provider


def shutdown() -> None:
    """Flush and remove tracing (process exit, or a test that installed it); tracing is off afterwards."""
    global ENABLED, _provider, _tracer
    ENABLED = False
    current, _provider, _tracer = _provider, None, trace.NoOpTracer()
    while _undo:
        try:
            _undo.pop()()
        except Exception:  # noqa: BLE001 (best effort: one failing uninstrumentation must not stop the rest)
            log.warning("removing an instrumentation failed", exc_info=True)
    if current is not None:
        current.shutdown()


def _sampler() -> Any:
    """The sampler OTEL_TRACES_SAMPLER names (parent-based, always on by default), except that an SQL statement
    or Redis command outside any request or job (the outbox relay's polls, cache refreshes) starts no trace of
    its own: those would be a root trace every poll."""
    from opentelemetry.sdk.trace import sampling

    configured = sampling._get_from_env_or_default()  # noqa: SLF001 (the SDK's own OTEL_TRACES_SAMPLER reader)

    class SkipLoneClientCalls(sampling.Sampler):
        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None, trace_state: Any = None) -> Any:
            lone = not trace.get_current_span(parent_context).get_span_context().is_valid
            if lone and attributes and "db.system" in attributes:
                return sampling.SamplingResult(sampling.Decision.DROP)
            return configured.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"SkipLoneClientCalls({configured.get_description()})"

    return SkipLoneClientCalls()


def _processors(exporter: Any) -> list[Any]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if exporter is not None:
        return [SimpleSpanProcessor(exporter)]
    names = [n.strip().lower() for n in (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(",") if n.strip()]
    processors: list[Any] = []
    for name in names:
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            if protocol != "http/protobuf":
                log.warning("only OTLP over http/protobuf is installed; exporting with it", extra={"asked": protocol})
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name != "none":
            log.warning("unknown OTEL_TRACES_EXPORTER entry ignored", extra={"exporter": name})
    return processors


def _instrument(tracer_provider: Any) -> None:
    """Client libraries' official instrumentations, plus spans around the calls that leave the process
    through our own protocols (storage, payments) and around dataloader batches."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    for instrumentor in (AsyncPGInstrumentor(), RedisInstrumentor(), HTTPXClientInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=tracer_provider)
            _undo.append(instrumentor.uninstrument)

    import aiodataloader

    original = aiodataloader.dispatch_queue_batch

    async def dispatch_queue_batch(loader: Any, queue: list[Any]) -> None:
        with span(f"dataloader {type(loader).__name__}", {"codex.dataloader.batch_size": len(queue)}):
            await original(loader, queue)

    aiodataloader.dispatch_queue_batch = dispatch_queue_batch  # type: ignore[assignment]
    _undo.append(lambda: setattr(aiodataloader, "dispatch_queue_batch", original))

    from codex_graphql.payments.local import LocalProvider
    from codex_graphql.payments.stripe import StripeProvider
    from codex_graphql.storage.local import LocalStorage
    from codex_graphql.storage.s3 import S3Storage

    storage_calls = ("presign_put", "create_multipart", "presign_part", "complete_multipart", "abort_multipart",
                     "head", "presign_get", "promote", "download", "read_bytes", "upload_file", "delete", "delete_prefix",
                     "sweep_abandoned")
    for cls, system in ((S3Storage, "s3"), (LocalStorage, "local")):
        _wrap_methods(cls, "storage", system, storage_calls)
    for cls, system in ((StripeProvider, "stripe"), (LocalProvider, "local")):
        _wrap_methods(cls, "payments", system, ("create_checkout", "refund", "receipt_url"))


def _wrap_methods(cls: type, kind: str, system: str, names: tuple[str, ...]) -> None:
    for name in names:
        original = cls.__dict__.get(name)
        if original is None:
            continue

        def wrapper(original: Any = original, name: str = name) -> Any:
            @functools.wraps(original)
            async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
                with span(f"{kind}.{name}", {f"codex.{kind}.system": system}, kind=SpanKind.CLIENT):
                    return await original(self, *args, **kwargs)
            return traced

        setattr(cls, name, wrapper())
        _undo.append(functools.partial(setattr, cls, name, original))


@contextlib.contextmanager
def span(name: str, attributes: dict[str, Any] | None = None, *, kind: SpanKind = SpanKind.INTERNAL,
         parent: otel_context.Context | None = None, links: list[Link] | None = None) -> Iterator[Any]:
    """A child span of the current one (or of ``parent``); yields None while tracing is off."""
    if not ENABLED:
        yield None
        return
    with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes, links=links,
                                       record_exception=True, set_status_on_exception=True) as current:
        yield current


def operation_span() -> contextlib.AbstractContextManager[Any]:
    """The span of one GraphQL request over HTTP (attributes are set by ``annotate_operation``)."""
    if not ENABLED:
        return _NULL
    return span("graphql.operation", kind=SpanKind.INTERNAL)


def annotate_operation(name: str | None, document: str | None, executor: str, cost: Any = None,
                       operation_type: str | None = None) -> None:
    """Attributes of the current operation span: name, type, document hash, cost, compiled or resolved."""
    if not ENABLED:
        return
    current = trace.get_current_span()
    if not current.is_recording():
        return
    import hashlib

    attributes: dict[str, Any] = {"codex.graphql.executor": executor}
    if name:
        attributes["graphql.operation.name"] = name
        current.update_name(f"graphql.operation {name}")
    if operation_type:
        attributes["graphql.operation.type"] = operation_type
    if document:
        attributes["graphql.document.hash"] = "sha256:" + hashlib.sha256(document.encode()).hexdigest()
    if cost is not None:
        requested = getattr(cost, "requested", None)
        actual = getattr(cost, "actual", None)
        if requested is not None:
            attributes["codex.graphql.cost.requested"] = requested
        if actual is not None:
            attributes["codex.graphql.cost.actual"] = actual
    current.set_attributes(attributes)


def set_operation_type(operation_type: str) -> None:
    if ENABLED:
        trace.get_current_span().set_attribute("graphql.operation.type", operation_type)


def mark_error(message: str) -> None:
    if ENABLED:
        trace.get_current_span().set_status(Status(StatusCode.ERROR, message))


# Propagation -------------------------------------------------------------------------------------------

def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, when tracing is on and a span is active."""
    if not ENABLED:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None, tracestate: str | None = None) -> otel_context.Context | None:
    """The remote parent named by a traceparent (None when absent or malformed)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    extracted = _PROPAGATOR.extract(carrier)
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


@contextlib.contextmanager
def attached(traceparent: str | None) -> Iterator[None]:
    """Makes the span a traceparent names current (no new span): what is sent inside carries it on."""
    parent = context_from(traceparent) if ENABLED else None
    if parent is None:
        yield
        return
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def with_trace(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload carrying the current traceparent (the same dict when there is none)."""
    traceparent = current_traceparent()
    return {**payload, TRACE_KEY: traceparent} if traceparent else payload


def split_trace(payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """An outbox payload without its trace key, and the traceparent it carried."""
    if TRACE_KEY not in payload:
        return payload, None
    rest = dict(payload)
    traceparent = rest.pop(TRACE_KEY)
    return rest, traceparent if isinstance(traceparent, str) else None


def log_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the current span for log lines, or None."""
    if not ENABLED:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# Trusted callers -----------------------------------------------------------------------------------------

def _set_trusted(settings: Any) -> None:
    global _trusted, _trust_all
    raw = getattr(settings, "trace_trusted_ips", None)
    if raw is None:
        raw = getattr(settings, "forwarded_allow_ips", "") or ""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    trust_all = False
    for part in str(raw).split(","):
        part = part.strip()
        if not part:
            continue
        if part == "*":
            trust_all = True
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            log.warning("TRACE_TRUSTED_IPS entry is not an address or network; ignored", extra={"entry": part})
    _trusted, _trust_all = networks, trust_all


def trusted(address: str | None) -> bool:
    if _trust_all:
        return True
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted)


class TracingMiddleware:
    """A server span per HTTP request (WebSocket connections are not traced). An incoming ``traceparent``
    becomes the parent only when the caller's address is trusted; from anyone else it is kept as a link."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not ENABLED or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if k in (b"traceparent", b"tracestate")}
        remote = context_from(headers.get("traceparent"), headers.get("tracestate"))
        client = scope.get("client")
        parent: otel_context.Context | None = None
        links: list[Link] = []
        if remote is not None:
            if trusted(client[0] if client else None):
                parent = remote
            else:
                links.append(Link(trace.get_current_span(remote).get_span_context(), {"codex.trace.untrusted": True}))
        if parent is None:
            parent = otel_context.Context()  # a new root, whatever is current in this task
        method = scope.get("method", "")
        attributes = {"http.request.method": method, "url.path": scope.get("path", ""),
                      "url.scheme": scope.get("scheme", "http")}
        if client:
            attributes["client.address"] = client[0]
        status_code = 500

        async def send_status(message: Any) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        with span(method, attributes, kind=SpanKind.SERVER, parent=parent,
                  links=links) as server:
            try:
                await self.app(scope, receive, send_status)
            finally:
                if server is not None:  # None only when tracing was switched off mid-request (tests)
                    server.set_attribute("http.response.status_code", status_code)
                    route = getattr(scope.get("route"), "path", None)  # the template, a bounded span name
                    server.update_name(f"{method} {route}" if route else method)
                if server is not None and status_code >= 500:
                    server.set_status(Status(StatusCode.ERROR))


def schema_extensions() -> list[Any]:
    """Strawberry extensions for the resolvers' path while tracing is on: the operation's type on its span."""
    if not ENABLED:
        return []
    from strawberry.extensions import SchemaExtension

    class OperationType(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            with contextlib.suppress(Exception):  # no operation to name: an invalid request
                set_operation_type(self.execution_context.operation_type.value)
            yield

    return [OperationType]
