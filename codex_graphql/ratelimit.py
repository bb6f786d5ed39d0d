"""Rate limiting and per-request limits, enforced after validation and before execution.

- A token bucket per caller (``user:<id>`` when signed in, ``ip:<address>`` otherwise; ``caller_key`` is
  the hook where API keys will plug in), charged by the requested query cost plus the request's overhead
  (``cost.overhead``: ``MIN_REQUEST_COST`` and ``DOCUMENT_COST_PER_KB``), so that no request is free. In Redis it is one
  atomic Lua script (time read from the Redis server, so API instances agree); without REDIS_URL an
  in-process bucket serves the embedded single-instance mode.
- ``RequestLimits``: the schema extension that runs the checks for every operation (HTTP and
  WebSocket): introspection policy, mutations per request, ``MAX_QUERY_COST``, then the bucket. A
  refused operation executes nothing; the HTTP endpoint answers 429 + Retry-After for THROTTLED
  (or 200 with ``RATE_LIMIT_HTTP_429=false``). Every response carries ``extensions.cost``.
- ``ConnectionLimiter``: WebSocket connections per user (or IP when anonymous), as a Redis sorted set
  of connection leases; live connections renew their lease, so a crashed process's slots expire.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationType
from strawberry.extensions import SchemaExtension

from codex_graphql.cost import CostCalculator, evaluate, overhead
from codex_graphql.doccache import document_bytes
from codex_graphql.settings import Settings
from codex_graphql.web_security import introspection_allowed

log = logging.getLogger(__name__)

BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if cost <= tokens then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {allowed, tostring(tokens)}
"""

ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(slots=True)
class BucketState:
    allowed: bool
    available: float


@dataclass
class CostReport:
    requested: int
    actual: int
    capacity: int
    available: float
    restore_rate: float
    throttled: bool = False
    retry_after: int = 0
    charged: int = 0  # what the bucket was asked for: the query cost plus the request's overhead
    maximum: int = 0  # MAX_QUERY_COST when the document costs more (refused: only the overhead was taken)

    def as_extension(self) -> dict[str, Any]:
        return {
            "requestedQueryCost": self.requested,
            "actualQueryCost": self.actual,
            "chargedCost": self.charged,
            "throttleStatus": {
                "maximumAvailable": self.capacity,
                "currentlyAvailable": int(self.available),
                "restoreRate": self.restore_rate,
            },
        }


class RedisBucket:
    def __init__(self, client: Any, namespace: str) -> None:
        self.script = client.register_script(BUCKET_SCRIPT)
        self.ns = namespace

    async def take(self, caller: str, cost: int, capacity: int, rate: float) -> BucketState:
        allowed, tokens = await self.script(keys=[f"{self.ns}:ratelimit:{caller}"], args=[capacity, rate, cost])
        return BucketState(bool(int(allowed)), float(tokens))


class MemoryBucket:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}

    async def take(self, caller: str, cost: int, capacity: int, rate: float) -> BucketState:
        now = time.monotonic()
        tokens, ts = self._state.get(caller, (float(capacity), now))
        tokens = min(float(capacity), tokens + max(0.0, now - ts) * rate)
        allowed = cost <= tokens
        if allowed:
            tokens -= cost
        self._state[caller] = (tokens, now)
        if len(self._state) > 100_000:  # bounded: forget the oldest callers (their buckets were refilling)
            for key in list(self._state)[:10_000]:
                del self._state[key]
        return BucketState(allowed, tokens)


class ConnectionLimiter:
    """At most ``limit`` live WebSocket connections per caller, as expiring leases."""

    def __init__(self, client: Any, namespace: str, lease_seconds: int) -> None:
        self.client = client
        self.ns = namespace
        self.lease = lease_seconds
        self.script = client.register_script(ACQUIRE_SCRIPT) if client is not None else None
        self._memory: dict[str, dict[str, float]] = {}

    def _key(self, caller: str) -> str:
        return f"{self.ns}:ws:{caller}"

    async def acquire(self, caller: str, limit: int) -> str | None:
        """A lease id when a slot is free, else None."""
        lease_id = uuid.uuid4().hex
        now = time.time()
        if self.script is None:
            leases = {k: v for k, v in self._memory.get(caller, {}).items() if v > now}
            if len(leases) >= limit:
                return None
            leases[lease_id] = now + self.lease
            self._memory[caller] = leases
            return lease_id
        try:
            ok = await self.script(keys=[self._key(caller)], args=[now, limit, now + self.lease, lease_id, self.lease * 2])
        except Exception:  # Redis unreachable: fail open, like the rate limiter
            log.warning("connection limiter unavailable; connection admitted", exc_info=True)
            return lease_id
        return lease_id if int(ok) else None

    async def renew(self, caller: str, lease_id: str) -> None:
        expiry = time.time() + self.lease
        if self.script is None:
            if lease_id in self._memory.get(caller, {}):
                self._memory[caller][lease_id] = expiry
            return
        await self.client.zadd(self._key(caller), {lease_id: expiry}, xx=True)
        await self.client.expire(self._key(caller), self.lease * 2)

    async def release(self, caller: str, lease_id: str) -> None:
        if self.script is None:
            self._memory.get(caller, {}).pop(lease_id, None)
            return
        try:
            await self.client.zrem(self._key(caller), lease_id)
        except Exception:  # the lease expires by itself
            log.warning("releasing a WebSocket connection lease failed", exc_info=True)

    async def keep_alive(self, caller: str, lease_id: str) -> None:
        """Renews the lease until cancelled (when the connection ends)."""
        while True:
            await asyncio.sleep(max(1.0, self.lease / 3))
            try:
                await self.renew(caller, lease_id)
            except Exception:  # Redis briefly away: the next renewal may succeed
                log.warning("renewing a WebSocket connection lease failed", exc_info=True)


class Limits:
    """The rate-limit state of one process, built with its services (``Services.limits``)."""

    def __init__(self, settings: Settings, redis: Any) -> None:
        self.settings = settings
        self.bucket: RedisBucket | MemoryBucket = (
            RedisBucket(redis, settings.redis_namespace) if redis is not None else MemoryBucket())
        self.connections = ConnectionLimiter(redis, settings.redis_namespace, settings.ws_connection_lease_seconds)

    def overhead(self, document_size: int) -> int:
        return overhead(document_size, self.settings.min_request_cost, self.settings.document_cost_per_kb)

    async def charge(self, caller: str, cost: int, extra: int = 0) -> CostReport:
        """Take ``cost`` (the query cost) plus ``extra`` (the request's overhead) from the caller's bucket."""
        s = self.settings
        capacity, rate = s.rate_limit_capacity, s.rate_limit_restore_rate
        total = cost + extra
        if not s.rate_limit_enabled:
            return CostReport(cost, cost, capacity, capacity, rate, charged=total)
        try:
            state = await self.bucket.take(caller, min(total, capacity), capacity, rate)
        except Exception:  # Redis unreachable: fail open, an outage of the limiter is not an outage of the API
            log.warning("rate limiter unavailable; request not charged", exc_info=True)
            return CostReport(cost, cost, capacity, capacity, rate, charged=total)
        report = CostReport(cost, cost, capacity, state.available, rate, throttled=not state.allowed, charged=total)
        if not state.allowed:
            report.retry_after = max(1, math.ceil((min(total, capacity) - state.available) / rate))
        return report


def limits_for(services: Any) -> Limits:
    """The process's limits: built once with its services (``services.build_services``), never here."""
    limits: Limits = services.limits
    return limits


async def charge_request(services: Any, caller: str, document_size: int, requested: int | None = None) -> CostReport:
    """Price and charge one request, once, whichever executor answers it (the compiled path, the
    resolvers, or both for a document with compiled and resolved roots): the document's cost
    (``requested``; None when the request never reached the cost check, e.g. a parse or validation
    error) plus the request's overhead (``cost.overhead`` of the document's size). A document over
    ``MAX_QUERY_COST`` pays only the overhead and is refused (``refusal``), as is a THROTTLED one."""
    limits = limits_for(services)
    extra = limits.overhead(document_size)
    if requested is None:
        return await limits.charge(caller, 0, extra)
    maximum = services.settings.max_query_cost
    if requested > maximum:
        report = await limits.charge(caller, 0, extra)
        report.requested = report.actual = requested
        report.maximum = maximum
        return report
    return await limits.charge(caller, requested, extra)


def refusal(report: CostReport) -> GraphQLError | None:
    """The error that refuses a charged request before anything executes, if any."""
    if report.maximum:
        return _refuse(f"The query costs {report.requested}, more than the maximum of {report.maximum}; "
                       "ask for fewer items (`first`) or fewer nested lists.", "QUERY_TOO_COMPLEX",
                       cost=report.requested, maximumCost=report.maximum)
    if report.throttled:
        return _refuse(f"Rate limit exceeded; retry in {report.retry_after} s.", "THROTTLED",
                       retryAfter=report.retry_after)
    return None


async def charge_overhead(context: Any, query: str | None) -> CostReport:
    """Charge a request that never reached execution (a parse or validation error) its overhead."""
    return await charge_request(context.services, caller_key(context), document_bytes(query) if query else 0)


def caller_key(context: Any) -> str:
    """Who pays: an API key (when they exist: ``viewer.extra["api_key_id"]``), the user, or the IP."""
    viewer = context.viewer
    api_key = viewer.extra.get("api_key_id") if viewer.extra else None
    if api_key:
        return f"key:{api_key}"
    if viewer.user_id is not None:
        return f"user:{viewer.user_id}"
    return f"ip:{context.client_ip or 'unknown'}"


def _refuse(message: str, code: str, **extra: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extra})


class RequestLimits(SchemaExtension):
    """Checks each operation after validation, before anything executes."""

    def __init__(self, calculator: CostCalculator) -> None:
        self.calculator = calculator

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        ec = self.execution_context
        context = ec.context
        if ec.graphql_document is not None and hasattr(context, "services") and hasattr(context, "viewer"):
            await self._check(context)
        yield

    async def _check(self, context: Any) -> None:
        ec = self.execution_context
        settings: Settings = context.services.settings
        analysis = self.calculator.analysis(ec.schema._schema, ec.query, ec.graphql_document, ec.operation_name)
        if analysis.introspection and not introspection_allowed(settings, context.viewer):
            raise _refuse("GraphQL introspection is not allowed for this caller.", "GRAPHQL_VALIDATION_FAILED")
        if analysis.operation is OperationType.MUTATION and analysis.root_fields > settings.max_mutations_per_request:
            raise _refuse(f"At most {settings.max_mutations_per_request} mutations may be sent in one request.",
                          "TOO_MANY_MUTATIONS")
        report = getattr(context, "charged", None)
        if report is not None:
            # Priced and charged before execution, for the whole document (the compiled path ran some of
            # its roots and hands the rest to the resolvers): never charged a second time.
            context.charged = None
        else:
            report = await charge_request(context.services, caller_key(context),
                                          document_bytes(ec.query) if ec.query else 0,
                                          evaluate(analysis.cost, ec.variables))
        context.cost = report
        refused = refusal(report)
        if refused is not None:
            raise refused

    def get_results(self) -> dict[str, Any]:
        report = getattr(self.execution_context.context, "cost", None)
        return {"cost": report.as_extension()} if isinstance(report, CostReport) else {}


def http_status(context: Any, settings: Settings) -> tuple[int, dict[str, str] | None]:
    """Status and headers of a GraphQL HTTP response: 429 + Retry-After when THROTTLED (unless turned off)."""
    report = getattr(context, "cost", None)
    if isinstance(report, CostReport) and report.throttled and settings.rate_limit_http_429:
        return 429, {"retry-after": str(report.retry_after)}
    return 200, None
