"""create_app(settings) -> Starlette: routes, lifespan, services.

The start of the request path: the middleware (tracing, request id and metrics, CORS and security
headers), then ``/graphql`` over HTTP (``graphql_http.py``) and WebSocket (``graphql_ws.py``), the Stripe
webhook and the other routes. The lifespan builds the process's ``Services`` and starts the event path's
outbox relay and the periodic tasks (storage hygiene, expired idempotency keys, refund reconciliation).
The map of both paths: docs/architecture.md."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from html import escape
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from codex_graphql import idempotency, tracing
from codex_graphql.commerce import reconcile
from codex_graphql.commerce.routes import commerce_routes
from codex_graphql.conferencing.routes import conferencing_routes
from codex_graphql.content import scheduling_jobs
from codex_graphql.credits import jobs as credit_jobs
from codex_graphql.earnings import payout_jobs
from codex_graphql.earnings import pool as creator_pool
from codex_graphql.graphql_http import GraphQLEndpoint, json_response
from codex_graphql.graphql_ws import GraphQLWebSocket
from codex_graphql.media.streaming import streaming_routes
from codex_graphql.observability import Metrics, RequestIdMiddleware, metrics_refusal
from codex_graphql.offerings.calendar_routes import calendar_routes
from codex_graphql.offerings.participants_export import participants_export_routes
from codex_graphql.payments.local_connect_routes import local_connect_routes
from codex_graphql.periodic import Periodic
from codex_graphql.previews.routes import preview_routes
from codex_graphql.schema import build_schema
from codex_graphql.services import Services, build_services
from codex_graphql.settings import Settings, check_forwarded_allow_ips
from codex_graphql.storage import hygiene
from codex_graphql.storage.factory import build_storage
from codex_graphql.storage.local import LocalStorage
from codex_graphql.storage.routes import storage_routes
from codex_graphql.subscriptions import dunning
from codex_graphql.subscriptions import jobs as tier_jobs
from codex_graphql.web_security import security_middleware

log = logging.getLogger(__name__)


class InProcessWorker:
    """Embedded mode without Redis: jobs run in this process on Dramatiq's in-memory broker."""

    def __init__(self, settings: Settings) -> None:
        import dramatiq

        from workers.broker import declare_actors, job_sender, setup_broker
        from workers.runtime import configure

        configure(settings)
        self.broker = setup_broker(settings)
        declare_actors(self.broker)

        self.worker = dramatiq.Worker(self.broker, worker_threads=2)
        self.send = job_sender(self.broker)

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop(timeout=5_000)


def _redis_job_sender(settings: Settings):  # type: ignore[no-untyped-def]
    from workers.broker import job_sender, setup_broker

    return job_sender(setup_broker(settings))


GC_THRESHOLD = 20_000
DIRECT_METHODS = frozenset(("GET", "POST"))


class CodexApp(Starlette):
    """The Starlette app, with POST/GET ``/graphql`` answered without the middleware stack in front.

    Everything the stack does for such a request is done once, on raw headers, by
    ``GraphQLEndpoint.asgi``: the request id (``RequestIdMiddleware``), the security headers
    (``SecurityHeadersMiddleware``), ``cache-control: no-store``, the HTTP metric; the response goes out as
    one start and one body message. Requests the stack would treat differently keep going through it:
    while tracing is on (the server span), with an ``Origin`` header when CORS is configured (the CORS
    middleware answers those), other methods (405, OPTIONS preflights), and before startup."""

    direct_graphql: Any = None  # GraphQLEndpoint, set by the lifespan
    hsts = False
    cors = False
    graphql_counts: dict[int, Any]  # status -> its series of codex_http_requests_total{route="/graphql"}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        endpoint = self.direct_graphql
        if (endpoint is None or scope["type"] != "http" or scope["path"] != "/graphql"
                or scope["method"] not in DIRECT_METHODS or tracing.ENABLED
                or (self.cors and any(name == b"origin" for name, _ in scope["headers"]))):
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        status = 500
        try:
            status = await endpoint.asgi(scope, receive, send, self.hsts)
        except Exception:
            # As Starlette's ServerErrorMiddleware: a plain 500 when nothing was sent yet (the endpoint marks
            # ``codex.started`` before its first message), then re-raise (the server logs it).
            if not scope.get("codex.started"):
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        finally:
            counted = self.graphql_counts.get(status)
            if counted is None:
                counted = self.graphql_counts[status] = self.state.metrics.http_requests.labels("/graphql", str(status))
            counted.inc()


def create_app(settings: Settings | None = None, services: Services | None = None, *,
               tune_gc: bool = False) -> Starlette:
    """``tune_gc`` is for server processes (``app_factory``): it freezes what exists at startup, which
    is only right when one app lives for the whole process."""
    settings = settings or Settings()
    # Startup checks: refuse a production server whose proxy trust lets any client forge its address.
    check_forwarded_allow_ips(settings.environment, settings.forwarded_allow_ips)
    if settings.environment == "production" and metrics_refusal(settings, None) == (404, {}):
        log.warning("GET /metrics answers 404: set METRICS_TOKEN (or METRICS_PUBLIC=true on a private listener).")
    tracing.setup(settings)  # before the schema: its tracing extension exists only while tracing is on
    schema = build_schema(settings)
    metrics = Metrics()
    state: dict[str, object] = {}
    storage = services.storage if services is not None else build_storage(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker: InProcessWorker | None = None
        if services is not None:
            built = services
        elif settings.redis_url:
            built = build_services(settings, _redis_job_sender(settings), storage)
        else:
            worker = InProcessWorker(settings)
            built = build_services(settings, worker.send, storage)
        state["services"] = built
        metrics.watch_pool(built.db.engine.sync_engine.pool)
        state["graphql"] = GraphQLEndpoint(schema, built, metrics)
        app.direct_graphql = state["graphql"]  # type: ignore[attr-defined]
        maintenance: list[Periodic] = []
        if worker:
            worker.start()
            # No separate worker process in embedded mode: this process runs the maintenance too.
            maintenance = [
                Periodic("storage-hygiene", settings.upload_cleanup_seconds,
                         lambda: hygiene.run(built.db, built.storage, retention=settings.content_purge_retention)),
                Periodic("expired-idempotency-keys", idempotency.CLEANUP_SECONDS,
                         lambda: idempotency.cleanup_expired(built.db)),
                Periodic("refund-reconciliation", reconcile.INTERVAL_SECONDS,
                         lambda: reconcile.reconcile_refunds(built.db, built.payments)),
                Periodic("credit-expiry", credit_jobs.INTERVAL_SECONDS, lambda: credit_jobs.expire_due_lots(built.db)),
                Periodic("scheduled-publishing", settings.scheduled_publish_seconds,
                         lambda: scheduling_jobs.publish_scheduled(built.db)),
                Periodic("tier-reconciliation", tier_jobs.INTERVAL_SECONDS,
                         lambda: tier_jobs.reconcile_tiers(built.db, built.payments)),
                Periodic("subscription-reconciliation", tier_jobs.SUBSCRIPTIONS_INTERVAL_SECONDS,
                         lambda: tier_jobs.reconcile_subscriptions(built.db, built.payments)),
                Periodic("dunning-reminders", dunning.INTERVAL_SECONDS,
                         lambda: dunning.send_reminders(built.db, settings.dunning_reminder_window)),
                Periodic("creator-payouts", payout_jobs.INTERVAL_SECONDS,
                         lambda: payout_jobs.run_payouts(built.db, built.payments)),
                Periodic("creator-pool", creator_pool.INTERVAL_SECONDS,
                         lambda: creator_pool.close_finished_months(built.db)),
            ]
            for task in maintenance:
                task.start()
        built.relay.start()
        built.sessions.start()
        # Long-lived objects built at startup (schema, plans, settings) leave the collector's generations,
        # and the youngest generation is collected less often: request handling allocates many short-lived
        # dicts, and the default threshold (700) made the collector run every few requests (storefront
        # throughput +50 % on one process).
        if tune_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_THRESHOLD, 20, 20)
        try:
            yield
        finally:
            app.direct_graphql = None  # type: ignore[attr-defined]
            await state["graphql"].close()  # type: ignore[attr-defined]
            await built.sessions.stop()
            for task in maintenance:
                await task.stop()
            await built.relay.stop()
            if worker:
                await asyncio.to_thread(worker.stop)
            if services is None:
                await built.close()

    async def graphql(request: Request) -> Response:
        return await state["graphql"](request)  # type: ignore[operator]

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        built: Services = state["services"]  # type: ignore[assignment]
        checks: dict[str, str] = {}
        for name, probe in (("database", built.db.ping), ("redis", built.kv.ping)):
            try:
                await asyncio.wait_for(probe(), timeout=2)
                checks[name] = "ok"
            except Exception as exc:  # report, never raise: this endpoint exists to say what is down
                checks[name] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return json_response({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        refusal = metrics_refusal(settings, request.headers.get("authorization"))
        if refusal is not None:
            return PlainTextResponse("Not Found" if refusal[0] == 404 else "Unauthorized", refusal[0],
                                     headers=refusal[1])
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def account_page(request: Request) -> Response:
        return HTMLResponse(_account_page(request.url.path))

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/account/verify-email", account_page),
        Route("/account/reset-password", account_page),
    ]
    routes.append(WebSocketRoute("/graphql", GraphQLWebSocket(
        schema, lambda: state["services"], max_subscriptions=settings.max_subscriptions_per_connection)))
    routes += commerce_routes(lambda: state["services"])
    routes += local_connect_routes(lambda: state["services"])
    routes += preview_routes()
    routes += streaming_routes(lambda: state["services"])
    routes += calendar_routes(lambda: state["services"])  # iCalendar feeds (offerings/calendar.py)
    routes += participants_export_routes(lambda: state["services"])
    routes += conferencing_routes(lambda: state["services"])  # OAuth callback, Zoom webhook, demo rooms
    if isinstance(storage, LocalStorage):
        routes += storage_routes(storage)
    app = CodexApp(
        routes=routes,
        # The server span (tracing.py) wraps everything, so request-id log lines carry its ids; absent while off.
        middleware=[*([Middleware(tracing.TracingMiddleware)] if tracing.ENABLED else []),
                    Middleware(RequestIdMiddleware, metrics=metrics, routes=[r.path for r in routes]),
                    *security_middleware(settings)],  # security headers, CORS allow-list (web_security.py)
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.hsts = settings.public_base_url.startswith("https://")  # as security_middleware (web_security.py)
    app.cors = bool(settings.cors_origins)
    app.graphql_counts = {}
    app.state.runtime = state
    return app


def _account_page(path: str) -> str:
    """Minimal pages behind the links in account emails; storefronts may serve their own instead."""
    reset = path.endswith("reset-password")
    title = "Choose a new password" if reset else "Confirm your email"
    form = (
        '<label>New password <input id="password" type="password" minlength="10" required></label>'
        '<button id="go">Save</button>' if reset else '<button id="go">Confirm my email</button>'
    )
    mutation = (
        "mutation($t:String!,$p:String!){resetPassword(input:{token:$t,newPassword:$p}){errors{message}}}"
        if reset else "mutation($t:String!){verifyEmail(input:{token:$t}){errors{message}}}"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title></head>
<body><h1>{escape(title)}</h1>{form}<p id="result" role="status"></p>
<script>
const token = new URLSearchParams(location.search).get('token') || '';
document.getElementById('go').onclick = async () => {{
  const pw = document.getElementById('password');
  const variables = pw ? {{t: token, p: pw.value}} : {{t: token}};
  const r = await fetch('/graphql', {{method: 'POST', headers: {{'content-type': 'application/json'}},
    body: JSON.stringify({{query: {mutation!r}, variables}})}});
  const body = await r.json();
  const payload = body.data && Object.values(body.data)[0];
  document.getElementById('result').textContent =
    payload && payload.errors.length === 0 ? 'Done.' : (payload ? payload.errors[0].message : 'Something went wrong.');
}};
</script></body></html>"""


class _CoalescingTransport:
    """Wraps a connection's transport so that the writes of one event-loop turn leave in one ``write``:
    uvicorn writes a response's status line and headers on ``http.response.start`` and the body on
    ``http.response.body``, two system calls (and often two TCP segments) for every small answer."""

    __slots__ = ("_loop", "_pending", "inner")

    def __init__(self, inner: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.inner = inner
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self.inner.is_closing():
            self.inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        self._pending = None
        self.inner.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover (httptools is a dependency; h11 serves without this)
    HttpToolsProtocol = None


if HttpToolsProtocol is not None:
    class CoalescingHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc, valid-type]
        """uvicorn's httptools protocol with one write per response (``_CoalescingTransport``); a WebSocket
        upgrade gets the connection's own transport back. ``codex-graphql serve``/``dev`` use it (cli.py)."""

        def connection_made(self, transport: Any) -> None:
            super().connection_made(_CoalescingTransport(transport, self.loop))

        def handle_websocket_upgrade(self) -> None:
            if isinstance(self.transport, _CoalescingTransport):
                self.transport.flush()
                self.transport = self.transport.inner
            super().handle_websocket_upgrade()


def app_factory() -> Starlette:
    """The app uvicorn builds in each server process (`codex-graphql serve`/`dev`, factory=True):
    settings from the environment, logging configured for this process."""
    from codex_graphql.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings, tune_gc=True)


__all__ = ["PlainTextResponse", "app_factory", "create_app"]
