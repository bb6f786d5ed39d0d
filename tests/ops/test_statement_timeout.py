"""Server-side timeouts on every connection the app opens (DATABASE_STATEMENT_TIMEOUT_MS,
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS): the SQLAlchemy pool of the API and of the workers and the
compiled read path's asyncpg pool start their sessions with them; a statement running past the limit is
cancelled, its request answers a masked INTERNAL_SERVER_ERROR (never a 500) and every connection goes back
to its pool usable. Migrations and CLI commands open their own connections, without them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.app import create_app
from codex_graphql.db import Database, TenantScope, server_settings
from codex_graphql.settings import Settings
from tests.support import log_driver_queries

QUERY = '{ organization(slug: "nobody-here") { id name } }'


def test_the_settings_and_their_defaults() -> None:
    defaults = Settings(environment="test")
    assert defaults.database_statement_timeout_ms == 15_000
    assert defaults.database_idle_in_transaction_timeout_ms == 60_000
    assert server_settings(15_000, 60_000) == {"statement_timeout": "15000",
                                               "idle_in_transaction_session_timeout": "60000"}
    assert server_settings(0, 0) == {}  # 0 disables: the server's own default applies
    with pytest.raises(ValueError):
        Settings(environment="test", database_statement_timeout_ms=-1)


async def _show(run: Any) -> tuple[str, str]:
    return (await run("show statement_timeout"), await run("show idle_in_transaction_session_timeout"))


def _on(session: Any) -> Any:
    return lambda sql: session.scalar(text(sql))


async def test_a_statement_past_the_timeout_is_cancelled_and_the_connection_is_reused(api_database_url: str) -> None:
    db = Database(Settings(database_url=api_database_url).database_url or "", pool_size=1, max_overflow=0,
                  statement_timeout_ms=50)
    try:
        async with db.transaction(TenantScope()) as session:
            backend = await session.scalar(text("select pg_backend_pid()"))
        with pytest.raises(DBAPIError) as raised:
            async with db.transaction(TenantScope()) as session:
                await session.execute(text("select pg_sleep(1)"))
        assert isinstance(raised.value.orig.__cause__, asyncpg.QueryCanceledError)  # type: ignore[union-attr]
        assert "statement timeout" in str(raised.value)
        assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # The same (only) connection serves the next transaction, still with its timeout.
        async with db.transaction(TenantScope()) as session:
            assert await session.scalar(text("select pg_backend_pid()")) == backend
            assert await session.scalar(text("show statement_timeout")) == "50ms"
            assert await session.scalar(text("select pg_sleep(0.01)::text")) == ""
    finally:
        await db.dispose()


async def test_a_transaction_left_idle_is_ended_by_the_server_and_the_pool_reconnects(api_database_url: str) -> None:
    db = Database(Settings(database_url=api_database_url).database_url or "", pool_size=1, max_overflow=0,
                  idle_in_transaction_timeout_ms=200)
    try:
        with pytest.raises(DBAPIError):
            async with db.transaction(TenantScope()) as session:
                await session.execute(text("select 1"))
                await asyncio.sleep(0.6)  # a leaked transaction, holding whatever it locked
                await session.execute(text("select 1"))
        async with db.transaction(TenantScope()) as session:
            assert await session.scalar(text("select 1")) == 1
        assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_a_database_without_timeouts_sets_none(api_database_url: str) -> None:
    """CLI commands (and migrations, with their own engine) keep the server's defaults: no limit."""
    db = Database(Settings(database_url=api_database_url).database_url or "", pool_size=1, max_overflow=0)
    try:
        async with db.transaction(TenantScope()) as session:
            assert await _show(_on(session)) == ("0", "0")
    finally:
        await db.dispose()


async def answered(http: httpx.AsyncClient) -> None:
    body = (await http.post("/graphql", json={"query": QUERY})).json()
    assert body["data"] == {"organization": None} and "errors" not in body, body


@pytest.fixture
async def timed_app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings.model_copy(update={"database_statement_timeout_ms": 300,
                                                         "database_idle_in_transaction_timeout_ms": 45_000}))
    async with application.router.lifespan_context(application):
        yield application


async def test_both_pools_of_the_app_and_the_workers_pool_open_with_the_settings(
        timed_app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    services = timed_app.state.runtime["services"]
    async with services.db.transaction(TenantScope()) as session:
        # Still in force after the switch to the application role (the transaction's first statement).
        assert await session.scalar(text("select current_user")) == "codex_app"
        assert await _show(_on(session)) == ("300ms", "45s")
    fast = timed_app.state.runtime["graphql"].fast
    assert fast is not None
    pool = await fast._open()  # noqa: SLF001 (the compiled read path's own pool)
    async with pool.acquire() as conn:
        assert await _show(conn.fetchval) == ("300ms", "45s")

    from workers import runtime as worker_runtime

    # A worker builds the same Services (workers/runtime.py), so its pool opens with the same settings.
    monkeypatch.setattr(worker_runtime, "_settings", settings.model_copy(update={"database_statement_timeout_ms": 2_000}))
    monkeypatch.setattr(worker_runtime, "_runtime", None)
    try:
        async with worker_runtime.runtime().db.transaction(TenantScope()) as session:
            assert await _show(_on(session)) == ("2s", "1min")
    finally:
        await worker_runtime.shutdown()


async def test_a_query_past_the_timeout_answers_a_masked_error_and_leaks_no_connection(
        timed_app: Any, database_url: str) -> None:
    transport = httpx.ASGITransport(app=timed_app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await answered(http)
        # A superuser holds the table: the request's statements wait for the lock until the timeout fires.
        blocker = await asyncpg.connect(database_url)
        try:
            async with blocker.transaction():
                await blocker.execute("lock table organization in access exclusive mode")
                async with asyncio.timeout(20):  # without the server's timeout the request would wait forever
                    response = await http.post("/graphql", json={"query": QUERY})
        finally:
            await blocker.close()
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] is None or body["data"] == {"organization": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL_SERVER_ERROR"]
        assert "timeout" not in response.text and "cancel" not in response.text  # masked
        # Nothing is left checked out or broken: the next requests are answered normally.
        # (The request's session is closed as the response ends, which may be a moment after the client has it.)
        pool = timed_app.state.runtime["services"].db.engine.sync_engine.pool
        for _ in range(100):
            if pool.checkedout() == 0:
                break
            await asyncio.sleep(0.05)
        assert pool.checkedout() == 0
        for _ in range(3):
            await answered(http)


async def test_a_compiled_statement_past_the_timeout_is_not_run_again_through_the_resolvers(
        timed_app: Any, database_url: str) -> None:
    from sqlalchemy import event

    fast = timed_app.state.runtime["graphql"].fast
    assert fast is not None and fast.plan(QUERY, None) is not None  # the document compiles
    engine = timed_app.state.runtime["services"].db.engine.sync_engine
    resolver_statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        resolver_statements.append(statement)

    transport = httpx.ASGITransport(app=timed_app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await answered(http)
        blocker = await asyncpg.connect(database_url)
        event.listen(engine, "before_cursor_execute", record)
        stop = log_driver_queries(engine, lambda query: resolver_statements.append(query.query))  # raw reads too
        try:
            async with blocker.transaction():
                await blocker.execute("lock table organization in access exclusive mode")
                async with asyncio.timeout(20):
                    response = await http.post("/graphql", json={"query": QUERY})
        finally:
            await asyncio.sleep(0)  # asyncpg hands query logs to the loop
            stop()
            event.remove(engine, "before_cursor_execute", record)
            await blocker.close()
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL_SERVER_ERROR"]
        assert body["errors"][0]["extensions"]["requestId"]
        # The resolvers never read the organization (they would have waited for the lock as long again).
        assert not [s for s in resolver_statements if "FROM organization" in s], resolver_statements
        await answered(http)
