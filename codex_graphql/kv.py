"""Small key-value and pub/sub layer: Redis when REDIS_URL is set, in-process otherwise.

The in-process variants serve the embedded single-instance mode only; they are not shared
between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)
RESUBSCRIBE_SECONDS = 0.1


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
    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client = client
        self.ns = namespace

    async def publish(self, channel: str, message: bytes) -> None:
        await self.client.publish(f"{self.ns}:{channel}", message)

    async def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Messages on ``channel``; when Redis goes away the subscription is re-established (retrying every
        ``RESUBSCRIBE_SECONDS``) instead of ending, so WebSocket subscribers survive a Redis restart."""
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(f"{self.ns}:{channel}")
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None:
                        yield message["data"]
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                log.warning("pub/sub connection lost; resubscribing", extra={"channel": channel})
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
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
    return RedisKeyValue(client, namespace), RedisPubSub(client, namespace), client
