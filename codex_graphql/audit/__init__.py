"""Audit log of sensitive actions (refunds, grants, membership, settings, publishing, new-device sign-ins)."""

from codex_graphql.audit.models import AuditAction, AuditLogEntry
from codex_graphql.audit.service import AuditContext, attach, changed, context_of, record

__all__ = ["AuditAction", "AuditContext", "AuditLogEntry", "attach", "changed", "context_of", "record"]
