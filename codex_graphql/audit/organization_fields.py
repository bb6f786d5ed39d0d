"""Audit's field on ``Organization`` (its audit log), declared here, where its data lives, and attached to
the type by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from codex_graphql.audit.types import AuditLogEntry, AuditLogFilter, organization_audit_log
from codex_graphql.authz import Permission
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection


@strawberry.type(description="Audit's fields of `Organization` (never served as a type of its own).")
class OrganizationAudit:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @guarded(
        HasOrgPermission(Permission.AUDIT_LOG_READ),
        description="Sensitive actions in this organization (refunds, grants, revocations, new members, settings "
        "changes, publishing), newest first.",
    )
    async def audit_log(
        self, info: strawberry.Info, first: FirstArg = None, after: AfterArg = None,
        filter: Annotated[
            AuditLogFilter | None,
            strawberry.argument(description="Narrow the log by action, actor, target or time window; conditions combine with AND. Omit for every entry."),
        ] = None,
    ) -> Connection[AuditLogEntry] | None:
        return await organization_audit_log(info, self.organization_id, first, after, filter)
