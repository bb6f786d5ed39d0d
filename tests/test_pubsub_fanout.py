"""RedisPubSub fans out in-process: one Redis subscription per channel per process, whatever the number of
local subscribers; they come and go, survive a dropped connection, and a stalled one does not hold up the others."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from codex_graphql.kv import RedisPubSub
from tests.conftest import REDIS_URL


@pytest.fixture
async def client(redis_namespace: str) -> AsyncIterator[aioredis.Redis]:
    # A client name of our own, to find (and kill) only this test's connection on a shared Redis.
    redis = aioredis.Redis.from_url(REDIS_URL, client_name=f"{redis_namespace}-fanout")
    yield redis
    await redis.aclose()


class Listener:
    def __init__(self, pubsub: RedisPubSub, channel: str) -> None:
        self.received: list[bytes] = []
        self.task = asyncio.create_task(self._run(pubsub, channel))

    async def _run(self, pubsub: RedisPubSub, channel: str) -> None:
        async for message in pubsub.subscribe(channel):
            self.received.append(message)


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            met = condition()
            if inspect.isawaitable(met):
                met = await met
            if met:
                return
            await asyncio.sleep(0.01)


async def subscriptions(client: aioredis.Redis, namespace: str, channel: str) -> int:
    return (await client.pubsub_numsub(f"{namespace}:{channel}"))[0][1]


async def subscriptions_is(client: aioredis.Redis, namespace: str, channel: str, n: int) -> bool:
    return await subscriptions(client, namespace, channel) == n


async def stop(*listeners: Listener) -> None:
    for listener in listeners:
        listener.task.cancel()
    await asyncio.gather(*(listener.task for listener in listeners), return_exceptions=True)


async def test_many_local_subscribers_share_one_redis_subscription(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    many = [Listener(pubsub, "orders") for _ in range(200)]
    other = Listener(pubsub, "refunds")

    async def registered() -> bool:
        return pubsub.local_subscribers == 201 and await subscriptions(client, redis_namespace, "orders") == 1 \
            and await subscriptions(client, redis_namespace, "refunds") == 1

    await until(registered)
    for n in range(20):
        await pubsub.publish("orders", f"order {n}".encode())
    await pubsub.publish("refunds", b"refund 0")

    async def delivered() -> bool:
        return all(len(listener.received) == 20 for listener in many) and len(other.received) == 1

    await until(delivered)
    expected = [f"order {n}".encode() for n in range(20)]
    assert all(listener.received == expected for listener in many)  # each once, in order
    assert other.received == [b"refund 0"]
    await stop(*many, other)


async def test_the_redis_subscription_follows_the_local_ones(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    first, second = Listener(pubsub, "c"), Listener(pubsub, "c")
    await until(lambda: subscriptions_is(client, redis_namespace, "c", 1))
    await stop(first)
    await asyncio.sleep(0.1)
    assert await subscriptions(client, redis_namespace, "c") == 1  # the second one still listens
    await pubsub.publish("c", b"still here")
    await until(lambda: second.received == [b"still here"])
    await stop(second)
    await until(lambda: subscriptions_is(client, redis_namespace, "c", 0))
    await until(lambda: pubsub._reader is None or pubsub._reader.done())  # nobody left: the reader ends

    again = Listener(pubsub, "c")  # and starts again for the next subscriber
    await until(lambda: subscriptions_is(client, redis_namespace, "c", 1))
    await pubsub.publish("c", b"welcome back")
    await until(lambda: again.received == [b"welcome back"])
    await stop(again)


async def test_subscribers_survive_a_dropped_connection(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    listeners = [Listener(pubsub, "live") for _ in range(5)]
    await until(lambda: subscriptions_is(client, redis_namespace, "live", 1))
    name = f"{redis_namespace}-fanout"
    killed = 0
    for entry in await client.client_list():
        if entry.get("name") == name and int(entry.get("sub", 0)) > 0:
            await client.client_kill_filter(_id=entry["id"])
            killed += 1
    assert killed == 1  # exactly one Redis subscription connection for the five subscribers

    async def all_got_one() -> bool:
        await pubsub.publish("live", b"after the drop")
        await asyncio.sleep(0.05)
        return all(b"after the drop" in listener.received for listener in listeners)

    await until(all_got_one, timeout=10)
    assert all(not listener.task.done() for listener in listeners)
    await stop(*listeners)


async def test_a_stalled_subscriber_loses_messages_without_holding_up_the_others(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace, queue_limit=5)
    stalled = pubsub.subscribe("busy")
    first = asyncio.create_task(stalled.__anext__())  # registers, takes one message, then never reads again
    reader = Listener(pubsub, "busy")
    await until(lambda: pubsub.local_subscribers == 2)
    await until(lambda: subscriptions_is(client, redis_namespace, "busy", 1))
    for n in range(50):
        await pubsub.publish("busy", str(n).encode())
    await until(lambda: len(reader.received) == 50)
    assert reader.received == [str(n).encode() for n in range(50)]
    assert await first == b"0"
    await stalled.aclose()
    await stop(reader)
    assert pubsub.local_subscribers == 0


async def test_unique_channels_per_namespace(client, redis_namespace):
    ours = RedisPubSub(client, redis_namespace)
    theirs = RedisPubSub(client, f"{redis_namespace}-other-{uuid.uuid4().hex[:4]}")
    mine, other = Listener(ours, "x"), Listener(theirs, "x")
    await until(lambda: subscriptions_is(client, redis_namespace, "x", 1))
    await until(lambda: theirs.local_subscribers == 1 and theirs._pubsub is not None)
    await asyncio.sleep(0.1)
    await ours.publish("x", b"for us")
    await until(lambda: mine.received == [b"for us"])
    await asyncio.sleep(0.1)
    assert other.received == []
    await stop(mine, other)


# --- purchaseEvents: one purchase load per event for all the subscribers of a process ---------------------

PURCHASE_EVENTS = """subscription($org: ID!) { purchaseEvents(organizationId: $org) {
  eventId type purchase { id amountCents contentTitle customerEmail status } } }"""
CLAIM = "mutation($c: ID!) { claimFreeContent(input: {contentId: $c}) { errors { code } } }"


async def test_subscribers_of_a_purchase_event_share_one_load_of_the_purchase(app, factory, gql, db, monkeypatch):
    import json

    import websockets

    from codex_graphql.authz import OrgRole
    from codex_graphql.commerce import subscriptions
    from codex_graphql.relay import to_global_id
    from tests.commerce_support import insert_content
    from tests.live_server import live_server

    owner = await factory.user()
    org = await factory.organization(owner, slug="fan-out")
    staff = [owner]
    for _ in range(2):
        admin = await factory.user()
        await factory.member(org, admin, OrgRole.ADMIN)
        staff.append(admin)
    free = await insert_content(db, org, owner.user_id, "Free fan-out film", 0)
    customer = await factory.user(email="fan-out-buyer@example.com")
    loads: list[uuid.UUID] = []
    load = subscriptions._load_purchase

    async def counted(database, organization_id, purchase_id):  # type: ignore[no-untyped-def]
        loads.append(purchase_id)
        return await load(database, organization_id, purchase_id)

    monkeypatch.setattr(subscriptions, "_load_purchase", counted)
    async with live_server(app) as address:
        sockets = []
        for person in staff:
            for _ in range(5):
                ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])
                await ws.send(json.dumps({"type": "connection_init",
                                          "payload": {"authorization": f"Bearer {person.token}"}}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": PURCHASE_EVENTS, "variables": {"org": to_global_id("Organization", org)}}}))
                sockets.append(ws)
        pubsub = app.state.runtime["services"].pubsub
        await until(lambda: pubsub.local_subscribers >= 15)
        assert (await gql(CLAIM, {"c": free}, customer.token))["data"]["claimFreeContent"]["errors"] == []
        received = []
        for ws in sockets:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "next":
                    received.append(message["payload"]["data"]["purchaseEvents"])
                    break
        assert len(received) == 15 and all(r == received[0] for r in received)
        assert received[0]["type"] == "COMPLETED"
        assert received[0]["purchase"]["contentTitle"] == "Free fan-out film"
        assert received[0]["purchase"]["customerEmail"] == "fan-out-buyer@example.com"
        assert len(loads) == 1, loads  # one load for the 15 subscribers, not one each
        for ws in sockets:
            await ws.close()
