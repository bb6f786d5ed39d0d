"""Domain events and job requests through a transactional outbox: the event path.

Services call ``emit`` / ``enqueue`` with the caller's session: the rows commit (or vanish)
with the change that caused them. ``OutboxRelay`` publishes committed rows to Dramatiq (jobs) and
to pub/sub (events), marks them sent, and picks up whatever a crash left unsent on its next pass.
Consumers dedupe by message id (``ProcessedMessage``). While tracing is on, a row's payload also carries
the enqueuing span's traceparent (``tracing.TRACE_KEY``); the relay removes it before delivery and passes it
on to Dramatiq in the message options.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ForeignKey, Index, String, Text, bindparam, event, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from codex_graphql import tracing
from codex_graphql.db import (
    BEFORE_RESCOPE,
    Base,
    Database,
    IdMixin,
    TenantScope,
    TenantSession,
    TimestampMixin,
    new_id,
    state_of,
    take_outbox_pending,
    utcnow,
)
from codex_graphql.kv import PubSub

log = logging.getLogger(__name__)

JOB = "job"
EVENT = "event"


class OutboxMessage(IdMixin, TimestampMixin, Base):
    """A committed intent to run a job or announce an event. Under row-level security like every tenant
    table: a transaction writes the rows of the organization it is scoped to (or rows of no organization,
    such as account emails) and sees only its organization's rows; the relay reads and marks every
    organization's rows under the platform scope."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_unpublished", "created_at", postgresql_where=text("published_at IS NULL")),
    )

    kind: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedMessage(Base):
    """Which consumer already handled which message id: the dedupe record for at-least-once delivery."""

    __tablename__ = "processed_message"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


_INSERT_OUTBOX = insert(OutboxMessage.__table__)


def _add(session: AsyncSession, kind: str, topic: str, payload: dict[str, Any],
         organization_id: uuid.UUID | None) -> uuid.UUID:
    message_id = new_id()
    if tracing.ENABLED:  # the enqueuing span travels with the row (tracing.TRACE_KEY), removed before delivery
        payload = tracing.with_trace(payload)
    state = state_of(session)  # rows emitted in the current transaction, not written yet
    state.outbox_pending.append({
        "id": message_id, "kind": kind, "topic": topic, "payload": payload, "organization_id": organization_id,
        "created_at": utcnow(), "attempts": 0})
    state.outbox_dirty = True
    return message_id


def emit(session: AsyncSession, event_type: str, payload: dict[str, Any], organization_id: uuid.UUID | None = None) -> uuid.UUID:
    """Record a domain event in the caller's transaction (its row is written when the transaction commits)."""
    return _add(session, EVENT, event_type, payload, organization_id)


def enqueue(session: AsyncSession, actor_name: str, organization_id: uuid.UUID | None = None, **kwargs: Any) -> uuid.UUID:
    """Request a job in the caller's transaction; the actor receives ``job_id`` plus ``kwargs``."""
    return _add(session, JOB, actor_name, kwargs, organization_id)


# A transaction's outbox rows are written in one INSERT as it commits, not as ORM objects: the unit of work
# (state tracking, flush ordering) cost more CPU than the rest of a webhook delivery's SQL. Nothing reads
# them before the commit: the relay only sees committed rows.
@event.listens_for(TenantSession, "before_commit")
def _write_outbox(session: Session) -> None:
    rows = take_outbox_pending(session)
    if rows:  # one multi-row VALUES statement (its compiled form is cached per row count)
        session.execute(_INSERT_OUTBOX.values(rows))


@event.listens_for(TenantSession, "after_rollback")
def _drop_outbox(session: Session) -> None:
    take_outbox_pending(session)


async def _write_before_rescope(session: AsyncSession) -> None:
    """Rows emitted so far are written before the transaction's scope changes, in the scope they were
    emitted in: row-level security admits an organization's outbox rows from its own scope only (a
    customer's free claim emits the shop's purchase event inside ``acting_in``, which then restores the
    customer's scope). No extra statement when nothing is pending: the webhook's handler switches scope
    before it emits anything."""
    rows = take_outbox_pending(session)
    if rows:
        await session.execute(_INSERT_OUTBOX.values(rows))


BEFORE_RESCOPE.append(_write_before_rescope)


async def claim_once(session: AsyncSession, consumer: str, message_id: uuid.UUID | str) -> bool:
    """True the first time ``consumer`` sees ``message_id`` (in this transaction); False after."""
    result = await session.execute(
        insert(ProcessedMessage)
        .values(consumer=consumer, message_id=uuid.UUID(str(message_id)))
        .on_conflict_do_nothing()
        .returning(ProcessedMessage.message_id)
    )
    return result.first() is not None


async def claimed(session: AsyncSession, consumer: str, message_id: uuid.UUID | str) -> bool:
    """Whether ``consumer`` already handled ``message_id`` (a read: for jobs that claim after a network call)."""
    statement = select(ProcessedMessage.message_id).where(
        ProcessedMessage.consumer == consumer, ProcessedMessage.message_id == uuid.UUID(str(message_id)))
    return await session.scalar(statement) is not None


def event_channel(organization_id: uuid.UUID | str | None) -> str:
    return f"events:{organization_id or 'platform'}"


JobSender = Callable[[str, str, dict[str, Any]], Awaitable[None]]
_OUTBOX = OutboxMessage.__table__
_MARK_SENT = (
    update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(published_at=bindparam("sent_at"))
)


class OutboxRelay:
    """Publishes committed outbox rows. Runs in the API process and in workers; rows are claimed
    with ``FOR UPDATE SKIP LOCKED`` so several relays never publish the same row at once."""

    def __init__(self, db: Database, send_job: JobSender, pubsub: PubSub, *, poll_seconds: float = 1.0, batch: int = 100) -> None:
        self.db = db
        self.send_job = send_job
        self.pubsub = pubsub
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch`` unsent rows; returns how many were sent."""
        sent: list[uuid.UUID] = []
        # The platform scope: the outbox's policies admit every organization's rows to the relay only.
        async with self.db.transaction(TenantScope.platform_wide()) as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    # Rows that keep failing go last, so a batch of them cannot starve newer rows.
                    .order_by(OutboxMessage.attempts, OutboxMessage.created_at)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                try:
                    await self._publish(row)
                except Exception as exc:  # keep going; the row stays unsent and is retried next pass
                    log.warning("outbox publish failed", extra={"outbox_id": str(row.id), "error": repr(exc)})
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id == row.id)
                        .values(attempts=OutboxMessage.attempts + 1, last_error=repr(exc)[:2000])
                        .execution_options(synchronize_session=False)
                    )
                    continue
                sent.append(row.id)
            if sent:
                # One statement for the batch (the rows commit together anyway), on the table: an ORM update
                # evaluated its criteria against every loaded row, which made a pass quadratic in its size.
                await session.execute(_MARK_SENT, {"ids": sent, "sent_at": utcnow()})
        return len(sent)

    async def _publish(self, row: OutboxMessage) -> None:
        payload, traceparent = tracing.split_trace(row.payload)
        if row.kind == JOB:
            # The enqueuing span is current while sending: the job sender puts it in the message options.
            with tracing.attached(traceparent):
                await self.send_job(row.topic, str(row.id), payload)
            return
        body = orjson.dumps({"id": str(row.id), "type": row.topic, "payload": payload,
                             "organizationId": str(row.organization_id) if row.organization_id else None,
                             "createdAt": row.created_at.isoformat()})
        await self.pubsub.publish(event_channel(row.organization_id), body)

    async def run(self) -> None:
        # The loop ends on ``_stopping`` and not only on cancellation: some client libraries (seen
        # with redis-py 8's asyncio publish) swallow a task's CancelledError, which left a cancelled
        # relay looping forever and ``stop()`` waiting for it.
        while not self._stopping:
            try:
                while not self._stopping and await self.publish_pending() >= self.batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed")
            if self._stopping:
                break
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let a pass in flight finish (so what it sent gets marked sent), then make sure the task ends."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            log.error("outbox relay did not stop within %.0f s", 2 * grace_seconds)
        elif not task.cancelled() and task.exception() is not None:
            log.error("outbox relay ended with an error", exc_info=task.exception())
