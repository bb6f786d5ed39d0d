"""Purchase summaries are maintained at commit (migration 0007): an open purchase does not hold the
organization's daily row, and the trigger writes in the purchase's own tenant scope whatever scope the
transaction ends in."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from codex_graphql.accounts.security import hash_password
from tests.conftest import RUN_ID
from tests.support.commerce import insert_content


async def _org_with_buyers(conn: asyncpg.Connection, buyers: int) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    password = await hash_password("not used here")
    users = [await conn.fetchval(
        "insert into user_account (id, email, name, password_hash, platform_role) values "
        "(gen_random_uuid(), $1, 'Buyer', $2, 'CUSTOMER') returning id", f"buyer{n}-{uuid.uuid4().hex[:6]}@example.com",
        password) for n in range(buyers + 1)]
    org = await conn.fetchval("insert into organization (id, slug, name) values (gen_random_uuid(), $1, 'Org') "
                              "returning id", f"org-{uuid.uuid4().hex[:8]}")
    content = await conn.fetchval(
        "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key, "
        "mime_type, original_filename, size_bytes, duration_seconds, published_at) values (gen_random_uuid(), $1, $2, "
        "'VIDEO', 'PUBLISHED', 'Film', 500, 'k', 'video/mp4', 'a.mp4', 100, 60, now()) returning id", org, users[0])
    return org, content, users[1:]


INSERT_PURCHASE = """insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind,
  status, amount_cents, currency) select gen_random_uuid(), $1, $2, $3, c.creator_id, c.title, 'PAID', 'COMPLETED',
  500, 'USD' from content c where c.id = $3"""


async def test_an_open_purchase_does_not_hold_up_the_organizations_next_one(database_url):
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        org, content, (ann, ben) = await _org_with_buyers(first, 2)
        async with first.transaction():
            await first.execute(INSERT_PURCHASE, org, ann, content)
            # With the summaries updated by plain AFTER triggers, this waited on the day's row until the
            # first transaction ended (here: failed on the lock timeout).
            await second.execute("set lock_timeout = '2s'")
            async with second.transaction():
                await second.execute(INSERT_PURCHASE, org, ben, content)
            assert await second.fetchval(
                "select purchases from purchase_daily_stats where organization_id = $1", org) == 1
        day = await first.fetchrow(
            "select purchases, gross_cents from purchase_daily_stats where organization_id = $1", org)
        assert (day["purchases"], day["gross_cents"]) == (2, 1000)
        assert await first.fetchval(
            "select purchases from content_sales_summary where content_id = $1", content) == 2
        assert await first.fetchval(
            "select count(*) from customer_summary where organization_id = $1 and purchase_count = 1", org) == 2
    finally:
        await first.close()
        await second.close()


async def test_concurrent_purchases_all_count(database_url):
    conns = [await asyncpg.connect(database_url) for _ in range(6)]
    try:
        org, content, buyers = await _org_with_buyers(conns[0], 6)

        async def buy(conn: asyncpg.Connection, buyer: uuid.UUID) -> None:
            async with conn.transaction():
                await conn.execute(INSERT_PURCHASE, org, buyer, content)
                await asyncio.sleep(0.05)  # keep several transactions open at once

        for _ in range(3):
            await asyncio.gather(*(buy(conn, buyer) for conn, buyer in zip(conns, buyers, strict=True)))
        assert await conns[0].fetchval(
            "select purchases from purchase_daily_stats where organization_id = $1", org) == 18
        assert await conns[0].fetchval(
            "select sum(purchase_count) from customer_summary where organization_id = $1", org) == 18
    finally:
        for conn in conns:
            await conn.close()


CLAIM = "mutation($i: ClaimFreeContentInput!) { claimFreeContent(input: $i) { purchase { id } errors { code } } }"


async def test_the_trigger_writes_in_the_purchases_scope_when_its_owner_is_subject_to_rls(
        factory, db, gql, admin_db):
    """A free claim inserts its purchase inside ``acting_in`` and the transaction commits back in the
    customer's scope (no organization). With a function owner that row-level security applies to (any
    owner but a superuser, as in production), the summaries' policy admits only rows of the
    transaction's organization: the trigger has to take the purchase's."""
    owner_role = f"codex_summaries_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    functions = ("analytics_purchase_changed()", "analytics_bump_day(uuid, date, int, bigint, int, bigint)")
    await admin_db.execute(f"create role {owner_role} nologin nosuperuser nobypassrls")
    try:
        await admin_db.execute(f"grant select, insert, update on purchase_daily_stats, customer_summary, "
                               f"content_sales_summary to {owner_role}")
        await admin_db.execute(f"grant select on organization to {owner_role}")
        for function in functions:
            await admin_db.execute(f"alter function {function} owner to {owner_role}")

        staff = await factory.user()
        org = await factory.organization(staff, slug=f"scope-{uuid.uuid4().hex[:6]}")
        free = await insert_content(db, org, staff.user_id, "Free film", 0)
        customer = await factory.user()
        body = await gql(CLAIM, {"i": {"contentId": free}}, customer.token)
        assert body["data"]["claimFreeContent"]["errors"] == [], body
        assert await admin_db.fetchval(
            "select purchases from purchase_daily_stats where organization_id = $1", org) == 1
        assert await admin_db.fetchval(
            "select purchase_count from customer_summary where organization_id = $1 and user_id = $2",
            org, customer.user_id) == 1
    finally:
        for function in functions:
            await admin_db.execute(f"alter function {function} owner to current_user")
        await admin_db.execute(f"drop owned by {owner_role}")
        await admin_db.execute(f"drop role {owner_role}")
