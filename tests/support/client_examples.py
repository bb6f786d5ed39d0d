"""Running the client examples against real servers: `codex-graphql serve` subprocesses on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "client-examples"


def server_env(settings: Any, port: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "REDIS_NAMESPACE": settings.redis_namespace, "SECRET_KEY": settings.secret_key,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING",
            "PAYMENTS_PROVIDER": "local", "STORAGE_BACKEND": "local", "DATA_DIR": str(settings.data_dir),
            "RELAY_POLL_SECONDS": "0.2", **extra}


@contextmanager
def serve(settings: Any, port: int, **extra: str) -> Iterator[str]:
    """`codex-graphql serve` on 127.0.0.1:port with the test's database and Redis; yields the base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "codex_graphql.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=server_env(settings, port, **extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "exited"
            time.sleep(0.1)
        else:
            raise AssertionError("API process did not start")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
