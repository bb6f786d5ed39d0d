"""RedisPubSub fans out in-process: one reader (one XREAD) per process, whatever the number of local
subscribers; they come and go, survive a dropped connection without losing what was published meanwhile, and
a stalled one does not hold up the others."""

from __future__ import annotations

import asyncio
import contextlib
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


async def readers(client: aioredis.Redis, namespace: str) -> int:
    """Connections of this test's client blocked in XREAD: the process's pub/sub readers."""
    name = f"{namespace}-fanout"
    return sum(1 for entry in await client.client_list() if entry.get("name") == name and entry.get("cmd") == "xread")


async def readers_are(client: aioredis.Redis, namespace: str, n: int) -> bool:
    return await readers(client, namespace) == n


async def stop(*listeners: Listener) -> None:
    for listener in listeners:
        listener.task.cancel()
    await asyncio.gather(*(listener.task for listener in listeners), return_exceptions=True)


async def test_many_local_subscribers_share_one_reader(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    many = [Listener(pubsub, "orders") for _ in range(200)]
    other = Listener(pubsub, "refunds")
    await until(lambda: pubsub.local_subscribers == 201)
    await until(lambda: readers_are(client, redis_namespace, 1))
    for n in range(20):
        await pubsub.publish("orders", f"order {n}".encode())
    await pubsub.publish("refunds", b"refund 0")

    async def delivered() -> bool:
        return all(len(listener.received) == 20 for listener in many) and len(other.received) == 1

    await until(delivered)
    expected = [f"order {n}".encode() for n in range(20)]
    assert all(listener.received == expected for listener in many)  # each once, in order
    assert other.received == [b"refund 0"]
    assert await readers(client, redis_namespace) == 1  # one XREAD for both channels and 201 subscribers
    await stop(*many, other)


async def test_a_subscriber_gets_what_was_published_after_it_joined(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    await pubsub.publish("news", b"old 1")
    await pubsub.publish("news", b"old 2")
    early = Listener(pubsub, "news")
    await until(lambda: pubsub.local_subscribers == 1)
    await pubsub.publish("news", b"first")
    await until(lambda: early.received == [b"first"])
    late = Listener(pubsub, "news")  # joins the channel the reader already follows
    await until(lambda: pubsub.local_subscribers == 2)
    await pubsub.publish("news", b"second")
    await until(lambda: late.received == [b"second"])
    assert early.received == [b"first", b"second"]
    fresh = Listener(pubsub, "weather")  # a new channel while the reader blocks on the others
    await until(lambda: pubsub.local_subscribers == 3)
    await pubsub.publish("weather", b"rain")
    await until(lambda: fresh.received == [b"rain"], timeout=2)  # the reader was woken, not left blocking 4 s
    await stop(early, late, fresh)


async def test_the_reader_follows_the_local_subscribers(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    first, second = Listener(pubsub, "c"), Listener(pubsub, "c")
    await until(lambda: pubsub.local_subscribers == 2)
    await stop(first)
    await pubsub.publish("c", b"still here")
    await until(lambda: second.received == [b"still here"])
    assert first.received == []
    await stop(second)
    await until(lambda: pubsub._reader is None or pubsub._reader.done())  # nobody left: the reader ends
    await until(lambda: readers_are(client, redis_namespace, 0))

    again = Listener(pubsub, "c")  # and starts again for the next subscriber
    await until(lambda: readers_are(client, redis_namespace, 1))
    await pubsub.publish("c", b"welcome back")
    await until(lambda: again.received == [b"welcome back"])
    assert pubsub.local_subscribers == 1
    await stop(again)
    assert pubsub.local_subscribers == 0


async def test_subscribers_survive_a_dropped_connection(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace)
    listeners = [Listener(pubsub, "live") for _ in range(5)]
    await until(lambda: readers_are(client, redis_namespace, 1))
    name = f"{redis_namespace}-fanout"
    killed = 0
    for entry in await client.client_list():
        if entry.get("name") == name and entry.get("cmd") == "xread":
            await client.client_kill_filter(_id=entry["id"])
            killed += 1
    assert killed == 1  # exactly one reading connection for the five subscribers
    await pubsub.publish("live", b"after the drop")
    await until(lambda: all(listener.received == [b"after the drop"] for listener in listeners), timeout=10)
    assert all(not listener.task.done() for listener in listeners)
    await stop(*listeners)


class GatedProxy:
    """A TCP proxy to Redis that can refuse connections and cut the open ones: a Redis outage as the
    reader sees it, while the test itself still reaches Redis directly."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.open = True
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.open = False
        for writer in self.links:
            writer.close()
        self.links.clear()

    async def close(self) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()


async def test_nothing_published_while_the_reader_is_cut_off_is_lost(client, redis_namespace):
    # The PUBLISH/SUBSCRIBE version lost these: the outbox relay publishes held-back events as soon as Redis
    # answers, which can be before a dropped subscription is re-established.
    from urllib.parse import urlsplit

    proxy = GatedProxy(urlsplit(REDIS_URL).port or 6379)
    port = await proxy.start()
    listener = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=2)
    pubsub = RedisPubSub(client, redis_namespace, listener=listener)
    subscriber = Listener(pubsub, "orders")
    await until(lambda: pubsub.local_subscribers == 1)
    await pubsub.publish("orders", b"before")
    await until(lambda: subscriber.received == [b"before"])

    proxy.cut()  # the reader's connection drops and it cannot reconnect
    # The reader may notice only when its read times out (socket_timeout=5): more than ``until``'s default.
    await until(lambda: pubsub._failing, timeout=15)
    for n in range(3):
        await pubsub.publish("orders", f"during {n}".encode())
    await asyncio.sleep(0.3)
    assert subscriber.received == [b"before"]
    proxy.open = True
    await until(lambda: len(subscriber.received) == 4, timeout=5)
    await pubsub.publish("orders", b"after")
    await until(lambda: len(subscriber.received) == 5)
    assert subscriber.received == [b"before", b"during 0", b"during 1", b"during 2", b"after"]  # once each, in order
    await stop(subscriber)
    await proxy.close()
    await listener.aclose()


async def test_a_stalled_subscriber_loses_messages_without_holding_up_the_others(client, redis_namespace):
    pubsub = RedisPubSub(client, redis_namespace, queue_limit=5)
    stalled = pubsub.subscribe("busy")
    first = asyncio.create_task(stalled.__anext__())  # registers, takes one message, then never reads again
    reader = Listener(pubsub, "busy")
    await until(lambda: pubsub.local_subscribers == 2)
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
    await until(lambda: ours.local_subscribers == 1 and theirs.local_subscribers == 1)
    await until(lambda: readers_are(client, redis_namespace, 2))  # (both use this test's client)
    await ours.publish("x", b"for us")
    await until(lambda: mine.received == [b"for us"])
    await asyncio.sleep(0.1)
    assert other.received == []
    await stop(mine, other)


async def test_a_subscriber_cancelled_while_joining_ends_even_when_redis_py_swallows_the_cancel(
        client, redis_namespace, monkeypatch):
    pubsub = RedisPubSub(client, redis_namespace)
    entered = asyncio.Event()
    real = client.xrevrange

    async def swallowing(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):  # as redis-py 8.1 does when the cancel lands while
            await asyncio.sleep(10)  # it connects or reads
        return await real(*args, **kwargs)

    monkeypatch.setattr(client, "xrevrange", swallowing)
    listener = Listener(pubsub, "c")
    await entered.wait()
    listener.task.cancel()
    await asyncio.wait_for(asyncio.gather(listener.task, return_exceptions=True), 2)  # (it hung forever)
    assert listener.task.cancelled()
    assert pubsub.local_subscribers == 0


async def test_a_subscriber_joining_as_the_last_one_leaves_gets_a_reader(client, redis_namespace, monkeypatch):
    """The last subscriber's departure cancels the reader; a subscriber joining before that cancellation
    lands must not be left with a reader that is about to die."""
    pubsub = RedisPubSub(client, redis_namespace)
    name = f"{redis_namespace}:c"
    first: asyncio.Queue[bytes] = asyncio.Queue()
    await pubsub._join(name, first)
    await until(lambda: readers_are(client, redis_namespace, 1))
    start = await pubsub._last_id(name)

    async def at_once(_: str) -> bytes:  # no round trip: the join completes before the loop runs again
        return start

    monkeypatch.setattr(pubsub, "_last_id", at_once)
    second: asyncio.Queue[bytes] = asyncio.Queue()
    pubsub._leave(name, first)
    await pubsub._join(name, second)
    await pubsub.publish("c", b"hello")
    assert await asyncio.wait_for(second.get(), 5) == b"hello"
    await asyncio.sleep(0.2)
    assert second.empty() and first.empty()  # once, by one reader
    pubsub._leave(name, second)


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
    from tests.support.commerce import insert_content
    from tests.support.live_server import live_server

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
