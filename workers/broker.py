from __future__ import annotations

import asyncio
import logging
from typing import Any

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from codex_graphql import tracing
from codex_graphql.settings import Settings

log = logging.getLogger(__name__)

QUEUE = "default"
TRACEPARENT = "traceparent"  # message option: the W3C traceparent of the span that enqueued the job


class JobTracing(dramatiq.Middleware):
    """A span per job, child of the span that enqueued it (its ``traceparent`` option), while tracing is on.

    The span is opened in the worker thread before the actor runs and made current there; the AsyncIO
    middleware runs the actor's coroutine on its loop in a copy of that thread's context, so the SQL and
    Redis spans of the job nest under it. Nothing happens while tracing is off."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[Any, Any]] = {}  # message id -> (span, context token), while it runs

    def before_process_message(self, broker: dramatiq.Broker, message: Message) -> None:
        if not tracing.ENABLED:
            return
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind

        parent = tracing.context_from(message.options.get(TRACEPARENT)) or context.Context()
        span = tracing.tracer().start_span(
            f"job {message.actor_name}", context=parent, kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "dramatiq", "messaging.destination.name": message.queue_name,
                        "messaging.message.id": message.message_id, "codex.job.actor": message.actor_name,
                        "codex.job.retries": message.options.get("retries", 0)})
        token = context.attach(trace.set_span_in_context(span))
        self._open[message.message_id] = (span, token)

    def after_process_message(self, broker: dramatiq.Broker, message: Message, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        held = self._open.pop(message.message_id, None)
        if held is None:
            return
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        span, token = held
        if exception is not None:
            span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
        span.end()
        try:
            context.detach(token)
        except Exception:  # noqa: BLE001 (a context left by another thread: the span is ended all the same)
            log.debug("job span context not detached", exc_info=True)

    after_skip_message = after_process_message


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Redis broker when REDIS_URL is set; an in-process broker for the embedded single-instance mode."""
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(
            url=settings.redis_url,
            namespace=f"{settings.redis_namespace}-jobs",
            # How soon messages held by a crashed worker go back to the queue.
            heartbeat_timeout=settings.job_heartbeat_timeout_ms,
            maintenance_chance=settings.job_maintenance_chance,
        )
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(JobTracing())
    dramatiq.set_broker(broker)
    broker.declare_queue(QUEUE)
    return broker


def job_sender(broker: dramatiq.Broker) -> Any:
    """Sends outbox job rows to Dramatiq; the outbox id becomes the message id and the ``job_id``."""

    async def send(actor_name: str, job_id: str, payload: dict[str, Any]) -> None:
        traceparent = tracing.current_traceparent()  # the enqueuing request's span (the relay made it current)
        message = Message(
            queue_name=QUEUE, actor_name=actor_name, args=(), kwargs={"job_id": job_id, **payload},
            options={TRACEPARENT: traceparent} if traceparent else {}, message_id=job_id,
        )
        await asyncio.to_thread(broker.enqueue, message)

    return send


ACTOR_MODULES = ("workers.actors", "workers.commerce_actors", "workers.media_actors",
                 "workers.subscription_actors", "workers.earnings_actors", "workers.offering_actors",
                 "workers.conferencing_actors")


def declare_actors(broker: dramatiq.Broker) -> None:
    """Declare every actor on ``broker``. Importing the modules declares them on the global broker only
    the first time; a process that builds a new broker later (embedded mode restarted in tests, for
    example) re-declares them here."""
    import importlib

    for name in ACTOR_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, dramatiq.Actor) and value.actor_name not in broker.actors:
                value.broker = broker
                broker.declare_actor(value)
