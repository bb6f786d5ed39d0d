"""What actors share inside one worker process: settings, database, mailer. Built lazily on the
worker's event loop (asyncpg connections belong to the loop that opened them)."""

from __future__ import annotations

from dataclasses import dataclass

from codex_graphql.db import Database
from codex_graphql.mail import Mailer, build_mailer
from codex_graphql.payments import PaymentProvider
from codex_graphql.payments.factory import build_payments
from codex_graphql.settings import Settings
from codex_graphql.storage import Storage
from codex_graphql.storage.factory import build_storage

_settings: Settings | None = None
_runtime: Runtime | None = None


@dataclass
class Runtime:
    settings: Settings
    db: Database
    mailer: Mailer
    storage: Storage
    payments: PaymentProvider


def configure(settings: Settings) -> None:
    """Use these settings for the next ``runtime()``. Call ``shutdown()`` first if one was built."""
    global _settings, _runtime
    _settings, _runtime = settings, None


def runtime() -> Runtime:
    global _runtime, _settings
    if _runtime is None:
        settings = _settings or Settings()
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set for the worker.")
        _runtime = Runtime(
            settings=settings,
            db=Database(settings.database_url, pool_size=5, max_overflow=5),
            mailer=build_mailer(settings.smtp_url, settings.mail_from),
            storage=build_storage(settings),
            payments=build_payments(settings),
        )
    return _runtime


async def shutdown() -> None:
    """Close the runtime's database pool (on the loop that opened it) and forget the runtime."""
    global _runtime
    current, _runtime = _runtime, None
    if current is not None:
        await current.db.dispose()
