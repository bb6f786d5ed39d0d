"""What actors share inside one worker process: the same ``Services`` the API process builds
(codex_graphql/services.py: settings, database, Redis, storage, mailer, payments, outbox relay, limits).

Built lazily on the worker's event loop (asyncpg connections belong to the loop that opened them), with a
smaller pool, and with jobs sent to the broker set up before any actor was imported (``setup_broker``
calls ``dramatiq.set_broker``; this module imports no actor, so importing it changes nothing in that order).
"""

from __future__ import annotations

from typing import Any

import dramatiq

from codex_graphql.services import Services, build_services
from codex_graphql.settings import Settings
from workers.broker import job_sender

# The workers' name for the process's parts: the very same type as the API's.
Runtime = Services

WORKER_POOL_SIZE = 5
WORKER_RELAY_POLL_SECONDS = 1.0  # the worker's relay is the safety net: it polls no faster than this

_settings: Settings | None = None
_runtime: Services | None = None


def configure(settings: Settings) -> None:
    """Use these settings for the next ``runtime()``. Call ``shutdown()`` first if one was built."""
    global _settings, _runtime
    _settings, _runtime = settings, None


async def _send_job(actor_name: str, job_id: str, payload: dict[str, Any]) -> None:
    """The relay's sender: to the broker current when a row is sent (the one ``setup_broker`` set)."""
    await job_sender(dramatiq.get_broker())(actor_name, job_id, payload)


def runtime() -> Services:
    global _runtime
    if _runtime is None:
        settings = _settings or Settings()
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set for the worker.")
        _runtime = build_services(
            settings, _send_job,
            pool_size=WORKER_POOL_SIZE, max_overflow=WORKER_POOL_SIZE,
            relay_poll_seconds=max(settings.relay_poll_seconds, WORKER_RELAY_POLL_SECONDS),
            warn_without_redis=False,  # the embedded mode's API process has said so already
        )
    return _runtime


async def shutdown() -> None:
    """Close the runtime (its relay, Redis client, storage client and database pool, on the loop that
    opened them) and forget it."""
    global _runtime
    current, _runtime = _runtime, None
    if current is not None:
        await current.close()
