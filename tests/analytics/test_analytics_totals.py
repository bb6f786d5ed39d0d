"""``analytics_totals.customers`` (migration 0019): the organization's customer count kept by statement
triggers on ``customer_summary``, exactly once per customer under concurrent purchases, unchanged by
refunds and repeat purchases, equal to a count from scratch, and what ``customerCount`` answers."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from codex_graphql.accounts.security import hash_password
from codex_graphql.relay import to_global_id
from tests.support import commerce as commerce_support
from tests.support.commerce import REFUND

shop = commerce_support.shop

PAID = """insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status,
  amount_cents, currency) select $4, $1, $2, $3, c.creator_id, c.title, 'PAID', 'COMPLETED', 500, 'USD'
  from content c where c.id = $3"""


async def _shop(conn: asyncpg.Connection, buyers: int, items: int) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    password = await hash_password("not used here")
    users = [await conn.fetchval(
        "insert into user_account (id, email, name, password_hash, platform_role) values "
        "(gen_random_uuid(), $1, 'Buyer', $2, 'CUSTOMER') returning id", f"b{n}-{uuid.uuid4().hex[:8]}@example.com",
        password) for n in range(buyers + 1)]
    org = await conn.fetchval("insert into organization (id, slug, name) values (gen_random_uuid(), $1, 'Org') "
                              "returning id", f"org-{uuid.uuid4().hex[:8]}")
    contents = [await conn.fetchval(
        "insert into content (id, organization_id, creator_id, kind, status, title, price_cents, storage_key, "
        "mime_type, original_filename, size_bytes, duration_seconds, published_at) values (gen_random_uuid(), $1, $2, "
        "'VIDEO', 'PUBLISHED', $3, 500, 'k', 'video/mp4', 'a.mp4', 100, 60, now()) returning id", org, users[0],
        f"Item {n}") for n in range(items)]
    return org, contents, users[1:]


async def _figures(conn: asyncpg.Connection, org: uuid.UUID) -> tuple[int | None, int, int]:
    """(kept by the triggers, customer_summary rows, distinct buyers in purchase): a count from scratch."""
    row = await conn.fetchrow(
        "select (select customers from analytics_totals where organization_id = $1) as kept, "
        "(select count(*) from customer_summary where organization_id = $1) as summarized, "
        "(select count(distinct user_id) from purchase where organization_id = $1) as buyers", org)
    return row["kept"], row["summarized"], row["buyers"]


async def test_concurrent_first_purchases_count_each_customer_exactly_once(database_url):
    conns = [await asyncpg.connect(database_url) for _ in range(7)]
    try:
        org, items, buyers = await _shop(conns[0], 4, 2)
        other_org, other_items, _ = await _shop(conns[0], 0, 1)
        # Seven transactions open at once, all inserted before any commits (the summary triggers run at
        # commit): four new customers, two of them buying a second item in a transaction of their own
        # (their summary row is inserted by one transaction and updated by the other), and one buyer of
        # another organization.
        orders = [(org, buyers[0], items[0]), (org, buyers[1], items[0]), (org, buyers[2], items[0]),
                  (org, buyers[3], items[0]), (org, buyers[0], items[1]), (org, buyers[1], items[1]),
                  (other_org, buyers[2], other_items[0])]
        transactions = [conn.transaction() for conn in conns]
        for conn, transaction, (shop, buyer, item) in zip(conns, transactions, orders, strict=True):
            await transaction.start()
            await conn.execute(PAID, shop, buyer, item, uuid.uuid4())
        await asyncio.gather(*(transaction.commit() for transaction in transactions))
        assert await _figures(conns[0], org) == (4, 4, 4)
        assert await _figures(conns[0], other_org) == (1, 1, 1)
    finally:
        for conn in conns:
            await conn.close()


async def test_refunds_repeat_purchases_and_rebuilds_keep_the_count_equal_to_a_recount(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        org, items, buyers = await _shop(conn, 3, 2)
        purchases = []
        for buyer, item in ((buyers[0], items[0]), (buyers[0], items[1]), (buyers[1], items[0])):
            purchases.append(uuid.uuid4())
            await conn.execute(PAID, org, buyer, item, purchases[-1])
        assert await _figures(conn, org) == (2, 2, 2)
        # A refund (the buyer stays a customer: every purchase counts, any status) changes nothing.
        await conn.execute("update purchase set status = 'REFUNDED', refunded_at = now() where id = $1", purchases[2])
        assert await _figures(conn, org) == (2, 2, 2)
        # The rebuild deletes and inserts every summary row: the triggers follow both statements.
        async with conn.transaction():
            await conn.execute("select set_config('codex.organization_id', $1, true)", str(org))
            await conn.execute("select analytics_rebuild($1)", org)
        assert await _figures(conn, org) == (2, 2, 2)
        await conn.execute(PAID, org, buyers[2], items[1], uuid.uuid4())
        assert await _figures(conn, org) == (3, 3, 3)
        # Gone with the organization.
        await conn.execute("delete from organization where id = $1", org)
        assert await conn.fetchval("select count(*) from analytics_totals where organization_id = $1", org) == 0
    finally:
        await conn.close()


async def test_codex_app_reads_its_organizations_total_only_and_cannot_write_it(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        org, items, buyers = await _shop(conn, 1, 1)
        other, other_items, _ = await _shop(conn, 0, 1)
        await conn.execute(PAID, org, buyers[0], items[0], uuid.uuid4())
        await conn.execute(PAID, other, buyers[0], other_items[0], uuid.uuid4())
        async with conn.transaction():
            await conn.execute("set local role codex_app")
            await conn.execute("select set_config('codex.organization_id', $1, true)", str(org))
            # The plain setting is not the authenticated scope codex_app's policies read: nothing is visible.
            assert await conn.fetchval("select count(*) from analytics_totals") == 0
        async with conn.transaction():
            await conn.execute("set local role codex_app")
            try:
                await conn.execute("update analytics_totals set customers = 99")
            except asyncpg.InsufficientPrivilegeError:
                pass
            else:
                raise AssertionError("codex_app may only read analytics_totals")
        assert await _figures(conn, org) == (1, 1, 1)
    finally:
        await conn.close()


async def test_customer_count_through_the_app_follows_checkouts_and_refunds(shop, admin_db):
    """Through the app (compiled dashboard and the resolvers' repository read the same total)."""
    query = """query($s: String!) { organization(slug: $s) { analytics { customerCount purchaseCount } } }"""
    ann, ben = await shop.factory.user(name="Ann"), await shop.factory.user(name="Ben")
    await shop.buy(ann)
    await shop.buy(ben)
    ben_purchase = await admin_db.fetchval("select id from purchase where user_id = $1", ben.user_id)
    await shop.gql.ok(REFUND, {"input": {"purchaseId": to_global_id("Purchase", ben_purchase), "reason": "",
                                         "idempotencyKey": "r1"}}, shop.owner.token)
    data = (await shop.gql.ok(query, {"s": "shop"}, shop.owner.token))["organization"]["analytics"]
    assert data["customerCount"] == 2 == await admin_db.fetchval(
        "select count(distinct user_id) from purchase where organization_id = $1", shop.org)
