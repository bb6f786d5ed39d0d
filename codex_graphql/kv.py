"""Small key-value and pub/sub layer: Redis when REDIS_URL is set, in-process otherwise.

The in-process variants serve the embedded single-instance mode only; they are not shared
between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)
RESUBSCRIBE_SECONDS = 0.05
BLOCK_MILLISECONDS = 4000  # one XREAD waits this long for news (under the clients' 5 s socket timeout)
READ_BATCH = 500  # entries one XREAD returns per stream at most
STREAM_LENGTH = 1000  # entries kept per channel (approximately): how far a reconnecting reader can catch up
STREAM_IDLE_SECONDS = 3600  # a channel's stream expires after an hour without messages
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
    """Pub/sub over Redis streams, with one reader per process whatever the number of local subscribers.

    ``publish`` appends to a capped stream per channel (``XADD ... MAXLEN ~``, expiring when idle). One reader
    task per process blocks in a single ``XREAD`` over every channel that has local subscribers, remembers the
    last entry it read on each, and puts each message on every local subscriber's queue.

    Why streams and not PUBLISH/SUBSCRIBE: a subscription that drops (Redis restarting, a network blip) loses
    whatever is published before it is re-established, and the outbox relay publishes the events it held
    back as soon as Redis answers again, so the subscribers missed exactly the events of the outage. The
    reader resumes from its last entry id instead, so nothing published while it was reconnecting is lost
    (within ``STREAM_LENGTH`` messages per channel; a Redis restart without persistence still loses what
    was published before it and not yet read). A subscriber receives the messages published after it joined:
    its start is the channel's last entry id at that moment.

    (One Redis connection per subscriber took one of the client's pooled connections each, 100 by default
    in redis-py: past about 100 WebSocket subscribers in a process every Redis call of that process failed.)
    """

    def __init__(self, client: aioredis.Redis, namespace: str, *, listener: aioredis.Redis | None = None,
                 queue_limit: int = QUEUE_LIMIT) -> None:
        self.client = client
        # The reader's blocking XREAD holds a connection of ``listener`` (default: ``client``). build_kv gives
        # it a client without redis-py's own retries, whose backoff (up to 1 s between attempts) would only
        # delay the reader's return after an outage.
        self.listener = listener or client
        self.ns = namespace
        self.queue_limit = queue_limit
        self._queues: dict[str, dict[asyncio.Queue[bytes], tuple[int, int]]] = {}  # stream -> {queue: start}
        self._cursors: dict[str, bytes] = {}  # stream -> id of the last entry the reader took from it
        # A private stream the reader always reads too: a join of a new channel writes to it, which ends the
        # reader's current XREAD so that the next one covers the new channel.
        self._wake = f"{namespace}:pubsub-wake:{uuid.uuid4().hex}"
        self._wake_cursor: bytes = b"0-0"
        self._reader: asyncio.Task[None] | None = None
        self._generation = 0  # a reader stops once this moved on (its cancellation may have been swallowed)
        self._lagging: weakref.WeakSet[asyncio.Queue[bytes]] = weakref.WeakSet()  # warned about once
        self._failing = False  # log a Redis outage once, not on every retry

    async def publish(self, channel: str, message: bytes) -> None:
        name = f"{self.ns}:{channel}"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(name, {b"m": message}, maxlen=STREAM_LENGTH, approximate=True)
            pipe.expire(name, STREAM_IDLE_SECONDS)
            await pipe.execute()

    async def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Messages on ``channel`` published after the first ``__anext__`` registered this subscriber."""
        name = f"{self.ns}:{channel}"
        queue: asyncio.Queue[bytes] = asyncio.Queue(self.queue_limit)
        try:
            await self._join(name, queue)
            _raise_pending_cancellation()
            while True:
                yield await queue.get()
        finally:
            self._leave(name, queue)

    @property
    def local_subscribers(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    async def _last_id(self, name: str) -> bytes:
        try:
            last = await self.client.xrevrange(name, count=1)
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            # Redis is away: start from now by this host's clock (stream ids are Redis's clock in ms).
            return f"{int(time.time() * 1000)}-0".encode()
        return last[0][0] if last else b"0-0"

    async def _join(self, name: str, queue: asyncio.Queue[bytes]) -> None:
        start = await self._last_id(name)
        queues = self._queues.setdefault(name, {})
        queues[queue] = _position(start)
        new_channel = name not in self._cursors
        if new_channel:
            self._cursors[name] = start
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(self._generation), name="pubsub-reader")
        elif new_channel:
            with contextlib.suppress(aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                async with self.client.pipeline(transaction=False) as pipe:  # (a failing reader retries anyway)
                    pipe.xadd(self._wake, {b"w": b""}, maxlen=1)
                    pipe.expire(self._wake, STREAM_IDLE_SECONDS)
                    await pipe.execute()

    def _leave(self, name: str, queue: asyncio.Queue[bytes]) -> None:
        """Synchronous, so it also runs when a subscriber's generator is closed without awaiting."""
        queues = self._queues.get(name)
        if queues is None:
            return
        queues.pop(queue, None)
        if queues:
            return
        del self._queues[name]
        self._cursors.pop(name, None)
        if not self._queues and self._reader is not None:
            reader, self._reader = self._reader, None
            self._generation += 1  # the next subscriber gets a reader of its own
            with contextlib.suppress(RuntimeError):  # (the loop may be closing)
                reader.cancel()  # nobody is left: stop blocking on Redis for nothing

    def _dispatch(self, name: str, entry_id: bytes, data: bytes) -> None:
        position = _position(entry_id)
        for queue, start in tuple(self._queues.get(name, {}).items()):
            if position <= start:  # published before this subscriber joined
                continue
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:  # a subscriber that stopped reading loses messages, the others do not wait
                if queue not in self._lagging:
                    self._lagging.add(queue)
                    log.warning("pub/sub subscriber is %d messages behind; dropping its messages", queue.qsize(),
                                extra={"channel": name})

    async def _read(self, generation: int) -> None:
        while self._queues and generation == self._generation:
            try:
                streams = {self._wake: self._wake_cursor, **self._cursors}
                reply = await self.listener.xread(streams, count=READ_BATCH, block=BLOCK_MILLISECONDS)
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                self._retry_later(exc)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
                continue
            except Exception as exc:  # never let the reader die while subscribers wait on it
                log.exception("pub/sub reader failed; retrying")
                self._retry_later(exc)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
                continue
            if generation != self._generation:
                return  # replaced while it waited: the new reader delivers these entries
            if self._failing:
                self._failing = False
                log.info("pub/sub reading again", extra={"channels": len(self._cursors)})
            for key, entries in reply.items() if isinstance(reply, dict) else reply:
                name = key.decode() if isinstance(key, bytes) else key
                if name == self._wake:
                    self._wake_cursor = entries[-1][0]
                    continue
                for entry_id, fields in entries:
                    if name not in self._cursors:  # its last subscriber left meanwhile
                        break
                    self._cursors[name] = entry_id
                    self._dispatch(name, entry_id, fields.get(b"m", b""))

    def _retry_later(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("pub/sub cannot read (%r); retrying every %.2f s", exc, RESUBSCRIBE_SECONDS,
                        extra={"channels": len(self._cursors)})


def _raise_pending_cancellation() -> None:
    """redis-py (8.1) can swallow a cancellation that arrives while a command is connecting or reading and
    return the command's result instead; a subscriber cancelled during its join would then wait forever
    (an application shutdown hung on it). Honour the request here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _position(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence or 0)


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
