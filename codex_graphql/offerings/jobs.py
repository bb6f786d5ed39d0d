"""The periodic end of waitlist holds nobody took, run by workers: each HELD booking past its hold becomes
EXPIRED, its seats go back and the next person waiting is promoted (``bookings.expire_hold``).

Exactly once with any number of runners: the due holds are listed under the platform scope, then each is
expired in a short transaction of its organization that locks the booking row first; a second runner waits for
that lock and then finds it no longer HELD."""

from __future__ import annotations

import logging
from datetime import datetime

from codex_graphql.db import Database, TenantScope, utcnow
from codex_graphql.offerings import booking_repository, bookings

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
BATCH = 200


async def expire_holds(db: Database, now: datetime | None = None, batch: int = BATCH, max_rounds: int = 50) -> int:
    """Expire every hold due at ``now``; returns how many this runner expired."""
    expired = 0
    for _ in range(max_rounds):
        at = now or utcnow()  # the same instant lists a hold and decides it is due
        async with db.transaction(TenantScope.platform_wide()) as session:
            due = await booking_repository.holds_expired(session, at, batch)
        for organization_id, booking_id in due:
            async with db.transaction(TenantScope(organization_id=organization_id)) as session:
                expired += await bookings.expire_hold(session, organization_id, booking_id, at)
        if len(due) < batch:
            break
    if expired:
        log.info("booking holds expired", extra={"expired": expired})
    return expired
