"""GraphQL shapes of the audit log: ``Organization.auditLog`` entries and their filter."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.audit import repository
from codex_graphql.audit.models import AuditAction
from codex_graphql.audit.models import AuditLogEntry as AuditLogEntryModel
from codex_graphql.relay import (
    Connection,
    build_connection,
    check_first,
    decode_id,
    from_global_id,
    to_global_id,
)


@strawberry.type(description="One sensitive action: who did it, to what, from where, and what changed.")
class AuditLogEntry:
    id: strawberry.ID = strawberry.field(description="Opaque identifier of the entry.")
    action: AuditAction = strawberry.field(description="What happened.")
    target_type: str = strawberry.field(description="GraphQL type name of what it happened to, e.g. `Purchase`.")
    target_id: strawberry.ID | None = strawberry.field(description="Global id of the target (of type `targetType`).")
    before: JSON | None = strawberry.field(description="The target's changed values before the action; null for creations.")
    after: JSON | None = strawberry.field(description="The target's changed values after the action.")
    request_id: str | None = strawberry.field(
        description="The request that did it (the `x-request-id` response header); null for background jobs."
    )
    ip: str | None = strawberry.field(description="Client IP address of that request.")
    user_agent: str | None = strawberry.field(description="Client user agent of that request.")
    created_at: datetime = strawberry.field(description="When it happened.")
    actor_service: str | None = strawberry.field(
        description="The system that acted when no person did: `stripe` for refunds and disputes the payment "
        "provider reported (made in its dashboard or by the buyer's bank), `scheduler` for scheduled publications "
        "(`scheduleContentPublish`); null for actions of a person."
    )
    actor_user_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: AuditLogEntryModel) -> AuditLogEntry:
        return cls(
            id=to_global_id("AuditLogEntry", row.id), action=row.action, target_type=row.target_type,
            target_id=to_global_id(row.target_type, row.target_id) if row.target_id else None,
            before=row.before, after=row.after, request_id=row.request_id, ip=row.ip, user_agent=row.user_agent,
            created_at=row.created_at, actor_service=row.actor_service, actor_user_id=row.actor_user_id,
        )

    @strawberry.field(description="Global id of the person who acted; null for automatic actions.")
    def actor_id(self) -> strawberry.ID | None:
        return to_global_id("User", self.actor_user_id) if self.actor_user_id else None

    @strawberry.field(description="The person who acted; null for automatic actions or a deleted account.")
    async def actor(self, info: strawberry.Info) -> User | None:
        if self.actor_user_id is None:
            return None
        user = await account_loaders.users(info.context).load(self.actor_user_id)
        return User.from_model(user) if user else None


@strawberry.input(description="Narrow the audit log; every given condition must hold.")
class AuditLogFilter:
    action: AuditAction | None = strawberry.field(default=None, description="Only this action.")
    actor_id: strawberry.ID | None = strawberry.field(default=None, description="Only actions by this `User`.")
    target_id: strawberry.ID | None = strawberry.field(default=None, description="Only actions on this object (any global id).")
    from_: datetime | None = strawberry.field(default=None, name="from", description="At or after this instant.")
    to: datetime | None = strawberry.field(default=None, description="Before this instant.")


def _any_id(value: strawberry.ID | None) -> uuid.UUID | None:
    """The uuid inside a global id of any type; an id that decodes to nothing matches nothing."""
    if value is None:
        return None
    decoded = from_global_id(str(value))
    return decoded[1] if decoded else uuid.UUID(int=0)


async def organization_audit_log(info: strawberry.Info, organization_id: uuid.UUID, first: int | None, after: str | None,
                                 filter: AuditLogFilter | None) -> Connection[AuditLogEntry]:
    db = info.context.db
    where = repository.AuditFilter()
    if filter is not None:
        actor = decode_id(filter.actor_id, "User") if filter.actor_id is not None else None
        if filter.actor_id is not None and actor is None:
            actor = uuid.UUID(int=0)
        where = repository.AuditFilter(action=filter.action, actor_user_id=actor, target_id=_any_id(filter.target_id),
                                       from_=filter.from_, to=filter.to)
    page = await repository.organization_page(db, organization_id, where, check_first(first), after)
    return build_connection(page, AuditLogEntry.from_model, lambda: repository.organization_count(db, organization_id, where))
