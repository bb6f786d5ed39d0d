"""Throwaway servers for fault tests: our own redis-server and PostgreSQL on free loopback ports (never the
shared ones other suites use), and the API and worker as real processes pointed at them. Every wait is bounded
and every process is stopped in ``finally``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from codex_graphql.embedded import EmbeddedPostgres, ensure_database
from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def _wait_port(port: int, up: bool, within: float) -> None:
    import socket

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            reachable = sock.connect_ex(("127.0.0.1", port)) == 0
        if reachable == up:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} not {'up' if up else 'down'} within {within}s")


class RedisServer:
    """redis-server without persistence on a fixed free port; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, True, 10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # an abrupt outage, as when the host dies
            self.process.wait(timeout=10)
        _wait_port(self.port, False, 10)


class Postgres:
    """An embedded PostgreSQL in a temporary directory; restart() brings it back on the same port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="codex-fault-pg-", dir="/tmp"))
        self.server = EmbeddedPostgres(self.dir)
        self.admin_url = ""
        self.port = 0

    def start(self) -> str:
        self.admin_url = self.server.start()
        self.port = int(self.admin_url.rsplit(":", 1)[1].split("/")[0])
        return self.admin_url

    def stop(self) -> None:
        self.server.stop(timeout=20)

    def start_again(self) -> None:
        ok, error = self.server._pg_ctl_start(self.server._server(), self.port, 30)  # noqa: SLF001 (same port)
        assert ok, error

    def migrated_database(self, name: str) -> str:
        from alembic import command

        from tests.conftest import alembic_config

        url = ensure_database(self.admin_url, name)
        command.upgrade(alembic_config(url), "head")
        return url

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.server.stop(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


def app_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "REDIS_NAMESPACE": "codex-fault",
           "SECRET_KEY": "fault-test-secret-key", "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "LOG_JSON": "false",
           "PAYMENTS_PROVIDER": "local", "RELAY_POLL_SECONDS": "0.2", **extra}
    if "SMTP_URL" not in extra:
        env.pop("SMTP_URL", None)
    return env


class Process:
    """A child process in its own session with output in a temporary file (read on failure)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill_group()  # leftovers (worker children) too
        self.log.close()


def start_api(env: dict[str, str], port: int) -> tuple[Process, str]:
    base = f"http://127.0.0.1:{port}"
    process = Process([PYTHON, "-m", "codex_graphql.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                       "--graceful-timeout", "10"], {**env, "PUBLIC_BASE_URL": base})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        if not process.alive():
            break
        time.sleep(0.1)
    output = process.output()
    process.stop()
    raise AssertionError(f"API did not start:\n{output}")


def start_worker(env: dict[str, str], processes: int = 1, threads: int = 1) -> Process:
    return Process([PYTHON, "-m", "dramatiq", "workers.main", "--processes", str(processes), "--threads",
                    str(threads)], env)


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()


async def eventually(check, within: float, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``check()`` (sync or async) until it returns a truthy value; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within}s")
        await asyncio.sleep(interval)
