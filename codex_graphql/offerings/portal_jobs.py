"""The mail of a portal announcement, run by a worker (``workers.offering_actors.offering_announcement_mail``).

One job per announcement mails every participant *at send time* (whoever holds a CONFIRMED booking when it runs),
each exactly once however often and however concurrently the job runs: a participant's mail is claimed first
(``offering_announcement_delivery``, one row per announcement and person, in its own short transaction), sent
with no transaction open, then recorded as sent. A concurrent runner finds the claim and skips the person; a
failed send gives the claim back (the retry sends); a claim left by a crashed runner is taken over after
``LEASE``. The only duplicate left is a crash between the send and its record (at least once, never lost).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.mail import Mail, templates
from codex_graphql.offerings import portal_repository as repository
from codex_graphql.offerings import repository as offerings
from codex_graphql.organizations import repository as organizations

LEASE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Delivered:
    sent: int  # mails this runner sent
    pending: int  # claimed by another runner and not yet recorded as sent


async def deliver(db: Database, send: Callable[[Mail], Awaitable[None]], organization_id: uuid.UUID,
                  announcement_id: uuid.UUID, link: str, now: Callable[[], datetime] = utcnow) -> Delivered:
    scope = TenantScope(organization_id=organization_id)
    async with db.transaction(scope) as session:
        announcement = await repository.announcement_by_id(session, organization_id, announcement_id)
        if announcement is None:
            return Delivered(0, 0)
        offering = await offerings.by_id(session, announcement.offering_id)
        organization = await organizations.by_id(session, organization_id)
        people = await repository.participants(session, organization_id, announcement.offering_id)
        title, body = announcement.title, announcement.body
    if offering is None or organization is None:
        return Delivered(0, 0)
    sent = 0
    for user_id, email, name in people:
        async with db.transaction(scope) as session:
            claimed = await repository.claim_delivery(session, organization_id, announcement_id, user_id, now(), LEASE)
        if claimed is None:
            continue
        mail = templates.offering_announcement(email, name, offering.title, organization.name, title, body, link)
        try:
            await send(mail)
        except BaseException:
            async with db.transaction(scope) as session:
                await repository.finish_delivery(session, organization_id, announcement_id, user_id, claimed, None)
            raise
        async with db.transaction(scope) as session:
            await repository.finish_delivery(session, organization_id, announcement_id, user_id, claimed, now())
        sent += 1
    async with db.transaction(scope) as session:
        pending = await repository.unsent_count(session, organization_id, announcement_id)
    return Delivered(sent, pending)
