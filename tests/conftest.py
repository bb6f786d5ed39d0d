"""Test fixtures: real PostgreSQL and Redis, a fresh database per test cloned from a migrated template."""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from codex_graphql.app import create_app
from codex_graphql.db import Database
from codex_graphql.settings import Settings
from tests.support import Factory, GraphQLClient

# Fixture modules shared by several test files.
pytest_plugins = ["tests.support.media", "tests.support.s3_server", "tests.support.commerce", "tests.support.accounts"]

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# One per process, so one per pytest-xdist worker too: every database a test run creates carries it, and
# two workers (or two runs on the same server) never share a name.
RUN_ID = uuid.uuid4().hex[:8]
# Any fixed number: the key of the advisory lock that serializes cluster-wide setup between processes.
CLUSTER_SETUP_LOCK = 0x636F646578


# The role the API logs in as (migration 0016 creates it): owns nothing, holds nothing but membership of
# codex_app. The app under test (settings, db) connects as it; admin fixtures stay superuser.
API_ROLE = "codex_api"


def db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def api_url(url: str) -> str:
    """The same database, logged in as the API role (trust authentication on the test server)."""
    return make_url(url).set(username=API_ROLE, password=None).render_as_string(hide_password=False)


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["skip_logging"] = True
    return config


async def admin_execute(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class _Dropper:
    """Drops the tests' databases on a thread of its own, one after the other, while the next tests run.

    DROP DATABASE waits for a checkpoint, which on a slow disk takes seconds (most of a short test's time when
    the test waited for it); nothing needs the database gone at once. At most ``PENDING`` drops wait (a test's
    teardown blocks beyond that, so the disk holds a bounded number of leftover copies), and the process waits for
    the queue to drain when it exits."""

    PENDING = 8

    def __init__(self) -> None:
        self.names: queue.Queue[str | None] = queue.Queue(self.PENDING)
        self.thread: threading.Thread | None = None

    def drop(self, name: str) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="test-db-dropper", daemon=True)
            self.thread.start()
            atexit.register(self.close)
        self.names.put(name)

    def _run(self) -> None:
        while (name := self.names.get()) is not None:
            try:
                asyncio.run(admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            except Exception as exc:  # a leftover database is only disk; never fail a later test for it
                print(f"could not drop test database {name}: {exc}")

    def close(self) -> None:
        if self.thread is not None:
            self.names.put(None)
            self.thread.join(timeout=300)
            self.thread = None


DROPPER = _Dropper()


@asynccontextmanager
async def cluster_setup_lock() -> AsyncIterator[None]:
    """Held while this process changes what the whole PostgreSQL cluster shares (roles): parallel workers and
    other test runs on the same server take turns. An advisory lock in the admin database, which every
    process connects to; PostgreSQL releases it if the process dies."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute("select pg_advisory_lock($1)", CLUSTER_SETUP_LOCK)
        yield
    finally:
        await conn.close()  # ends the session, and with it the lock


@pytest.fixture(scope="session")
async def template_db() -> AsyncIterator[str]:
    """This process's migrated template (per xdist worker: the name carries RUN_ID). Migrations create the
    cluster's roles on first run, so they are built one process at a time."""
    name = f"codex_tpl_{RUN_ID}"
    await admin_execute(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    async with cluster_setup_lock():
        await asyncio.to_thread(command.upgrade, alembic_config(db_url(name)), "head")
    yield name
    await asyncio.to_thread(DROPPER.close)  # the clones first: a template with copies pending is still in use
    await admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def module_database(label: str) -> Any:
    """A ``database_url`` fixture for a whole module: one clone of the template instead of one per test
    (its DROP DATABASE checkpoint dominates short tests). Use as ``database_url = module_database("x")``;
    the module's tests must then not depend on each other's rows."""

    @pytest.fixture(scope="module")
    async def database_url(template_db: str) -> AsyncIterator[str]:
        name = f"codex_t_{RUN_ID}_{label}_{uuid.uuid4().hex[:6]}"
        await admin_execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
        yield db_url(name)
        await asyncio.to_thread(DROPPER.drop, name)

    return database_url


@pytest.fixture
async def database_url(template_db: str) -> AsyncIterator[str]:
    name = f"codex_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    await admin_execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    yield db_url(name)
    await asyncio.to_thread(DROPPER.drop, name)


@pytest.fixture
def api_database_url(database_url: str) -> str:
    return api_url(database_url)


@pytest.fixture
async def redis_namespace() -> AsyncIterator[str]:
    namespace = f"codex-test-{uuid.uuid4().hex[:10]}"
    yield namespace
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{namespace}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def settings(api_database_url: str, redis_namespace: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        environment="test",
        database_url=api_database_url,
        redis_url=REDIS_URL,
        redis_namespace=redis_namespace,
        secret_key="test-secret-key-not-for-production",
        public_base_url="http://testserver",
        log_json=False,
        relay_poll_seconds=0.1,
        smtp_url=None,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
async def db(api_database_url: str) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=api_database_url).database_url or "", pool_size=2, max_overflow=2)
    yield database
    await database.dispose()


@pytest.fixture
async def admin_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection (bypasses RLS) for arranging and asserting raw state."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def factory(db: Database, gql: GraphQLClient) -> Factory:
    return Factory(db, gql)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> None:
    """Argon2id with tiny parameters keeps hundreds of sign-ups fast; test_password_hashing checks the
    production parameters separately."""
    from codex_graphql.accounts import security

    security.use_fast_test_hashing()
