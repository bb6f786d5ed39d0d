"""Small key-value and pub/sub layer: Redis when REDIS_URL is set, in-process otherwise.

The in-process variants serve the embedded single-instance mode only; they are not shared
between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)
RESUBSCRIBE_SECONDS = 0.05
READ_TIMEOUT_SECONDS = 5.0  # how long the pub/sub reader waits for a message before looking around again
QUEUE_LIMIT = 1000  # messages a local subscriber may fall behind before it loses some


class KeyValue(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: int) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def incr(self, key: str, ttl: int) -> int: ...
    async def add_member(self, key: str, member: str, ttl: int) -> None: ...
    async def members(self, key: str) -> set[str]: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class PubSub(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...


class RedisKeyValue:
    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client = client
        self.ns = namespace

    def _k(self, key: str) -> str:
        return f"{self.ns}:{key}"

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(self._k(key))

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        await self.client.set(self._k(key), value, ex=ttl)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self.client.delete(*(self._k(k) for k in keys))

    async def incr(self, key: str, ttl: int) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(self._k(key))
            pipe.expire(self._k(key), ttl, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def add_member(self, key: str, member: str, ttl: int) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(self._k(key), member)
            pipe.expire(self._k(key), ttl)
            await pipe.execute()

    async def members(self, key: str) -> set[str]:
        return {m.decode() for m in await self.client.smembers(self._k(key))}

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


class RedisPubSub:
    """Pub/sub over Redis with one Redis subscription per channel per process, whatever the number of
    local subscribers: one reader task on one connection receives each message once and puts it on every
    local subscriber's queue. (A connection per subscriber took one of the client's pooled connections
    each, 100 by default in redis-py: past about 100 WebSocket subscribers in a process every Redis call
    of that process failed, the outbox relay's publishes included, and each message was read once per
    subscriber.)

    When Redis goes away the reader reconnects (retrying every ``RESUBSCRIBE_SECONDS``) and subscribes
    to every channel that still has local subscribers, so subscriptions survive a Redis restart instead
    of ending; messages published meanwhile are lost, as with any Redis pub/sub. The reader stops when
    the last local subscriber leaves.
    """

    def __init__(self, client: aioredis.Redis, namespace: str, *, listener: aioredis.Redis | None = None,
                 queue_limit: int = QUEUE_LIMIT) -> None:
        self.client = client
        # The reader's connection comes from ``listener`` (default: ``client``). build_kv gives it a client
        # without redis-py's own retries, whose backoff (up to 1 s between attempts) would delay the
        # resubscription after an outage past the moment the outbox relay publishes again.
        self.listener = listener or client
        self.ns = namespace
        self.queue_limit = queue_limit
        self._queues: dict[str, set[asyncio.Queue[bytes]]] = {}  # full channel name -> local subscribers
        self._pubsub: Any = None  # the reader's subscribed connection, while it has one
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # orders (un)subscribe commands and the reader's (re)connection
        self._pending: set[asyncio.Task[None]] = set()  # unsubscribe commands in flight
        self._lagging: weakref.WeakSet[asyncio.Queue[bytes]] = weakref.WeakSet()  # warned about once
        self._failing = False  # log a Redis outage once, not on every retry

    async def publish(self, channel: str, message: bytes) -> None:
        await self.client.publish(f"{self.ns}:{channel}", message)

    async def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Messages on ``channel``, from the moment the first ``__anext__`` registered this subscriber."""
        name = f"{self.ns}:{channel}"
        queue: asyncio.Queue[bytes] = asyncio.Queue(self.queue_limit)
        await self._join(name, queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._leave(name, queue)

    @property
    def local_subscribers(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    async def _join(self, name: str, queue: asyncio.Queue[bytes]) -> None:
        async with self._lock:
            queues = self._queues.setdefault(name, set())
            first = not queues
            queues.add(queue)
            if self._reader is None or self._reader.done():
                # The reader subscribes to every channel in ``_queues`` when it connects.
                self._reader = asyncio.create_task(self._read(), name="pubsub-reader")
            elif first and self._pubsub is not None:
                # On failure the reader sees the connection fail too, reconnects and subscribes to it.
                with contextlib.suppress(aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                    await self._pubsub.subscribe(name)

    def _leave(self, name: str, queue: asyncio.Queue[bytes]) -> None:
        """Synchronous, so it also runs when a subscriber's generator is closed without awaiting."""
        queues = self._queues.get(name)
        if queues is None:
            return
        queues.discard(queue)
        if queues:
            return
        del self._queues[name]
        if self._pubsub is not None:
            task = asyncio.get_running_loop().create_task(self._unsubscribe(self._pubsub, name))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _unsubscribe(self, pubsub: Any, name: str) -> None:
        async with self._lock:
            if name in self._queues or pubsub is not self._pubsub:
                return  # subscribed again meanwhile, or that connection is gone (and its subscriptions with it)
            # Redis confirms on the reader's connection, which wakes the reader (it stops when nobody is left).
            with contextlib.suppress(aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                await pubsub.unsubscribe(name)

    def _dispatch(self, channel: bytes | str, data: bytes) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        for queue in tuple(self._queues.get(name, ())):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:  # a subscriber that stopped reading loses messages, the others do not wait
                if queue not in self._lagging:
                    self._lagging.add(queue)
                    log.warning("pub/sub subscriber is %d messages behind; dropping its messages", queue.qsize(),
                                extra={"channel": name})

    async def _read(self) -> None:
        while True:
            pubsub = None
            async with self._lock:
                if not self._queues:
                    return
                try:
                    pubsub = self.listener.pubsub(ignore_subscribe_messages=True)
                    await pubsub.subscribe(*self._queues)
                    self._pubsub = pubsub
                    if self._failing:
                        self._failing = False
                        log.info("pub/sub resubscribed", extra={"channels": len(self._queues)})
                except Exception as exc:  # Redis unreachable (or anything else): retry, the subscribers wait
                    if not self._failing:
                        self._failing = True
                        log.warning("pub/sub cannot subscribe (%r); retrying every %.2f s", exc, RESUBSCRIBE_SECONDS,
                                    extra={"channels": len(self._queues)})
            try:
                while pubsub is not None and self._pubsub is pubsub and self._queues:
                    message = await pubsub.get_message(timeout=READ_TIMEOUT_SECONDS)
                    if message is not None and message["type"] == "message":
                        self._dispatch(message["channel"], message["data"])
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                if self._queues:  # (a client closed after its last subscriber left is no news)
                    log.warning("pub/sub connection lost; resubscribing", extra={"channels": len(self._queues)})
            except Exception:  # never let the reader die while subscribers wait on it
                if self._queues:
                    log.exception("pub/sub reader failed; resubscribing")
            finally:
                if self._pubsub is pubsub:
                    self._pubsub = None
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            if self._queues and self._failing:  # after a lost connection, the first new attempt is immediate
                await asyncio.sleep(RESUBSCRIBE_SECONDS)


class MemoryKeyValue:
    def __init__(self) -> None:
        self._data: dict[str, tuple[object, float]] = {}

    def _live(self, key: str) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] < time.monotonic():
            del self._data[key]
            return None
        return item[0]

    async def get(self, key: str) -> bytes | None:
        value = self._live(key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._data[key] = (value, time.monotonic() + ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

    async def incr(self, key: str, ttl: int) -> int:
        current = self._live(key)
        count = (current if isinstance(current, int) else 0) + 1
        expiry = self._data[key][1] if current is not None else time.monotonic() + ttl
        self._data[key] = (count, expiry)
        return count

    async def add_member(self, key: str, member: str, ttl: int) -> None:
        current = self._live(key)
        members = current if isinstance(current, set) else set()
        members.add(member)
        self._data[key] = (members, time.monotonic() + ttl)

    async def members(self, key: str) -> set[str]:
        current = self._live(key)
        return set(current) if isinstance(current, set) else set()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryPubSub:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in list(self._queues.get(channel, ())):
            queue.put_nowait(message)

    async def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queues[channel].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues[channel].discard(queue)


def build_kv(redis_url: str | None, namespace: str) -> tuple[KeyValue, PubSub, aioredis.Redis | None]:
    if not redis_url:
        return MemoryKeyValue(), MemoryPubSub(), None
    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    listener = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    return RedisKeyValue(client, namespace), RedisPubSub(client, namespace, listener=listener), client
