"""Audit log of sensitive actions (refunds, grants, membership, settings, publishing, new-device sign-ins).

Request path: services record an entry in the transaction of the action it describes, so the entry
commits or vanishes with it; staff read the organization's entries under its tenant scope."""

from codex_graphql.audit.models import AuditAction, AuditLogEntry
from codex_graphql.audit.service import AuditContext, attach, changed, context_of, record

__all__ = ["AuditAction", "AuditContext", "AuditLogEntry", "attach", "changed", "context_of", "record"]
