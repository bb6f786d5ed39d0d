"""The transactional outbox: rows commit with the change, the relay publishes each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from codex_graphql import events
from codex_graphql.db import Database, TenantScope
from codex_graphql.kv import MemoryPubSub, RedisPubSub
from tests.conftest import REDIS_URL, module_database

# One database for the module; every test starts from an empty outbox (see ``clean``).
database_url = module_database("outbox")


@pytest.fixture(autouse=True)
async def clean(admin_db):
    await admin_db.execute("delete from outbox_message; delete from processed_message")


class Recorder:
    """A job sender that records what it was asked to send; optionally fails or dawdles."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.fail_first = fail_first
        self.delay = delay
        self.calls = 0

    async def __call__(self, actor: str, job_id: str, payload: dict[str, Any]) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls <= self.fail_first:
            raise ConnectionError("broker unreachable")
        self.sent.append((actor, job_id, payload))


async def _org(admin_db) -> uuid.UUID:
    org_id = uuid.uuid4()
    await admin_db.execute("insert into organization (id, slug, name) values ($1, $2, 'Outbox Org')", org_id, f"ob-{org_id.hex[:10]}")
    return org_id


async def _rows(admin_db) -> list[dict[str, Any]]:
    return [dict(r) for r in await admin_db.fetch(
        "select id, kind, topic, payload, organization_id, published_at, attempts, last_error from outbox_message order by created_at")]


async def test_rolled_back_transaction_leaves_no_outbox_row(db, admin_db):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as session:
            events.emit(session, "thing.happened", {"x": 1})
            events.enqueue(session, "send_email", to="a@example.com")
            await session.flush()  # the rows reached the database inside the transaction ...
            raise Boom
    assert await _rows(admin_db) == []  # ... and vanished with it


async def test_a_failing_mutation_leaves_no_outbox_row(gql, factory, admin_db):
    from codex_graphql.authz import PlatformRole

    owner = await factory.user(role=PlatformRole.PLATFORM_OWNER)
    await factory.organization(owner, slug="outbox-taken")
    body = await gql("mutation{createOrganization(input:{name:\"X\", slug:\"outbox-taken\"}){errors{code}}}", token=owner.token)
    assert body["data"]["createOrganization"]["errors"] == [{"code": "ALREADY_EXISTS"}]
    assert await _rows(admin_db) == []


async def test_committed_rows_are_published_exactly_once(db, admin_db):
    org_id = await _org(admin_db)
    async with db.transaction(TenantScope(organization_id=org_id)) as session:
        job_id = events.enqueue(session, "send_email", organization_id=org_id, to="a@example.com", template="welcome")
        event_id = events.emit(session, "thing.happened", {"x": 1}, org_id)
    rows = await _rows(admin_db)
    assert {(r["id"], r["kind"], r["published_at"]) for r in rows} == {(job_id, "job", None), (event_id, "event", None)}

    sender, pubsub = Recorder(), MemoryPubSub()
    relay = events.OutboxRelay(db, sender, pubsub)
    assert await relay.publish_pending() == 2
    assert sender.sent == [("send_email", str(job_id), {"to": "a@example.com", "template": "welcome"})]
    assert all(r["published_at"] is not None and r["attempts"] == 0 for r in await _rows(admin_db))

    assert await relay.publish_pending() == 0  # a second pass sends nothing
    assert len(sender.sent) == 1 and sender.calls == 1


async def test_job_id_becomes_the_dramatiq_message_id(db):
    from workers.broker import QUEUE, job_sender

    broker = StubBroker()
    broker.declare_queue(QUEUE)
    async with db.transaction() as session:
        job_id = events.enqueue(session, "send_email", to="b@example.com")
    relay = events.OutboxRelay(db, job_sender(broker), MemoryPubSub())
    assert await relay.publish_pending() == 1
    message = Message.decode(broker.queues[QUEUE].get_nowait())
    assert message.message_id == str(job_id)
    assert message.actor_name == "send_email"
    assert message.kwargs == {"job_id": str(job_id), "to": "b@example.com"}
    assert broker.queues[QUEUE].empty()


async def test_events_reach_redis_subscribers(db, admin_db, redis_namespace):
    org_id = await _org(admin_db)
    client = aioredis.Redis.from_url(REDIS_URL)
    pubsub = RedisPubSub(client, redis_namespace)
    channel = events.event_channel(org_id)
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def listen() -> None:
        async for message in pubsub.subscribe(channel):
            await received.put(message)

    listener = asyncio.create_task(listen())
    try:
        for _ in range(100):  # wait until the subscriber has joined (its start is the stream's end then)
            if pubsub.local_subscribers:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("subscription never registered")
        async with db.transaction(TenantScope(organization_id=org_id)) as session:
            event_id = events.emit(session, "content.published", {"contentId": "c1"}, org_id)
            events.emit(session, "platform.thing", {"n": 1})  # other channel: not delivered here
        relay = events.OutboxRelay(db, Recorder(), pubsub)
        assert await relay.publish_pending() == 2
        message = orjson.loads(await asyncio.wait_for(received.get(), timeout=5))
        assert message["id"] == str(event_id)
        assert message["type"] == "content.published"
        assert message["payload"] == {"contentId": "c1"}
        assert message["organizationId"] == str(org_id)
        assert message["createdAt"]
        await asyncio.sleep(0.1)
        assert received.empty()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await client.aclose()


async def test_failed_send_is_retried_on_a_later_pass(db, admin_db):
    async with db.transaction() as session:
        job_id = events.enqueue(session, "send_email", to="c@example.com")
    sender = Recorder(fail_first=1)
    relay = events.OutboxRelay(db, sender, MemoryPubSub())

    assert await relay.publish_pending() == 0
    [row] = await _rows(admin_db)
    assert row["published_at"] is None
    assert row["attempts"] == 1
    assert "broker unreachable" in row["last_error"]

    assert await relay.publish_pending() == 1
    [row] = await _rows(admin_db)
    assert row["published_at"] is not None and row["attempts"] == 1
    assert sender.sent == [("send_email", str(job_id), {"to": "c@example.com"})]
    assert await relay.publish_pending() == 0


async def test_rows_of_a_crashed_pass_are_sent_by_the_next(db, admin_db):
    async with db.transaction() as session:
        job_id = events.enqueue(session, "send_email", to="d@example.com")

    async def dies(actor: str, job: str, payload: dict[str, Any]) -> None:
        raise asyncio.CancelledError  # the process goes away mid-pass: the relay's transaction never commits

    with pytest.raises(asyncio.CancelledError):
        await events.OutboxRelay(db, dies, MemoryPubSub()).publish_pending()
    [row] = await _rows(admin_db)
    assert row["published_at"] is None

    sender = Recorder()
    assert await events.OutboxRelay(db, sender, MemoryPubSub()).publish_pending() == 1
    assert [job for _, job, _ in sender.sent] == [str(job_id)]


async def test_a_failing_row_does_not_starve_newer_rows(db, admin_db):
    async with db.transaction() as session:
        poison = {events.enqueue(session, "poison", n=i) for i in range(2)}
    async with db.transaction() as session:
        fresh = [events.enqueue(session, "fine", n=i) for i in range(3)]

    async def sender(actor: str, job: str, payload: dict[str, Any]) -> None:
        if actor == "poison":
            raise ValueError("cannot encode")
        sent.append(job)

    sent: list[str] = []
    # A batch as large as the number of failing rows: oldest-first alone would retry them forever.
    relay = events.OutboxRelay(db, sender, MemoryPubSub(), batch=2)
    for _ in range(4):
        await relay.publish_pending()
    assert sent == [str(i) for i in fresh]
    poison_rows = [r for r in await _rows(admin_db) if r["id"] in poison]
    assert len(poison_rows) == 2
    assert all(r["published_at"] is None and r["attempts"] >= 1 for r in poison_rows)


async def test_concurrent_relays_never_publish_the_same_row_twice(db, database_url, admin_db):
    async with db.transaction() as session:
        ids = {str(events.enqueue(session, "job", n=i)) for i in range(24)}
    other_db = Database(db.url, pool_size=2, max_overflow=0)  # a second process, in effect
    try:
        first, second = Recorder(delay=0.01), Recorder(delay=0.01)
        relays = [events.OutboxRelay(db, first, MemoryPubSub(), batch=4),
                  events.OutboxRelay(other_db, second, MemoryPubSub(), batch=4)]
        for _ in range(10):
            await asyncio.gather(*(relay.publish_pending() for relay in relays))
        published = [job for _, job, _ in first.sent + second.sent]
        assert sorted(published) == sorted(ids)  # every row, each exactly once
        assert first.sent and second.sent  # and the two really worked side by side
        assert await admin_db.fetchval("select count(*) from outbox_message where published_at is null") == 0
    finally:
        await other_db.dispose()


async def test_relay_stops_even_when_a_client_swallows_cancellation(db):
    """redis-py 8's asyncio publish was seen swallowing the relay task's CancelledError; stop() hung."""
    started = asyncio.Event()

    class SwallowingPubSub(MemoryPubSub):
        async def publish(self, channel: str, message: bytes) -> None:
            started.set()
            with contextlib.suppress(asyncio.CancelledError):  # what the client library did
                await asyncio.sleep(0.3)

    async with db.transaction() as session:
        events.emit(session, "slow.event", {})
    relay = events.OutboxRelay(db, Recorder(), SwallowingPubSub(), poll_seconds=0.05)
    relay.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(relay.stop(grace_seconds=2), 6)
    assert relay._task is None


async def test_relay_loop_publishes_after_notify(db, admin_db):
    sender = Recorder()
    relay = events.OutboxRelay(db, sender, MemoryPubSub(), poll_seconds=30)  # only notify can wake it in time
    relay.start()
    try:
        await asyncio.sleep(0.05)
        async with db.transaction() as session:
            job_id = events.enqueue(session, "send_email", to="e@example.com")
        relay.notify()
        for _ in range(100):
            if sender.sent:
                break
            await asyncio.sleep(0.02)
        assert [job for _, job, _ in sender.sent] == [str(job_id)]
    finally:
        await relay.stop()


async def test_claim_once(db):
    message_id = uuid.uuid4()
    async with db.transaction() as session:
        assert await events.claim_once(session, "mailer", message_id) is True
        assert await events.claim_once(session, "mailer", message_id) is False
    async with db.transaction() as session:
        assert await events.claim_once(session, "mailer", str(message_id)) is False  # committed: still seen
        assert await events.claim_once(session, "webhooks", message_id) is True  # another consumer
    # A claim whose transaction rolled back does not count.
    other = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            assert await events.claim_once(session, "mailer", other) is True
            raise RuntimeError("job failed")
    async with db.transaction() as session:
        assert await events.claim_once(session, "mailer", other) is True
