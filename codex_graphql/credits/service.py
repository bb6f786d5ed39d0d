"""Credits ledger rules. Services never commit: the request, webhook handler or job owns the transaction.

Integer rules (no rounding anywhere): every amount is a whole number of credits, 1 to ``MAX_AMOUNT`` per
transaction, and a balance stays within 0 to ``MAX_BALANCE``. Each writer locks the customer's balance row
first (``repository.lock_balance``), so concurrent writers for one customer and organization run one after
the other and a balance can never go below zero (the database's CHECK is the last line). Each transaction
carries an idempotency key unique in its organization: a replay with the same key returns the first row and
changes nothing; the same key for a different operation is IDEMPOTENCY_KEY_REUSED.

Lots: credits granted with an expiry (``expires_at``) form a lot. Spends and negative adjustments take credits
from lots soonest-expiry first, then from the credits that never expire. A due lot's remaining credits expire
by one EXPIRE row keyed by the lot (``expire_due``; the periodic job, and every writer before it changes the
balance), so a lot expires exactly once however many runners see it. A refund puts credits back into the
lots the spend took them from while those lots are live; credits of lots that lapsed meanwhile come back as
credits that never expire (the customer is never short-changed by a late refund).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.accounts import repository as accounts
from codex_graphql.credits import repository
from codex_graphql.credits.models import CreditPolicy, CreditTransaction, CreditTransactionKind
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode

MAX_AMOUNT = 1_000_000  # credits in one transaction
MAX_BALANCE = 1_000_000_000  # credits one customer may hold in one organization (well inside PostgreSQL integer)
MAX_KEY_LENGTH = 200
MAX_STAFF_KEY_LENGTH = 190  # what staff send; stored as ``adjust:<key>``
MAX_REASON_LENGTH = 500
_INTERNAL = "credits:"  # prefix of the keys the ledger makes itself (lot expiries, refunds)


@dataclass(frozen=True, slots=True)
class Source:
    """What caused a transaction: a kind of thing (``invoice``, ``booking``, ``staff``...) and its id."""

    type: str
    id: str | None = None


def check_amount(amount: int, field: str = "amount", *, signed: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError(ErrorCode.INVALID_INPUT, "Credit amounts are whole numbers.", field)
    if amount == 0 or (not signed and amount < 0) or abs(amount) > MAX_AMOUNT:
        kind = "between 1" if not signed else f"between -{MAX_AMOUNT} and -1 or 1"
        raise DomainError(ErrorCode.INVALID_INPUT, f"A credit amount must be {kind} and {MAX_AMOUNT}.", field)
    return amount


def check_key(key: str, field: str = "idempotencyKey", limit: int = MAX_KEY_LENGTH) -> str:
    key = (key or "").strip()
    if not 1 <= len(key) <= limit:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Idempotency keys have 1 to {limit} characters.", field)
    return key


def check_reason(reason: str, *, required: bool = False, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH or (required and not reason):
        raise DomainError(ErrorCode.INVALID_INPUT, f"Give a reason of 1 to {MAX_REASON_LENGTH} characters."
                          if required else f"A reason has at most {MAX_REASON_LENGTH} characters.", field)
    return reason


def lot_expiry(policy: CreditPolicy, period_end: datetime) -> datetime | None:
    """When credits granted for a period ending at ``period_end`` lapse under ``policy`` (None: never)."""
    return period_end if policy is CreditPolicy.EXPIRE_MONTHLY else None


async def _replayed(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, key: str,
                    kind: CreditTransactionKind, amount: int | None) -> CreditTransaction | None:
    """The first transaction made with ``key`` when this is a replay of it; IDEMPOTENCY_KEY_REUSED when the key
    was used for something else. Called with the balance row locked."""
    existing = await repository.by_key(session, organization_id, key)
    if existing is None:
        return None
    if existing.user_id != user_id or existing.kind is not kind or (amount is not None and existing.amount != amount):
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                          "This idempotency key was used for a different credit transaction.", "idempotencyKey")
    return existing


async def _append(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, *,
                  kind: CreditTransactionKind, amount: int, balance_before: int, key: str, source: Source,
                  reason: str = "", expires_at: datetime | None = None, actor_user_id: uuid.UUID | None = None,
                  lots: dict[str, int] | None = None) -> CreditTransaction:
    """One ledger row and the balance it leads to, together (the caller holds the balance row)."""
    balance = balance_before + amount
    if balance < 0:
        raise DomainError(ErrorCode.INSUFFICIENT_CREDITS, f"Only {balance_before} credits are left.", "amount")
    if balance > MAX_BALANCE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A balance holds at most {MAX_BALANCE} credits.", "amount")
    row = await repository.insert_transaction(session, {
        "id": uuid.uuid4(), "organization_id": organization_id, "user_id": user_id, "kind": kind, "amount": amount,
        "balance_after": balance, "reason": reason, "source_type": source.type[:40],
        "source_id": source.id[:200] if source.id else None, "idempotency_key": key, "expires_at": expires_at,
        "actor_user_id": actor_user_id, "lots": lots,
    })
    if row is None:  # another customer's transaction took the key at the same moment
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                          "This idempotency key was used for a different credit transaction.", "idempotencyKey")
    await repository.set_balance(session, organization_id, user_id, balance)
    return row


async def _take_from_lots(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                          credits: int) -> dict[str, int]:
    """Take ``credits`` from the live lots, soonest expiry first; what they lack comes from the credits that
    never expire. Returns {lot id: credits taken}."""
    taken: dict[str, int] = {}
    for lot in await repository.live_lots(session, organization_id, user_id):
        if credits <= 0:
            break
        part = min(lot.remaining, credits)
        await repository.set_lot_remaining(session, organization_id, lot.id, lot.remaining - part)
        taken[str(lot.id)] = part
        credits -= part
    return taken


async def _expire_lots(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, balance: int,
                       until: datetime) -> tuple[int, list[CreditTransaction]]:
    """Expire, one EXPIRE row each (keyed by the lot), the lots due at ``until``. Returns the new balance."""
    expired: list[CreditTransaction] = []
    for lot in await repository.live_lots(session, organization_id, user_id):
        if lot.expires_at > until:
            break
        row = await _append(session, organization_id, user_id, kind=CreditTransactionKind.EXPIRE, amount=-lot.remaining,
                            balance_before=balance, key=f"{_INTERNAL}lot-expiry:{lot.id}", source=Source("credit_lot", str(lot.id)),
                            reason="Credits reached their expiry date unused.", lots={str(lot.id): lot.remaining})
        await repository.set_lot_remaining(session, organization_id, lot.id, 0)
        balance = row.balance_after
        expired.append(row)
    return balance, expired


async def grant(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, amount: int,
                idempotency_key: str, source: Source, expires_at: datetime | None = None,
                reason: str = "") -> CreditTransaction:
    """Give ``amount`` credits (e.g. a paid invoice's monthly credits, keyed by the invoice id: once).
    With ``expires_at`` they form a lot that lapses then."""
    amount = check_amount(amount)
    key = check_key(idempotency_key)
    reason = check_reason(reason)
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "Credits cannot be granted already expired.", "expiresAt")
    balance = await repository.lock_balance(session, organization_id, user_id)
    if (replay := await _replayed(session, organization_id, user_id, key, CreditTransactionKind.GRANT, amount)) is not None:
        return replay
    row = await _append(session, organization_id, user_id, kind=CreditTransactionKind.GRANT, amount=amount,
                        balance_before=balance, key=key, source=source, reason=reason, expires_at=expires_at)
    if expires_at is not None:
        await repository.insert_lot(session, row.id, organization_id, user_id, expires_at, amount)
    return row


async def spend(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, amount: int,
                idempotency_key: str, source: Source, reason: str = "") -> CreditTransaction:
    """Use ``amount`` credits (internal: bookings call it). INSUFFICIENT_CREDITS when the balance is smaller;
    concurrent spends queue on the balance row, so the balance never goes negative."""
    amount = check_amount(amount)
    key = check_key(idempotency_key)
    reason = check_reason(reason)
    balance = await repository.lock_balance(session, organization_id, user_id)
    now = utcnow()  # after the lock: the moment this writer acts
    if (replay := await _replayed(session, organization_id, user_id, key, CreditTransactionKind.SPEND, -amount)) is not None:
        return replay
    balance, _ = await _expire_lots(session, organization_id, user_id, balance, now)
    if balance < amount:
        raise DomainError(ErrorCode.INSUFFICIENT_CREDITS, f"{amount} credits needed, {balance} left.", "amount")
    lots = await _take_from_lots(session, organization_id, user_id, amount)
    return await _append(session, organization_id, user_id, kind=CreditTransactionKind.SPEND, amount=-amount,
                         balance_before=balance, key=key, source=source, reason=reason, lots=lots)


async def refund(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, spend_id: uuid.UUID,
                 source: Source, reason: str = "") -> CreditTransaction:
    """Give a spend back in full, once: the refund is keyed by the spend (a replay returns the same refund)."""
    reason = check_reason(reason)
    balance = await repository.lock_balance(session, organization_id, user_id)
    now = utcnow()  # after the lock: the moment this writer acts
    key = f"{_INTERNAL}refund:{spend_id}"
    if (replay := await _replayed(session, organization_id, user_id, key, CreditTransactionKind.REFUND, None)) is not None:
        return replay
    spent = await repository.by_id(session, organization_id, spend_id)
    if spent is None or spent.user_id != user_id or spent.kind is not CreditTransactionKind.SPEND:
        raise DomainError(ErrorCode.NOT_FOUND, "No spend of this customer has this id.", "transactionId")
    balance, _ = await _expire_lots(session, organization_id, user_id, balance, now)
    taken = {uuid.UUID(lot_id): part for lot_id, part in (spent.lots or {}).items()}
    returned: dict[str, int] = {}
    for lot in await repository.lots_by_id(session, organization_id, list(taken)):
        if lot.expires_at > now:  # still live: its credits go back where they came from
            await repository.set_lot_remaining(session, organization_id, lot.id, lot.remaining + taken[lot.id])
            returned[str(lot.id)] = taken[lot.id]
    return await _append(session, organization_id, user_id, kind=CreditTransactionKind.REFUND, amount=-spent.amount,
                         balance_before=balance, key=key, source=source, reason=reason, lots=returned or None)


async def adjust(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID | None, amount: int,
                 idempotency_key: str, reason: str, actor_user_id: uuid.UUID | None) -> CreditTransaction:
    """A staff correction, positive or negative (never below zero: INSUFFICIENT_CREDITS), audited. Credits
    added never expire; credits removed come from the soonest-expiring lots first."""
    amount = check_amount(amount, signed=True)
    # Staff keys live in their own namespace: no adjustment can take the key of an invoice's grant or a refund.
    key = f"adjust:{check_key(idempotency_key, limit=MAX_STAFF_KEY_LENGTH)}"
    reason = check_reason(reason, required=True)
    if user_id is None or await accounts.user_by_id(session, user_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No user has this id.", "userId")
    balance = await repository.lock_balance(session, organization_id, user_id)
    now = utcnow()  # after the lock: the moment this writer acts
    if (replay := await _replayed(session, organization_id, user_id, key, CreditTransactionKind.ADJUST, amount)) is not None:
        return replay
    balance, _ = await _expire_lots(session, organization_id, user_id, balance, now)
    if balance + amount < 0:
        raise DomainError(ErrorCode.INSUFFICIENT_CREDITS,
                          f"The customer has {balance} credits; an adjustment cannot take the balance below zero.", "amount")
    lots = await _take_from_lots(session, organization_id, user_id, -amount) if amount < 0 else None
    row = await _append(session, organization_id, user_id, kind=CreditTransactionKind.ADJUST, amount=amount,
                        balance_before=balance, key=key, source=Source("staff", str(actor_user_id) if actor_user_id else None),
                        reason=reason, actor_user_id=actor_user_id, lots=lots)
    await audit.record(session, audit.AuditAction.CREDITS_ADJUSTED, organization_id=organization_id,
                       target_type="CreditTransaction", target_id=row.id,
                       before={"balance": balance}, after={"balance": row.balance_after, "amount": amount,
                                                           "userId": str(user_id), "reason": reason},
                       actor_user_id=actor_user_id)
    return row


async def expire_period(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, policy: CreditPolicy,
                        cap: int | None, period_end: datetime, idempotency_key: str) -> CreditTransaction | None:
    """Apply ``policy`` at the end of a period, once per key. EXPIRE_MONTHLY: the lots lapsing by
    ``period_end`` expire in one EXPIRE row. ROLLOVER: the balance above ``cap`` expires (soonest-expiring
    credits first). ACCUMULATE: nothing. None when nothing expires (then no row is written)."""
    key = check_key(idempotency_key)
    if policy is CreditPolicy.ACCUMULATE:
        return None
    if policy is CreditPolicy.ROLLOVER and (cap is None or isinstance(cap, bool) or not 0 <= cap <= MAX_BALANCE):
        raise DomainError(ErrorCode.INVALID_INPUT, f"A rollover cap is 0 to {MAX_BALANCE} credits.", "cap")
    balance = await repository.lock_balance(session, organization_id, user_id)
    now = utcnow()  # after the lock: the moment this writer acts
    if (replay := await _replayed(session, organization_id, user_id, key, CreditTransactionKind.EXPIRE, None)) is not None:
        return replay
    taken: dict[str, int] = {}
    if policy is CreditPolicy.EXPIRE_MONTHLY:
        for lot in await repository.live_lots(session, organization_id, user_id):
            if lot.expires_at > period_end:
                break
            taken[str(lot.id)] = lot.remaining
            await repository.set_lot_remaining(session, organization_id, lot.id, 0)
        excess = sum(taken.values())
    else:
        balance, _ = await _expire_lots(session, organization_id, user_id, balance, now)
        excess = balance - (cap or 0)
        if excess > 0:
            taken = await _take_from_lots(session, organization_id, user_id, excess)
    if excess <= 0:
        return None
    return await _append(session, organization_id, user_id, kind=CreditTransactionKind.EXPIRE, amount=-excess,
                         balance_before=balance, key=key, source=Source("policy", policy.name),
                         reason=f"Period end ({policy.name}).", lots=taken or None)


async def expire_due(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID,
                     now: datetime | None = None) -> list[CreditTransaction]:
    """Expire the customer's lots due at ``now`` (each once, keyed by the lot). The periodic job's unit."""
    now = now or utcnow()
    balance = await repository.lock_balance(session, organization_id, user_id)
    _, expired = await _expire_lots(session, organization_id, user_id, balance, now)
    return expired


async def grant_period_credits(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, *, amount: int,
                               policy: CreditPolicy, cap: int | None, period_start: datetime, period_end: datetime,
                               invoice_id: str) -> CreditTransaction | None:
    """What a paid subscription invoice does to credits, once per invoice (replays change nothing): under
    ROLLOVER the balance above the cap expires at the new period's start (the previous period's end); then the
    period's credits are granted, lapsing at ``period_end`` under EXPIRE_MONTHLY. (EXPIRE_MONTHLY's lapsed
    lots expire on their own: the periodic job, or the next writer.) An EXPIRE_MONTHLY invoice paid only after
    its period ended grants nothing (None): its credits would have lapsed unused already."""
    key = f"invoice:{invoice_id}"
    await repository.lock_balance(session, organization_id, user_id)
    if (done := await _replayed(session, organization_id, user_id, key, CreditTransactionKind.GRANT, None)) is not None:
        return done  # handled before: the cap was applied then (now the balance holds this period's credits)
    expires_at = lot_expiry(policy, period_end)
    if expires_at is not None and expires_at <= utcnow():
        return None
    if policy is CreditPolicy.ROLLOVER:
        await expire_period(session, organization_id, user_id, policy, cap, period_start, f"{_INTERNAL}rollover:{invoice_id}")
    return await grant(session, organization_id, user_id, amount, key, Source("invoice", invoice_id),
                       expires_at=expires_at, reason="Subscription credits for the period.")
