"""Idempotency keys for state-changing mutations.

A retry with the same key and the same input gets the first result; the same key with a different
input is refused (IDEMPOTENCY_KEY_REUSED). Records are per user and operation and expire after a day.
Concurrent requests with one key are serialized by a transaction-scoped advisory lock.

A record belongs to its user and to the organization the request is scoped to (none for a customer
without an active organization); row-level security shows it to that user's and that organization's
transactions only. The clean-up of expired records runs under the platform scope.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.commerce import repository
from codex_graphql.commerce.models import IdempotencyRecord
from codex_graphql.db import Database, TenantScope, scope_of, utcnow
from codex_graphql.errors import DomainError, ErrorCode

TTL = timedelta(hours=24)
CLEANUP_SECONDS = 15 * 60  # how often workers (or the embedded API process) delete expired records
MAX_KEY_LENGTH = 255


def request_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def once(session: AsyncSession, user_id: uuid.UUID, operation: str, key: str, request: dict[str, Any],
               run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run ``run`` once per (user, operation, key); its returned dict (ids, JSON-safe) is what replays get."""
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Idempotency keys have 1 to {MAX_KEY_LENGTH} characters.", "idempotencyKey")
    fingerprint = request_hash(request)
    scope = scope_of(session)  # the request's, before ``run`` acts anywhere
    record = await repository.lock_idempotency_key(session, user_id, operation, key)
    if record is not None and record.expires_at > utcnow():
        if record.request_hash != fingerprint:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED, "This idempotency key was used with a different input.", "idempotencyKey"
            )
        return record.response
    result = await run()
    if record is not None:
        await session.delete(record)
        await session.flush()
    session.add(IdempotencyRecord(user_id=user_id, organization_id=scope.organization_id, operation=operation, key=key,
                                  request_hash=fingerprint, response=result, expires_at=utcnow() + TTL))
    await session.flush()
    return result


async def recorded(session: AsyncSession, user_id: uuid.UUID, operation: str, key: str,
                   request: dict[str, Any]) -> dict[str, Any] | None:
    """The first result of (user, operation, key) when one is recorded, without locking: lets an operation
    that calls a network service before ``once`` skip the call on a replay. Same refusals as ``once``."""
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Idempotency keys have 1 to {MAX_KEY_LENGTH} characters.", "idempotencyKey")
    record = await repository.idempotency_record(session, user_id, operation, key)
    if record is None or record.expires_at <= utcnow():
        return None
    if record.request_hash != request_hash(request):
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This idempotency key was used with a different input.",
                          "idempotencyKey")
    return record.response


async def cleanup_expired(db: Database, batch: int = 1000) -> int:
    """Delete expired records in batches (one short transaction each); returns how many were deleted.
    Safe on several workers at once: rows another one is deleting are skipped."""
    total = 0
    while True:
        async with db.transaction(TenantScope.platform_wide()) as session:  # every organization's and user's records
            deleted = await repository.delete_expired_idempotency(session, utcnow(), batch)
        total += deleted
        if deleted < batch:
            return total
