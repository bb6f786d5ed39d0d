"""Helpers of the credits tests: tenants made straight in the database, the ledger's invariants read back."""

from __future__ import annotations

import uuid
from typing import Any

from codex_graphql.credits import service
from codex_graphql.db import Database, TenantScope
from codex_graphql.errors import DomainError


async def new_user(admin_db: Any) -> uuid.UUID:
    user_id = uuid.uuid4()
    await admin_db.execute("insert into user_account (id, email, password_hash, platform_role) "
                           "values ($1, $2, 'x', 'CUSTOMER')", user_id, f"{user_id.hex[:12]}@example.com")
    return user_id


async def new_org(admin_db: Any) -> uuid.UUID:
    org_id = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Org')", org_id,
                           f"o-{org_id.hex[:10]}")
    return org_id


async def assert_ledger(admin_db: Any, org: uuid.UUID, user: uuid.UUID, expected: int | None = None) -> int:
    """The maintained balance equals the SUM of the ledger (and the last row's balance_after); the lots never
    hold more than the balance; nothing is negative. Returns the balance."""
    row = await admin_db.fetchrow("select balance from credit_balance where organization_id = $1 and user_id = $2",
                                  org, user)
    balance = row["balance"] if row else 0
    total = await admin_db.fetchval("select coalesce(sum(amount), 0) from credit_transaction "
                                    "where organization_id = $1 and user_id = $2", org, user)
    last = await admin_db.fetchval("select balance_after from credit_transaction where organization_id = $1 "
                                   "and user_id = $2 order by created_at desc, id desc limit 1", org, user)
    lots = await admin_db.fetchval("select coalesce(sum(remaining), 0) from credit_lot where organization_id = $1 "
                                   "and user_id = $2", org, user)
    assert balance == total, (balance, total)
    assert last is None or last == balance, (last, balance)
    assert 0 <= lots <= balance, (lots, balance)
    assert await admin_db.fetchval("select count(*) from credit_transaction where balance_after < 0") == 0
    if expected is not None:
        assert balance == expected, (balance, expected)
    return balance


async def run(db: Database, org: uuid.UUID, operation: Any, *args: Any, **kwargs: Any) -> Any:
    """One service call in its own transaction of the organization's scope (as a webhook handler or job)."""
    async with db.transaction(TenantScope(organization_id=org)) as session:
        return await operation(session, org, *args, **kwargs)


async def refused(db: Database, org: uuid.UUID, operation: Any, *args: Any, **kwargs: Any) -> list[str]:
    """The error codes of a call expected to fail with a DomainError (its transaction rolled back)."""
    try:
        await run(db, org, operation, *args, **kwargs)
    except DomainError as error:
        return [e.code.value for e in error.errors]
    raise AssertionError("the call succeeded")


SOURCE = service.Source("test", "t-1")
