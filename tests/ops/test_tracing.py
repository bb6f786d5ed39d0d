"""OpenTelemetry traces against real PostgreSQL and Redis, exported to an in-memory exporter: the span tree
of a request (server span, operation span, SQL and Redis children), a job run by a real Dramatiq worker in
the trace of the request that enqueued it through the outbox, traceparent trust, trace ids in JSON log
lines, and nothing at all while tracing is off."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import dramatiq
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from dramatiq import Message
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codex_graphql import tracing
from codex_graphql.app import create_app
from codex_graphql.observability import JsonFormatter
from codex_graphql.settings import Settings
from tests.support.accounts import REGISTER, STRONG_PASSWORD, account_jobs, unique_email

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
VIEWER = "query Me { viewer { id email } }"


@pytest.fixture
def spans(settings: Settings) -> Iterator[InMemorySpanExporter]:
    tracing.shutdown()
    exporter = InMemorySpanExporter()
    assert tracing.setup(settings, exporter) is not None
    try:
        yield exporter
    finally:
        tracing.shutdown()


@pytest.fixture
async def app(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """conftest's app, built after tracing was switched on (tests asking for ``spans``) or off (the others)."""
    if "spans" in request.fixturenames:
        request.getfixturevalue("spans")
    else:
        tracing.shutdown()
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def by_name(finished: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def ancestors(span: ReadableSpan, finished: list[ReadableSpan]) -> list[ReadableSpan]:
    index = {s.context.span_id: s for s in finished}
    chain, parent = [], span.parent
    while parent is not None and parent.span_id in index:
        chain.append(index[parent.span_id])
        parent = index[parent.span_id].parent
    return chain


def descendants(root: ReadableSpan, finished: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in finished if root in ancestors(s, finished)]


async def register(gql: Any, address: str) -> dict[str, Any]:
    data = await gql.ok(REGISTER, {"i": {"email": address, "password": STRONG_PASSWORD, "name": "T"}})
    assert data["register"]["errors"] == []
    return data["register"]


async def test_a_request_is_one_server_span_with_its_operation_sql_and_redis_under_it(gql, spans):
    payload = await register(gql, unique_email("trace"))
    spans.clear()

    body = await gql.raw(VIEWER, token=payload["token"])
    assert body.status_code == 200 and body.json()["data"]["viewer"]["id"]
    finished = list(spans.get_finished_spans())

    [server] = [s for s in finished if s.kind is trace.SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert server.parent is None  # the test client is no trusted caller and sent no traceparent anyway
    assert server.attributes["http.response.status_code"] == 200
    [operation] = by_name(finished, "graphql.operation Me")
    assert operation.parent.span_id == server.context.span_id
    attributes = dict(operation.attributes)
    assert attributes["graphql.operation.name"] == "Me"
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["graphql.document.hash"] == "sha256:" + hashlib.sha256(VIEWER.encode()).hexdigest()
    assert attributes["codex.graphql.executor"] in {"compiled", "resolved"}
    assert isinstance(attributes["codex.graphql.cost.requested"], int)

    below = descendants(operation, finished)
    sql = [s for s in below if s.attributes.get("db.system") == "postgresql"]
    redis = [s for s in below if s.attributes.get("db.system") == "redis"]
    assert sql, [s.name for s in finished]
    assert redis, [s.name for s in finished]
    assert any("select" in str(s.attributes.get("db.statement", "")).lower() for s in sql)


async def test_a_mutation_span_says_resolved_and_mutation_and_its_cost(gql, spans):
    await register(gql, unique_email("mutation"))
    [operation] = by_name(list(spans.get_finished_spans()), "graphql.operation Register")
    assert operation.attributes["graphql.operation.type"] == "mutation"
    assert operation.attributes["codex.graphql.executor"] == "resolved"
    assert operation.attributes["codex.graphql.cost.requested"] >= 1
    finished = list(spans.get_finished_spans())
    inserts = [s for s in descendants(operation, finished)
               if "insert" in str(s.attributes.get("db.statement", "")).lower()]
    assert inserts  # the new user, its session and the outbox row, each an SQL span under the operation


async def test_a_job_enqueued_by_a_request_runs_in_its_trace_as_its_child(gql, admin_db, spans, settings,
                                                                         mail_settings, mailbox):
    address = unique_email("job")
    await register(gql, address)
    finished = list(spans.get_finished_spans())
    [operation] = by_name(finished, "graphql.operation Register")

    # The outbox row carries the enqueuing span; what the relay delivers to Dramatiq does not (the actor's
    # kwargs stay as they were) but the message options do.
    [(job_id, payload)] = await account_jobs(admin_db)
    assert payload[tracing.TRACE_KEY].split("-")[1] == format(operation.context.trace_id, "032x")
    message = await published_message(admin_db, settings, job_id)
    assert tracing.TRACE_KEY not in message.kwargs
    assert message.kwargs["job_id"] == job_id and message.kwargs["kind"] == "verify_email"
    enqueuing = tracing.context_from(message.options["traceparent"])
    enqueuing_span = trace.get_current_span(enqueuing).get_span_context()
    assert enqueuing_span.trace_id == operation.context.trace_id
    assert enqueuing_span.span_id in {s.context.span_id for s in [operation, *descendants(operation, finished)]}

    spans.clear()
    await asyncio.to_thread(run_on_a_worker, mail_settings, message)
    await mailbox.wait_for(address, 1)

    finished = list(spans.get_finished_spans())
    [job] = by_name(finished, "job send_account_email")
    assert job.kind is trace.SpanKind.CONSUMER
    assert job.context.trace_id == operation.context.trace_id
    assert job.parent.span_id == enqueuing_span.span_id
    assert job.attributes["messaging.message.id"] == job_id
    # The actor's SQL (its claim, the token) is traced under the job span, in the same trace.
    sql = [s for s in descendants(job, finished) if s.attributes.get("db.system") == "postgresql"]
    assert any("processed_message" in str(s.attributes.get("db.statement", "")) for s in sql)


async def published_message(admin_db: Any, settings: Settings, job_id: str) -> Message:
    """The Dramatiq message the API's relay sent to Redis for this outbox row."""
    for _ in range(100):
        if await admin_db.fetchval("select published_at from outbox_message where id = $1::uuid", job_id):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the relay never published the job")
    client = aioredis.Redis.from_url(settings.redis_url or "")
    try:  # the Redis broker keeps each queued message in a hash under its own redis_message_id
        queued = [Message.decode(raw) for raw in await client.hvals(f"{settings.redis_namespace}-jobs:default.msgs")]
    finally:
        await client.aclose()
    [message] = [m for m in queued if m.message_id == job_id]
    return message


def run_on_a_worker(settings: Settings, message: Message) -> None:
    """What `codex-graphql worker` does with the message, on the in-process broker: a real dramatiq.Worker
    with the same middleware (AsyncIO, JobTracing) runs the actor."""
    from dramatiq.asyncio import get_event_loop_thread

    from workers import runtime
    from workers.broker import QUEUE, declare_actors, setup_broker

    broker = setup_broker(settings.model_copy(update={"redis_url": None}))
    declare_actors(broker)
    runtime.configure(settings)
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        broker.enqueue(message)
        broker.join(QUEUE, fail_fast=True, timeout=30_000)
    finally:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(runtime.shutdown())
        worker.stop()


async def test_storage_stripe_and_dataloader_calls_are_child_spans(settings, spans):
    from aiodataloader import DataLoader

    from codex_graphql.payments import CheckoutRequest
    from codex_graphql.payments.stripe import StripeProvider
    from codex_graphql.storage.factory import build_storage
    from tests.support.stripe_standin import running_standin

    class Doubles(DataLoader):
        async def batch_load_fn(self, keys: list[int]) -> list[int]:
            return [key * 2 for key in keys]

    storage = build_storage(settings)
    try:
        async with running_standin("whsec_test") as standin:
            stripe = StripeProvider("sk_test_123", "whsec_test", standin.base_url)
            with tracing.span("caller") as caller:
                await storage.presign_get("org/item/original.mp4", 60)
                assert await asyncio.gather(Doubles().load(1), Doubles().load(2)) == [2, 4]
                loader = Doubles()
                assert await asyncio.gather(loader.load(3), loader.load(4)) == [6, 8]
                created = await stripe.create_checkout(CheckoutRequest(
                    reference_id="ref-1", title="Film", amount_cents=500, currency="usd",
                    customer_email="buyer@example.com", success_url="http://testserver/ok",
                    cancel_url="http://testserver/no", metadata={}, idempotency_key="key-1"))
                assert created.session_id
    finally:
        await storage.close()
    finished = list(spans.get_finished_spans())
    [presign] = by_name(finished, "storage.presign_get")
    assert presign.parent.span_id == caller.context.span_id
    assert presign.attributes["codex.storage.system"] == "local"
    batches = by_name(finished, "dataloader Doubles")
    assert sorted(b.attributes["codex.dataloader.batch_size"] for b in batches) == [1, 1, 2]
    assert all(b.parent.span_id == caller.context.span_id for b in batches)
    [checkout] = by_name(finished, "payments.create_checkout")
    assert checkout.parent.span_id == caller.context.span_id
    assert checkout.attributes["codex.payments.system"] == "stripe"
    http_calls = [s for s in descendants(checkout, finished) if s.kind is trace.SpanKind.CLIENT
                  and s.attributes.get("http.request.method", s.attributes.get("http.method")) == "POST"]
    assert http_calls, [s.name for s in finished]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler, logger = Lines(), logging.getLogger("codex_graphql.graphql_http")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def client_at(app: Any, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 4321)),
                             base_url="http://testserver")


async def test_a_traceparent_from_a_trusted_caller_is_continued_and_logged(app, spans, log_lines):
    async with await client_at(app, "127.0.0.1") as trusted:  # FORWARDED_ALLOW_IPS, TRACE_TRUSTED_IPS unset
        response = await trusted.post("/graphql", json={"query": VIEWER}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    finished = list(spans.get_finished_spans())
    [server] = [s for s in finished if s.kind is trace.SpanKind.SERVER]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT_ID and server.parent.is_remote
    [line] = [line for line in log_lines.lines if line["message"] == "graphql operation"]
    assert line["trace_id"] == TRACE_ID
    [operation] = by_name(finished, "graphql.operation Me")
    assert line["span_id"] == format(operation.context.span_id, "016x")
    assert line["request_id"] == response.headers["x-request-id"]


async def test_a_traceparent_from_anyone_else_starts_a_new_trace_with_a_link(http, spans, log_lines):
    response = await http.post("/graphql", json={"query": VIEWER}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    [server] = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert format(server.context.trace_id, "032x") != TRACE_ID
    assert server.parent is None
    [link] = server.links
    assert format(link.context.trace_id, "032x") == TRACE_ID
    [line] = [line for line in log_lines.lines if line["message"] == "graphql operation"]
    assert line["trace_id"] == format(server.context.trace_id, "032x")


async def test_trace_trusted_ips_replaces_the_proxy_list(settings, spans):
    settings = settings.model_copy(update={"trace_trusted_ips": "203.0.113.0/24"})
    application = create_app(settings)
    async with application.router.lifespan_context(application), \
            await client_at(application, "203.0.113.9") as listed, await client_at(application, "127.0.0.1") as proxy:
        await listed.post("/graphql", json={"query": VIEWER}, headers={"traceparent": TRACEPARENT})
        await proxy.post("/graphql", json={"query": VIEWER}, headers={"traceparent": TRACEPARENT})
    servers = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert [format(s.context.trace_id, "032x") == TRACE_ID for s in servers] == [True, False]
    tracing.setup(Settings(database_url=None))  # back to the default trust for whatever runs next


async def test_tracing_off_installs_nothing_and_records_nothing(gql, app, admin_db, log_lines):
    assert tracing.provider() is None and tracing.ENABLED is False
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert all(m.cls is not tracing.TracingMiddleware for m in app.user_middleware)
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry
    assert not RedisInstrumentor().is_instrumented_by_opentelemetry
    from codex_graphql.storage.local import LocalStorage

    assert not hasattr(LocalStorage.presign_get, "__wrapped__")  # storage calls are not wrapped either

    await register(gql, unique_email("off"))
    [(_, payload)] = await account_jobs(admin_db)
    assert tracing.TRACE_KEY not in payload
    lines = [line for line in log_lines.lines if line["message"] == "graphql operation"]
    assert lines and all("trace_id" not in line and "span_id" not in line for line in lines)
    assert tracing.current_traceparent() is None


def test_off_unless_configured(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "TRACING_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.wanted(Settings(database_url=None))
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing.wanted(Settings(database_url=None))
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    assert tracing.wanted(Settings(database_url=None))
    assert not tracing.wanted(Settings(database_url=None, tracing_enabled=False))
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.wanted(Settings(database_url=None, tracing_enabled=True))
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    assert tracing.wanted(Settings(database_url=None, tracing_enabled=True))
