from __future__ import annotations

import asyncio
import logging
from typing import Any

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from codex_graphql.settings import Settings

log = logging.getLogger(__name__)

QUEUE = "default"


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
    dramatiq.set_broker(broker)
    broker.declare_queue(QUEUE)
    return broker


def job_sender(broker: dramatiq.Broker) -> Any:
    """Sends outbox job rows to Dramatiq; the outbox id becomes the message id and the ``job_id``."""

    async def send(actor_name: str, job_id: str, payload: dict[str, Any]) -> None:
        message = Message(
            queue_name=QUEUE, actor_name=actor_name, args=(), kwargs={"job_id": job_id, **payload},
            options={}, message_id=job_id,
        )
        await asyncio.to_thread(broker.enqueue, message)

    return send


ACTOR_MODULES = ("workers.actors", "workers.commerce_actors", "workers.media_actors")


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
