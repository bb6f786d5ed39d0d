"""Entry module for ``dramatiq workers.main`` (what ``codex-graphql worker`` runs)."""

from __future__ import annotations

import asyncio
import logging

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from codex_graphql.events import OutboxRelay
from codex_graphql.kv import build_kv
from codex_graphql.observability import configure_logging
from codex_graphql.settings import Settings
from workers.broker import job_sender, setup_broker
from workers.runtime import configure, runtime

settings = Settings()
configure_logging(settings.log_level, settings.log_json)
configure(settings)
broker = setup_broker(settings)

from workers import actors  # noqa: E402,F401  (actors bind to the broker set up above)

log = logging.getLogger(__name__)


class OutboxRelayMiddleware(dramatiq.Middleware):
    """Workers also relay the outbox, so rows left by a crashed API instance still get sent."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return
        _, pubsub, _ = build_kv(settings.redis_url, settings.redis_namespace)

        async def start() -> None:
            relay = OutboxRelay(runtime().db, job_sender(broker), pubsub, poll_seconds=max(settings.relay_poll_seconds, 1.0))
            relay.start()

        asyncio.run_coroutine_threadsafe(start(), loop_thread.loop).result(timeout=10)
        log.info("outbox relay running in worker")


broker.add_middleware(OutboxRelayMiddleware())
