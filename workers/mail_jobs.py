"""Mail jobs with no transaction open while the mail is sent (ARCHITECTURE.md: no network call inside an
open transaction)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import events
from codex_graphql.db import TenantScope
from codex_graphql.mail import Mail
from workers.runtime import Runtime


async def send_then_record(rt: Runtime, scope: TenantScope, consumer: str, job_id: str,
                           build: Callable[[AsyncSession], Awaitable[Mail | None]]) -> bool:
    """A mail job with no transaction open while the mail is sent (ARCHITECTURE.md: no network call inside
    a transaction). ``build`` runs twice with the same inputs (tokens minted by the caller beforehand): first
    in a transaction that is rolled back, to get the mail (or None: nothing to send); then, once the mail
    is sent (or when there is none), in the transaction that claims the job id and keeps what ``build``
    writes (token hashes).
    A failed send leaves nothing behind and the retry sends; a crash after the send and before the record
    sends again on the retry (at least once, never lost). Returns whether a mail was sent."""
    session = rt.db.session(scope)
    try:
        if await events.claimed(session, consumer, job_id):
            return False
        mail = await build(session)
    finally:
        await session.rollback()
        await session.close()
    if mail is not None:
        await rt.mailer.send(mail)
    async with rt.db.transaction(scope) as session:
        if await events.claim_once(session, consumer, job_id):
            await build(session)
    return mail is not None
