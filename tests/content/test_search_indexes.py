"""The customers list's search (``Organization.customers(search:)``: ``email ILIKE '%words%' OR name ILIKE
'%words%'`` on ``user_account``) can be answered from the trigram indexes of migration 0020: EXPLAIN of the
very statement the repository sends, in the app's role and tenant scope, uses both."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sqlalchemy import event

from codex_graphql.analytics import repository
from codex_graphql.db import Database, TenantScope, driver_connection

USERS = 2000
INDEXES = ("ix_user_account_email_trgm", "ix_user_account_name_trgm")


async def _customers(admin_db: asyncpg.Connection) -> uuid.UUID:
    """An organization whose customers are half of USERS platform users, one of them named Zanzibar."""
    organization = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Search')",
                           organization, f"search-{organization.hex[:8]}")
    await admin_db.execute(
        "insert into user_account (id, email, name, password_hash, platform_role) "
        "select gen_random_uuid(), 'user' || g || '-' || md5(g::text) || '@example.test', 'Customer ' || g, 'x', "
        "'CUSTOMER' from generate_series(1, $1) g", USERS)
    await admin_db.execute("update user_account set name = 'Zanzibar Quokka' where email like 'user7-%'")
    await admin_db.execute(
        "insert into customer_summary (organization_id, user_id, first_purchase_at, last_purchase_at) "
        "select $1, id, now(), now() from user_account where email like 'user%' and split_part(email, '-', 1) "
        "in (select 'user' || g from generate_series(1, $2, 2) g)", organization, USERS)
    await admin_db.execute("vacuum analyze user_account")
    await admin_db.execute("vacuum analyze customer_summary")
    return organization


async def test_the_customer_search_statement_uses_the_trigram_indexes(db: Database, admin_db: asyncpg.Connection) -> None:
    organization = await _customers(admin_db)
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    async with db.transaction(TenantScope(organization_id=organization)) as session:
        page = await repository.customers_page(session, organization, first=20, after=None, search="zanzibar",
                                               content_id=None, field="LAST_PURCHASE_AT", descending=True)
        assert [user.name for _summary, user in page.items] == ["Zanzibar Quokka"]
        statement, parameters = next((s, p) for s, p in sent if "ILIKE" in s)
        connection = await driver_connection(session)
        assert await connection.fetchval("select current_user") == "codex_app"  # RLS applies, as for requests
        await connection.execute("set local enable_seqscan = off")  # a few thousand rows: the planner could scan
        plan = "\n".join(row[0] for row in await connection.fetch("explain " + statement, *parameters))
    for index in INDEXES:
        assert f"Bitmap Index Scan on {index}" in plan, plan


async def test_the_indexes_are_trigram_gin_indexes(admin_db: asyncpg.Connection) -> None:
    definitions = dict(await admin_db.fetch(
        "select indexname, indexdef from pg_indexes where tablename = 'user_account' and indexname like '%trgm'"))
    assert definitions == {
        "ix_user_account_email_trgm":
            "CREATE INDEX ix_user_account_email_trgm ON public.user_account USING gin (email gin_trgm_ops)",
        "ix_user_account_name_trgm":
            "CREATE INDEX ix_user_account_name_trgm ON public.user_account USING gin (name gin_trgm_ops)",
    }
