"""``raw_read`` and ``SerializedSession.fetch`` (db.py): the hot read statements compiled once and run straight
on the driver connection of the request's transaction. They run in the transaction's tenant scope (begun
first, again after a commit), one at a time, and answer exactly what SQLAlchemy answers for the same
statement (values and their Python types: enums, uuids, json, arrays, timestamps)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import func, select

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.content import repository as contents
from codex_graphql.db import APP_ROLE, TenantScope, raw_read
from codex_graphql.organizations import repository as organizations
from codex_graphql.pagination import decode_cursor, encode_cursor
from tests.conftest import module_database
from tests.support.rls import Tenant, seed_tenant

database_url = module_database("raw_reads")


@pytest.fixture(scope="module")
async def tenant(database_url: str) -> Tenant:
    conn = await asyncpg.connect(database_url)
    try:
        return await seed_tenant(conn, "a")
    finally:
        await conn.close()


async def test_fetch_runs_in_the_tenant_scope_of_each_transaction_one_statement_at_a_time(db, tenant):
    session = db.session(TenantScope(user_id=tenant.customer))
    scope = raw_read(select(func.current_setting("role"), func.codex_current_user()))
    try:
        assert await session.fetch(scope, {}) == [(APP_ROLE, tenant.customer)]  # the scope statement ran first
        await session.commit()
        # A new transaction (maybe another connection): begun and scoped again, not the previous one's driver.
        assert await session.fetch(scope, {}) == [(APP_ROLE, tenant.customer)]
        sleep = raw_read(select(func.pg_sleep(0.01), func.txid_current()))
        answers = await asyncio.gather(*(session.fetch(sleep, {}) for _ in range(5)))
        assert len({rows[0][1] for rows in answers}) == 1  # one transaction, the statements one after another
    finally:
        await session.rollback()
        await session.close()


def _typed(rows: list) -> list:
    return [[(value, type(value)) for value in row] for row in rows]


async def test_fetch_answers_as_sqlalchemy_for_the_hot_reads(db, tenant):
    session = db.session(TenantScope(user_id=tenant.owner, organization_id=tenant.org))
    try:
        page, = await session.rows(contents._page_statement(True, False), {"organization_id": tenant.org, "limit": 1})
        after_created_at, after_id = decode_cursor(encode_cursor(page.created_at, page.id))
        content_ids = [tenant.published, tenant.draft, tenant.deleted]
        cases = [
            (contents._page_statement(staff, after), contents._page_read(staff, after),
             {"organization_id": tenant.org, "limit": 10, "after_created_at": after_created_at, "after_id": after_id})
            for staff in (True, False) for after in (True, False)
        ] + [
            (contents._ENTITLED, contents._ENTITLED_READ, {"user_id": tenant.customer, "content_ids": content_ids}),
            (contents._POSITIONS, contents._POSITIONS_READ, {"user_id": tenant.customer, "content_ids": content_ids}),
            (account_loaders._USERS, account_loaders._USERS_READ, {"ids": [tenant.owner, tenant.customer]}),
        ]
        for statement, read, parameters in cases:
            expected = [tuple(row) for row in await session.rows(statement, parameters)]
            assert _typed(await session.fetch(read, parameters)) == _typed(expected), read.sql
        assert any(await session.fetch(contents._page_read(True, False), {"organization_id": tenant.org, "limit": 10}))
        found = await organizations.by_slug(session, tenant.slug)
        model = await organizations.by_id(session, tenant.org)
        assert found is not None and model is not None
        assert _typed([found]) == _typed([[getattr(model, name) for name in found._fields]])
        assert await organizations.by_slug(session, "no-such-slug") is None
        assert _typed(await organizations.by_ids(session, [tenant.org, tenant.owner])) == _typed([found])
    finally:
        await session.rollback()
        await session.close()


async def test_begin_and_scope_go_out_as_one_message_and_a_refused_scope_leaves_no_transaction(
        api_database_url, tenant, monkeypatch):
    from codex_graphql import db as db_module
    from codex_graphql.settings import Settings

    database = db_module.Database(Settings(database_url=api_database_url).database_url or "", pool_size=1,
                                  max_overflow=0)
    scope = raw_read(select(func.current_setting("role"), func.codex_current_user()))
    sent: list[str] = []
    try:
        session = database.session(TenantScope(user_id=tenant.customer))
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        await session.rollback()
        driver.add_query_logger(lambda query: sent.append(query.query))
        assert await session.fetch(scope, {}) == [(APP_ROLE, tenant.customer)]
        await session.commit()
        await session.close()
        await asyncio.sleep(0)  # asyncpg hands query logs to the loop
        begun = [text for text in sent if text.startswith("BEGIN")]
        assert len(begun) == 1 and "codex_set_scope(" in begun[0] and "$1" not in begun[0], sent
        # A proof the database refuses: the statement fails after its BEGIN; the rollback ends that transaction
        # and the pool's one connection serves the next session in its own scope.
        monkeypatch.setattr(db_module, "scope_proof", lambda *args: "0" * 64)
        refused = database.session(TenantScope(user_id=tenant.owner))
        with pytest.raises(asyncpg.PostgresError):
            await refused.fetch(scope, {})
        await refused.rollback()
        await refused.close()
        monkeypatch.undo()
        assert not driver.is_in_transaction()
        session = database.session(TenantScope(user_id=tenant.customer))
        assert await session.fetch(scope, {}) == [(APP_ROLE, tenant.customer)]
        await session.rollback()
        await session.close()
    finally:
        await database.dispose()
