"""Entry module for ``dramatiq workers.main`` (what ``codex-graphql worker`` runs)."""

from __future__ import annotations

import asyncio
import logging

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from codex_graphql import idempotency, tracing
from codex_graphql.commerce import reconcile
from codex_graphql.content import scheduling_jobs
from codex_graphql.credits import jobs as credit_jobs
from codex_graphql.earnings import payout_jobs
from codex_graphql.earnings import pool as creator_pool
from codex_graphql.events import OutboxRelay
from codex_graphql.observability import configure_logging
from codex_graphql.offerings import jobs as offering_jobs
from codex_graphql.offerings import reminders as offering_reminders
from codex_graphql.periodic import Periodic
from codex_graphql.settings import Settings
from codex_graphql.storage import hygiene
from codex_graphql.subscriptions import dunning
from codex_graphql.subscriptions import jobs as tier_jobs
from workers.broker import setup_broker
from workers.runtime import configure, runtime
from workers.runtime import shutdown as shutdown_runtime

settings = Settings()
configure_logging(settings.log_level, settings.log_json)
tracing.setup(settings, service_name="codex-graphql-worker")  # off unless configured (README "Tracing")
configure(settings)
broker = setup_broker(settings)

from workers import (  # noqa: E402,F401  (actors bind to the broker set up above)
    actors,
    commerce_actors,
    conferencing_actors,
    earnings_actors,
    media_actors,
    offering_actors,
    subscription_actors,
)

log = logging.getLogger(__name__)


class OutboxRelayMiddleware(dramatiq.Middleware):
    """Workers also relay the outbox, so rows left by a crashed API instance still get sent.

    The relay runs on the AsyncIO middleware's event loop. It is held here (a task nobody
    references may be garbage-collected mid-run) and stopped, with the runtime (its database pool and
    Redis client: the worker's ``Services``), once the worker threads are done: ``after_worker_shutdown`` hooks run in
    reverse order, so this one runs before the AsyncIO middleware stops the loop.
    """

    def __init__(self) -> None:
        self.relay: OutboxRelay | None = None
        self.cleanup: list[Periodic] = []

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return

        async def start() -> tuple[OutboxRelay, list[Periodic]]:
            relay = runtime().relay  # the worker's Services (workers/runtime.py), built on this loop
            relay.start()
            cleanup = [
                Periodic("storage-hygiene", settings.upload_cleanup_seconds,
                         lambda: hygiene.run(runtime().db, runtime().storage, retention=settings.content_purge_retention)),
                Periodic("expired-idempotency-keys", idempotency.CLEANUP_SECONDS,
                         lambda: idempotency.cleanup_expired(runtime().db)),
                Periodic("refund-reconciliation", reconcile.INTERVAL_SECONDS,
                         lambda: reconcile.reconcile_refunds(runtime().db, runtime().payments)),
                Periodic("credit-expiry", credit_jobs.INTERVAL_SECONDS,
                         lambda: credit_jobs.expire_due_lots(runtime().db)),
                Periodic("scheduled-publishing", settings.scheduled_publish_seconds,
                         lambda: scheduling_jobs.publish_scheduled(runtime().db)),
                Periodic("tier-reconciliation", tier_jobs.INTERVAL_SECONDS,
                         lambda: tier_jobs.reconcile_tiers(runtime().db, runtime().payments)),
                Periodic("subscription-reconciliation", tier_jobs.SUBSCRIPTIONS_INTERVAL_SECONDS,
                         lambda: tier_jobs.reconcile_subscriptions(runtime().db, runtime().payments)),
                Periodic("dunning-reminders", dunning.INTERVAL_SECONDS,
                         lambda: dunning.send_reminders(runtime().db, settings.dunning_reminder_window)),
                Periodic("creator-payouts", payout_jobs.INTERVAL_SECONDS,
                         lambda: payout_jobs.run_payouts(runtime().db, runtime().payments)),
                Periodic("creator-pool", creator_pool.INTERVAL_SECONDS,
                         lambda: creator_pool.close_finished_months(runtime().db)),
                Periodic("booking-holds", offering_jobs.INTERVAL_SECONDS,
                         lambda: offering_jobs.expire_holds(runtime().db)),
                Periodic("booking-reminders", offering_reminders.INTERVAL_SECONDS,
                         lambda: offering_reminders.send_due(runtime().db)),
            ]
            for task in cleanup:
                task.start()
            return relay, cleanup

        self.relay, self.cleanup = asyncio.run_coroutine_threadsafe(start(), loop_thread.loop).result(timeout=10)
        log.info("outbox relay running in worker")

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return
        relay, cleanup = self.relay, self.cleanup
        self.relay, self.cleanup = None, []

        async def stop() -> None:
            for task in cleanup:
                await task.stop()
            if relay is not None:
                await relay.stop()
            await shutdown_runtime()

        try:
            asyncio.run_coroutine_threadsafe(stop(), loop_thread.loop).result(timeout=10)
        except Exception:
            log.exception("stopping the worker's outbox relay and runtime failed")
        else:
            log.info("outbox relay stopped, connections closed")


broker.add_middleware(OutboxRelayMiddleware())
