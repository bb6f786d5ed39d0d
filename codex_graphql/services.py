"""The long-lived parts of a process, built once from settings and shared by requests and jobs.

One type for both process kinds: the API builds its ``Services`` in the app's lifespan (app.py); a worker
builds its own on the worker's event loop through ``workers.runtime.runtime()`` (asyncpg connections
belong to the loop that opened them), with a smaller pool."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from codex_graphql.accounts.sessions import SessionResolver
from codex_graphql.db import Database
from codex_graphql.events import JobSender, OutboxRelay
from codex_graphql.kv import KeyValue, PubSub, build_kv
from codex_graphql.mail import Mailer, build_mailer
from codex_graphql.payments import PaymentProvider
from codex_graphql.payments.factory import build_payments
from codex_graphql.ratelimit import Limits
from codex_graphql.settings import Settings
from codex_graphql.storage import Storage
from codex_graphql.storage.factory import build_storage

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    kv: KeyValue
    pubsub: PubSub
    redis: Any
    mailer: Mailer
    sessions: SessionResolver
    relay: OutboxRelay
    storage: Storage
    payments: PaymentProvider
    limits: Limits  # rate-limit buckets and WebSocket connection leases, charged by both executors

    async def close(self) -> None:
        await self.sessions.stop()
        await self.relay.stop()
        await self.kv.close()
        await self.storage.close()
        await self.db.dispose()


def build_services(settings: Settings, send_job: JobSender, storage: Storage | None = None, *,
                   pool_size: int | None = None, max_overflow: int | None = None,
                   relay_poll_seconds: float | None = None, warn_without_redis: bool = True) -> Services:
    """The process's parts; the keyword arguments let a worker size its pool and relay differently."""
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set; start through `codex-graphql dev` for the embedded database.")
    db = Database(settings.database_url,
                  pool_size=settings.db_pool_size if pool_size is None else pool_size,
                  max_overflow=settings.db_max_overflow if max_overflow is None else max_overflow,
                  statement_timeout_ms=settings.database_statement_timeout_ms,
                  idle_in_transaction_timeout_ms=settings.database_idle_in_transaction_timeout_ms)
    kv, pubsub, redis = build_kv(settings.redis_url, settings.redis_namespace)
    if redis is None and warn_without_redis:
        log.warning("REDIS_URL is not set: in-process jobs, pub/sub and caches; this mode is single-instance only")
    return Services(
        settings=settings,
        db=db,
        kv=kv,
        pubsub=pubsub,
        redis=redis,
        mailer=build_mailer(settings.smtp_url, settings.mail_from),
        sessions=SessionResolver(db, kv, settings.session_cache_ttl_seconds, pubsub=pubsub,
                                 local_seconds=settings.session_local_cache_seconds),
        relay=OutboxRelay(db, send_job, pubsub, poll_seconds=relay_poll_seconds or settings.relay_poll_seconds),
        storage=storage or build_storage(settings),
        payments=build_payments(settings),
        limits=Limits(settings, redis),
    )
