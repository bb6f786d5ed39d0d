"""The periodic ``scheduled-publishing`` job: publishes the items whose scheduled time has come, run by workers
(and by the API process in embedded mode) every ``SCHEDULED_PUBLISH_SECONDS`` (settings, 60 by default), so an
item goes out within that long after its time.

Exactly once with any number of runners: the work list (which organizations have schedules due, ids only) is
read under the platform scope; each organization's due items are then locked (rows held elsewhere skipped) and
claimed by a conditional DELETE of their schedules, then published, in one short transaction of that
organization (``scheduling.publish_due``). A runner that finds an item already claimed leaves it."""

from __future__ import annotations

import logging
from datetime import datetime

from codex_graphql import audit
from codex_graphql.content import scheduling
from codex_graphql.content import scheduling_repository as repository
from codex_graphql.db import Database, TenantScope, utcnow

log = logging.getLogger(__name__)

BATCH = 200  # items per organization transaction


async def publish_scheduled(db: Database, now: datetime | None = None, batch: int = BATCH,
                            max_rounds: int = 50) -> int:
    """Publish every item due at ``now``; returns how many this runner published."""
    now = now or utcnow()
    async with db.transaction(TenantScope.platform_wide()) as session:  # every organization's due schedules
        organizations = await repository.organizations_due(session, now)
    published = 0
    for organization_id in organizations:
        for _ in range(max_rounds):
            async with db.transaction(TenantScope(organization_id=organization_id)) as session:
                audit.attach(session, audit.AuditContext(actor_service=scheduling.SCHEDULER))
                done, locked = await scheduling.publish_due(session, organization_id, now, batch)
            published += done
            # Stop only when nothing was left to lock: a short batch may mean another runner holds the rest
            # (skipped, not waited for), and that runner may stop early too; whoever locks nothing is done.
            if locked == 0:
                break
    if published:
        log.info("scheduled content published", extra={"published": published})
    return published
