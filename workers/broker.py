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
