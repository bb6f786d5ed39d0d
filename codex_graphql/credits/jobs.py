"""The periodic expiry of due credit lots, run by workers (and by the API process in embedded mode).

Exactly once with any number of runners: the work list (which customers hold due lots) is read under the
platform scope, then each customer's lots expire in a short transaction of their organization that locks the
customer's balance row first; a second runner waits for that lock, then finds the lots at zero. Each lot's
EXPIRE row is also keyed by the lot (unique per organization), the last guard."""

from __future__ import annotations

import logging
from datetime import datetime

from codex_graphql.credits import repository, service
from codex_graphql.db import Database, TenantScope, utcnow

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 300.0
BATCH = 200


async def expire_due_lots(db: Database, now: datetime | None = None, batch: int = BATCH, max_rounds: int = 50) -> int:
    """Expire every lot due at ``now``; returns how many EXPIRE rows this runner wrote."""
    now = now or utcnow()
    written = 0
    for _ in range(max_rounds):
        async with db.transaction(TenantScope.platform_wide()) as session:  # every organization's due lots
            owners = await repository.due_owners(session, now, batch)
        for organization_id, user_id in owners:
            async with db.transaction(TenantScope(organization_id=organization_id)) as session:
                written += len(await service.expire_due(session, organization_id, user_id, now))
        if len(owners) < batch:
            break
    if written:
        log.info("credit lots expired", extra={"expired": written})
    return written
