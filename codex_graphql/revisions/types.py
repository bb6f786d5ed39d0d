"""GraphQL types of content revisions, and ``Content.revisions`` (attached by schema assembly)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.authz import Permission
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.permissions import HasOrgPermission, guarded
from codex_graphql.relay import Connection, build_connection, check_first, to_global_id
from codex_graphql.revisions import repository
from codex_graphql.revisions.models import ContentRevision as RevisionModel
from codex_graphql.revisions.service import RevisionField


@strawberry.type(description="A content item's editable state after one change: who made it, when, and what changed.")
class ContentRevision:
    id: strawberry.ID = strawberry.field(description="The revision's id (pass it to restoreContentRevision).")
    created_at: datetime = strawberry.field(description="When the change was made.")
    changed_fields: list[RevisionField] = strawberry.field(
        description="What this change changed (every field for the item's first revision).")
    title: str = strawberry.field(description="The title after the change.")
    description: str = strawberry.field(description="The description after the change.")
    price_cents: int = strawberry.field(description="The price after the change, in minor units of `currency`. Past "
                                        "purchases keep the amount they were made at.")
    currency: str = strawberry.field(description="ISO 4217 currency code of the price.")
    tags: list[str] = strawberry.field(description="The tags after the change.")
    category_ids: list[strawberry.ID] = strawberry.field(description="The `Category` ids after the change.")
    body_document: JSON | None = strawberry.field(
        description="An article's body (ProseMirror JSON) after the change, when this change set it; null otherwise.")
    restored_from_id: strawberry.ID | None = strawberry.field(
        description="The revision this change restored (restoreContentRevision), if it was a restore.")
    actor_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: RevisionModel) -> ContentRevision:
        snapshot: dict[str, Any] = row.snapshot
        return cls(
            id=to_global_id("ContentRevision", row.id), created_at=row.created_at,
            changed_fields=[RevisionField(name) for name in row.changed], title=snapshot["title"],
            description=snapshot["description"], price_cents=snapshot["price_cents"], currency=snapshot["currency"],
            tags=list(snapshot["tags"]), category_ids=[to_global_id("Category", i) for i in snapshot["category_ids"]],
            body_document=row.body_document,
            restored_from_id=to_global_id("ContentRevision", row.restored_from) if row.restored_from else None,
            actor_id=row.actor_user_id)

    @strawberry.field(description="Who made the change; null when their account is gone or a job made it.")
    async def actor(self, info: strawberry.Info) -> User | None:
        if self.actor_id is None:
            return None
        user = await account_loaders.users(info.context).load(self.actor_id)
        return User.from_model(user) if user else None


@strawberry.type(description="Revisions' fields of `Content` (never served as a type of its own).")
class ContentRevisions:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @guarded(HasOrgPermission(Permission.CONTENT_READ),
             description="Every change of the item's title, description, price, tags, categories or body, newest "
             "first, for staff of its organization.")
    async def revisions(self, info: strawberry.Info, first: FirstArg = None,
                        after: AfterArg = None) -> Connection[ContentRevision] | None:
        ctx: Context = info.context
        row = self.row
        page = await repository.page(ctx.db, row.organization_id, row.id, check_first(first), after)
        return build_connection(page, ContentRevision.from_model,
                                lambda: repository.count(ctx.db, row.organization_id, row.id))
