"""Periodic maintenance run by workers (and by the API process in embedded single-instance mode).
Each task is idempotent and safe to run on several workers at once (rows are claimed with
SKIP LOCKED), so no leader election is needed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.seconds = seconds
        self.work = work
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic task failed", extra={"task": self.name})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"periodic-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
