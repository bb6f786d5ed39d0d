"""Imports every model so metadata (alembic, tests) sees the whole schema."""

from codex_graphql.accounts.models import EmailToken, User, UserSession
from codex_graphql.db import Base
from codex_graphql.events import OutboxMessage, ProcessedMessage
from codex_graphql.organizations.models import Organization, OrganizationMembership

TENANT_TABLES = ("organization_membership",)

__all__ = [
    "Base", "EmailToken", "Organization", "OrganizationMembership", "OutboxMessage",
    "ProcessedMessage", "TENANT_TABLES", "User", "UserSession",
]
