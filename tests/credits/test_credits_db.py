"""The ledger's guarantees below the application: append-only transactions, a balance that cannot go negative, and
row-level security that hides other tenants' and other customers' rows from a query that forgets its filter."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.credits import service
from codex_graphql.db import TenantScope, utcnow
from tests.credits.support import SOURCE, assert_ledger, new_org, new_user, run


async def test_transactions_are_append_only_for_the_app_role_and_the_owner(db, admin_db):
    org, user = await new_org(admin_db), await new_user(admin_db)
    row = await run(db, org, service.grant, user, 5, "g", SOURCE, expires_at=utcnow() + timedelta(days=3))
    for statement in ("update credit_transaction set amount = 500", "delete from credit_transaction"):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.transaction(TenantScope(organization_id=org)) as session:
                await session.execute(text(statement))
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await admin_db.execute(statement)  # the table's owner (a superuser here) is refused by the trigger
    assert await admin_db.fetchval("select amount from credit_transaction where id = $1", row.id) == 5
    # The balance row cannot go below zero, whoever writes it.
    with pytest.raises(asyncpg.CheckViolationError):
        await admin_db.execute("update credit_balance set balance = -1")
    await assert_ledger(admin_db, org, user, 5)
    # Rows go with their organization (the referential actions are allowed through).
    await admin_db.execute("delete from organization where id = $1", org)
    assert await admin_db.fetchval("select count(*) from credit_transaction") == 0
    assert await admin_db.fetchval("select count(*) from credit_lot") == 0


async def test_row_level_security_hides_other_tenants_and_other_customers(db, admin_db):
    org_a, org_b = await new_org(admin_db), await new_org(admin_db)
    alice, bob = await new_user(admin_db), await new_user(admin_db)
    await run(db, org_a, service.grant, alice, 3, "a-alice", SOURCE, expires_at=utcnow() + timedelta(days=3))
    await run(db, org_a, service.grant, bob, 4, "a-bob", SOURCE, expires_at=utcnow() + timedelta(days=3))
    await run(db, org_b, service.grant, alice, 5, "b-alice", SOURCE, expires_at=utcnow() + timedelta(days=3))

    async def visible(scope: TenantScope) -> dict[str, set]:
        found = {}
        async with db.transaction(scope) as session:
            for table in ("credit_transaction", "credit_balance", "credit_lot"):  # no filter at all
                rows = (await session.execute(text(f"select organization_id, user_id from {table}"))).all()
                found[table] = {(r[0], r[1]) for r in rows}
        return found

    staff_b = await visible(TenantScope(user_id=await new_user(admin_db), organization_id=org_b))
    assert all(rows == {(org_b, alice)} for rows in staff_b.values()), staff_b
    alice_anywhere = await visible(TenantScope(user_id=alice))  # a customer: their own rows in every organization
    assert all(rows == {(org_a, alice), (org_b, alice)} for rows in alice_anywhere.values()), alice_anywhere
    bob_anywhere = await visible(TenantScope(user_id=bob))
    assert all(rows == {(org_a, bob)} for rows in bob_anywhere.values()), bob_anywhere
    anonymous = await visible(TenantScope())
    assert all(rows == set() for rows in anonymous.values()), anonymous
    # A customer cannot write into their own rows (only the organization's scope writes).
    with pytest.raises(DBAPIError):
        async with db.transaction(TenantScope(user_id=alice)) as session:
            await session.execute(text("insert into credit_balance (organization_id, user_id, balance) "
                                       "values (:o, :u, 100) on conflict (organization_id, user_id) do update "
                                       "set balance = 100"), {"o": org_a, "u": alice})
    # Another organization's scope cannot change this one's rows: they are not there for it.
    async with db.transaction(TenantScope(organization_id=org_b)) as session:
        changed = await session.execute(text("update credit_lot set remaining = 0 where organization_id = :o"),
                                        {"o": org_a})
        assert changed.rowcount == 0
    assert await admin_db.fetchval("select sum(remaining) from credit_lot where organization_id = $1", org_a) == 7
    await assert_ledger(admin_db, org_a, alice, 3)
    await assert_ledger(admin_db, org_a, bob, 4)
