"""Sign-in throttling: progressive delays per (email, client address) pair plus a per-address limit.

Every attempt is *reserved* before its password is checked, by one atomic step (a Lua script in Redis,
with Redis's clock so every API instance agrees): the step refuses the attempt when the pair is inside
its delay or the address is over its limit, and otherwise counts the attempt as pending on the pair and
as used on the address. Only then is the password verified; the outcome settles the reservation:

- failure: the pair's failure count grows; from ``free`` failures on, the pair waits
  ``BASE_DELAY_SECONDS * 2 ** (failures - free)`` (1 s, 2 s, 4 s ... capped at the window) before its
  next attempt, and only one attempt of the pair may be in flight while delays apply. The address keeps
  the attempt counted (``ADDRESS_FACTOR * free`` failures per address and window stop one address from
  spraying many accounts). The account's failures from every address are counted too (for the unlock
  notice); they never refuse an attempt, so failures from other addresses cannot lock the owner out.
- success: the pair is forgotten and the address gets its attempt back.
- neither (verification crashed): the reservation is released.

So N parallel wrong guesses are verified at most ``free`` times, whatever their interleaving.
Without Redis (embedded single-process mode) the same rules run in process memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from codex_graphql.settings import Settings

BASE_DELAY_SECONDS = 1.0
ADDRESS_FACTOR = 4  # failed (or in-flight) attempts per client address and window: ADDRESS_FACTOR * free
PENDING_STALE_SECONDS = 60  # a reservation this old was lost (a crashed process): it no longer counts

# Redis's clock (seconds), so every API instance agrees on "now".
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

RESERVE_SCRIPT = _NOW + """local free = tonumber(ARGV[1])
local address_limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local stale = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'fails', 'pending', 'pending_at', 'until')
local fails = tonumber(state[1]) or 0
local pending = tonumber(state[2]) or 0
local pending_at = tonumber(state[3]) or 0
local wait_until = tonumber(state[4]) or 0
if pending > 0 and now - pending_at > stale then pending = 0 end
if now < wait_until then return {0, tostring(wait_until - now), 'pair'} end
if fails + pending >= free and pending > 0 then return {0, '1', 'pair'} end
local used = tonumber(redis.call('GET', KEYS[2])) or 0
if used >= address_limit then
  return {0, tostring(math.max(1, redis.call('TTL', KEYS[2]))), 'address'}
end
redis.call('INCR', KEYS[2])
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], window) end
redis.call('HSET', KEYS[1], 'pending', pending + 1, 'pending_at', tostring(now))
if redis.call('TTL', KEYS[1]) < window then redis.call('EXPIRE', KEYS[1], window) end
return {1, '0', ''}
"""

FAIL_SCRIPT = _NOW + """local free = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local base = tonumber(ARGV[4])
local pending = math.max(0, (tonumber(redis.call('HGET', KEYS[1], 'pending')) or 0) - 1)
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
redis.call('HSET', KEYS[1], 'pending', pending)
local delay = 0
if fails >= free then
  delay = math.min(cap, base * math.pow(2, fails - free))
  redis.call('HSET', KEYS[1], 'until', tostring(now + delay))
end
redis.call('EXPIRE', KEYS[1], window + math.ceil(delay))
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('EXPIRE', KEYS[3], window + cap)
local account = redis.call('INCR', KEYS[2])
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], window) end
return {fails, account, tostring(delay)}
"""

SUCCESS_SCRIPT = """
redis.call('DEL', KEYS[1])
if (tonumber(redis.call('GET', KEYS[2])) or 0) > 0 then redis.call('DECR', KEYS[2]) end
return 1
"""

RELEASE_SCRIPT = """
local pending = (tonumber(redis.call('HGET', KEYS[1], 'pending')) or 0) - 1
if pending >= 0 then redis.call('HSET', KEYS[1], 'pending', pending) end
if (tonumber(redis.call('GET', KEYS[2])) or 0) > 0 then redis.call('DECR', KEYS[2]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until the next attempt may be made
    reason: str = ""  # "pair" (this account from this address is delayed) or "address" (address over its limit)


@dataclass(frozen=True, slots=True)
class Failure:
    pair_failures: int
    account_failures: int  # from every address, in the current window
    delay: float  # seconds this pair now waits before its next attempt


class Limits:
    def __init__(self, settings: Settings) -> None:
        self.free = max(1, settings.login_max_failures)
        self.window = max(1, settings.login_failure_window_seconds)
        self.cap = self.window
        self.address_limit = ADDRESS_FACTOR * self.free


def _keys(email: str, ip: str) -> tuple[str, str, str, str]:
    """(pair hash, address counter, account counter, the account's address set)."""
    return (f"login:pair:{email}|{ip}", f"login:address:{ip}", f"login:account:{email}", f"login:addresses:{email}")


class RedisLoginThrottle:
    def __init__(self, client: Any, namespace: str, settings: Settings) -> None:
        self.client = client
        self.ns = namespace
        self.limits = Limits(settings)
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._fail = client.register_script(FAIL_SCRIPT)
        self._success = client.register_script(SUCCESS_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    def _k(self, email: str, ip: str) -> list[str]:
        return [f"{self.ns}:{key}" for key in _keys(email, ip)]

    async def reserve(self, email: str, ip: str) -> Decision:
        pair, address, _, _ = self._k(email, ip)
        lim = self.limits
        allowed, wait, reason = await self._reserve(
            keys=[pair, address], args=[lim.free, lim.address_limit, lim.window, PENDING_STALE_SECONDS]
        )
        if int(allowed):
            return Decision(True)
        return Decision(False, max(1, math.ceil(float(wait))), reason.decode() if isinstance(reason, bytes) else reason)

    async def failed(self, email: str, ip: str) -> Failure:
        pair, _, account, addresses = self._k(email, ip)
        lim = self.limits
        fails, total, delay = await self._fail(keys=[pair, account, addresses],
                                               args=[lim.free, lim.window, lim.cap, BASE_DELAY_SECONDS, ip])
        return Failure(int(fails), int(total), float(delay))

    async def succeeded(self, email: str, ip: str) -> None:
        pair, address, _, _ = self._k(email, ip)
        await self._success(keys=[pair, address])

    async def release(self, email: str, ip: str) -> None:
        pair, address, _, _ = self._k(email, ip)
        await self._release(keys=[pair, address])

    async def unlock(self, email: str) -> None:
        """Forget every delay of this account (from every address) and its failure count."""
        _, _, account, addresses = self._k(email, "")
        ips = [m.decode() for m in await self.client.smembers(addresses)]
        await self.client.delete(account, addresses, *(self._k(email, ip)[0] for ip in ips))

    async def first_notice(self, email: str) -> bool:
        """True once per window and account: whether to send the owner the unlock notice now."""
        key = f"{self.ns}:login:notice:{email}"
        return bool(await self.client.set(key, b"1", ex=self.limits.window, nx=True))


class MemoryLoginThrottle:
    """The same rules in process memory (embedded mode). No step awaits, so each is atomic in one process."""

    def __init__(self, settings: Settings) -> None:
        self.limits = Limits(settings)
        self._pairs: dict[tuple[str, str], dict[str, float]] = {}
        self._addresses: dict[str, tuple[int, float]] = {}  # ip -> (used, expires)
        self._accounts: dict[str, tuple[int, float, set[str]]] = {}  # email -> (failures, expires, ips)
        self._notices: dict[str, float] = {}

    def _pair(self, email: str, ip: str, now: float) -> dict[str, float]:
        state = self._pairs.get((email, ip))
        if state is None or state["expires"] <= now:
            state = self._pairs[(email, ip)] = {"fails": 0, "pending": 0, "pending_at": 0, "until": 0, "expires": 0}
        return state

    async def reserve(self, email: str, ip: str) -> Decision:
        now, lim = time.monotonic(), self.limits
        state = self._pair(email, ip, now)
        if state["pending"] > 0 and now - state["pending_at"] > PENDING_STALE_SECONDS:
            state["pending"] = 0
        if now < state["until"]:
            return Decision(False, max(1, math.ceil(state["until"] - now)), "pair")
        if state["fails"] + state["pending"] >= lim.free and state["pending"] > 0:
            return Decision(False, 1, "pair")
        used, expires = self._addresses.get(ip, (0, now + lim.window))
        if expires <= now:
            used, expires = 0, now + lim.window
        if used >= lim.address_limit:
            return Decision(False, max(1, math.ceil(expires - now)), "address")
        self._addresses[ip] = (used + 1, expires)
        state["pending"] += 1
        state["pending_at"] = now
        state["expires"] = max(state["expires"], now + lim.window)
        return Decision(True)

    async def failed(self, email: str, ip: str) -> Failure:
        now, lim = time.monotonic(), self.limits
        state = self._pair(email, ip, now)
        state["pending"] = max(0, state["pending"] - 1)
        state["fails"] += 1
        delay = 0.0
        if state["fails"] >= lim.free:
            delay = min(lim.cap, BASE_DELAY_SECONDS * 2 ** (state["fails"] - lim.free))
            state["until"] = now + delay
        state["expires"] = now + lim.window + delay
        count, expires, ips = self._accounts.get(email, (0, now + lim.window, set()))
        if expires <= now:
            count, expires, ips = 0, now + lim.window, set()
        ips.add(ip)
        self._accounts[email] = (count + 1, expires, ips)
        return Failure(int(state["fails"]), count + 1, delay)

    def _give_back(self, ip: str) -> None:
        used, expires = self._addresses.get(ip, (0, 0.0))
        if used > 0:
            self._addresses[ip] = (used - 1, expires)

    async def succeeded(self, email: str, ip: str) -> None:
        self._pairs.pop((email, ip), None)
        self._give_back(ip)

    async def release(self, email: str, ip: str) -> None:
        state = self._pairs.get((email, ip))
        if state is not None:
            state["pending"] = max(0, state["pending"] - 1)
        self._give_back(ip)

    async def unlock(self, email: str) -> None:
        _, _, ips = self._accounts.pop(email, (0, 0.0, set()))
        for ip in ips:
            self._pairs.pop((email, ip), None)

    async def first_notice(self, email: str) -> bool:
        now = time.monotonic()
        if self._notices.get(email, 0) > now:
            return False
        self._notices[email] = now + self.limits.window
        return True


LoginThrottle = RedisLoginThrottle | MemoryLoginThrottle


def throttle_for(services: Any) -> LoginThrottle:
    """The process's sign-in throttle, built on first use (Redis when configured, else in memory)."""
    throttle = getattr(services, "login_throttle", None)
    if throttle is None:
        kv = services.kv
        client = getattr(kv, "client", None)
        if services.redis is not None and client is not None:
            throttle = RedisLoginThrottle(client, kv.ns, services.settings)
        else:
            throttle = MemoryLoginThrottle(services.settings)
        services.login_throttle = throttle
    return throttle
