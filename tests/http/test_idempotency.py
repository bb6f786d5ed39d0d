"""Idempotency keys on state-changing mutations: replay, reuse with other input, concurrency, expiry, cleanup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from codex_graphql import idempotency
from codex_graphql.db import utcnow
from tests.support.commerce import insert_content

CLAIM = """mutation($input: ClaimFreeContentInput!) { claimFreeContent(input: $input) {
  errors { code field message } purchase { id kind status } } }"""
GRANT = """mutation($input: GrantContentAccessInput!) { grantContentAccess(input: $input) {
  errors { code field message } purchase { id kind status } } }"""


async def claim(shop, person, content: str, key: str | None) -> dict:
    body = await shop.gql(CLAIM, {"input": {"contentId": content, "idempotencyKey": key}}, person.token)
    return body["data"]["claimFreeContent"]


async def state(admin_db) -> tuple:
    return (await admin_db.fetchval("select count(*) from purchase"),
            await admin_db.fetchval("select count(*) from content_entitlement"),
            await admin_db.fetchval("select count(*) from outbox_message where topic = 'purchase.completed'"),
            await admin_db.fetchval("select count(*) from idempotency_record"))


async def test_claim_free_content_replays_the_first_result_for_the_same_key_and_input(shop, admin_db):
    customer = await shop.factory.user()
    first = await claim(shop, customer, shop.free, "claim-1")
    assert first["errors"] == [] and first["purchase"]["kind"] == "FREE"
    after_first = await state(admin_db)
    again = await claim(shop, customer, shop.free, "claim-1")
    assert again == first
    assert await state(admin_db) == after_first  # one purchase, one entitlement, one event, one record
    record = await admin_db.fetchrow("select operation, expires_at - created_at as ttl from idempotency_record")
    assert record["operation"] == "claimFreeContent" and abs(record["ttl"] - timedelta(hours=24)) < timedelta(seconds=5)


async def test_the_same_key_with_another_input_is_refused_and_changes_nothing(shop, admin_db, db):
    customer = await shop.factory.user()
    other_free = await insert_content(db, shop.org, shop.creator.user_id, "Another free short", 0)
    assert (await claim(shop, customer, shop.free, "k"))["errors"] == []
    before = await state(admin_db)
    reused = await claim(shop, customer, other_free, "k")
    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert reused["errors"][0]["field"] == ["input", "idempotencyKey"] and reused["purchase"] is None
    assert await state(admin_db) == before
    # Keys are per person: someone else may use the same key for anything.
    stranger = await shop.factory.user()
    assert (await claim(shop, stranger, other_free, "k"))["errors"] == []


async def test_concurrent_requests_with_one_key_have_one_effect(shop, admin_db):
    customer = await shop.factory.user()
    grant_input = {"contentId": shop.paid, "userId": customer.global_id, "note": "press", "idempotencyKey": "g-1"}
    results = await asyncio.gather(*[shop.gql(GRANT, {"input": grant_input}, shop.owner.token) for _ in range(4)])
    payloads = [r["data"]["grantContentAccess"] for r in results]
    assert all(p["errors"] == [] for p in payloads), payloads
    assert len({p["purchase"]["id"] for p in payloads}) == 1
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'GRANT'") == 1
    assert await admin_db.fetchval("select count(*) from audit_log_entry where action = 'ACCESS_GRANTED'") == 1

    claims = await asyncio.gather(*[claim(shop, customer, shop.free, "c-1") for _ in range(4)])
    assert all(c["errors"] == [] for c in claims) and len({c["purchase"]["id"] for c in claims}) == 1
    assert await admin_db.fetchval("select count(*) from purchase where kind = 'FREE'") == 1


async def test_an_expired_key_can_be_used_again_and_cleanup_deletes_only_expired_records(shop, admin_db, db):
    customer = await shop.factory.user()
    other_free = await insert_content(db, shop.org, shop.creator.user_id, "Another free short", 0)
    first = await claim(shop, customer, shop.free, "old-key")
    assert first["errors"] == []
    assert (await claim(shop, customer, shop.free, "fresh-key"))["errors"] == []
    await admin_db.execute("update idempotency_record set expires_at = now() - interval '1 second' where key = 'old-key'")

    reused = await claim(shop, customer, other_free, "old-key")  # expired: a new attempt, not a replay
    assert reused["errors"] == [] and reused["purchase"]["id"] != first["purchase"]["id"]
    assert await admin_db.fetchval("select count(*) from purchase where user_id = $1", customer.user_id) == 2

    await admin_db.execute("update idempotency_record set expires_at = now() - interval '1 second' where key = 'fresh-key'")
    assert await idempotency.cleanup_expired(db, batch=1) == 1
    assert sorted(r["key"] for r in await admin_db.fetch("select key from idempotency_record")) == ["old-key"]
    assert await admin_db.fetchval("select expires_at > $1::timestamptz from idempotency_record", utcnow()) is True
    assert await idempotency.cleanup_expired(db) == 0
