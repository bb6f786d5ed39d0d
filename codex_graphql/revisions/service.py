"""Writing and restoring content revisions. Services never commit.

A mutation that may change an item's editable state reads ``state_of`` before and after its changes and calls
``record``: one revision per mutation, naming the fields that changed (none changed: no revision). The item's
creation writes the first revision (every field). ``restore`` puts an earlier revision's state back as a new
change (a new revision, ``restored_from`` naming the old one): categories deleted since are left out, and an
article's body comes back as it was at that revision.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.accounts.viewer import Viewer
from codex_graphql.articles import repository as articles_repository
from codex_graphql.articles import service as articles
from codex_graphql.categories import repository as categories_repository
from codex_graphql.categories import service as categories
from codex_graphql.content import rules
from codex_graphql.content.models import Content, ContentKind
from codex_graphql.enum_docs import describe_values
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.revisions import repository
from codex_graphql.revisions.models import ContentRevision


@strawberry.enum(description="A part of a content item that a revision records.")
class RevisionField(enum.StrEnum):
    TITLE = "TITLE"
    DESCRIPTION = "DESCRIPTION"
    PRICE = "PRICE"
    TAGS = "TAGS"
    CATEGORIES = "CATEGORIES"
    BODY = "BODY"


describe_values(RevisionField, {
    "TITLE": "The title.", "DESCRIPTION": "The description.",
    "PRICE": "The price (amount or currency); past purchases keep what they were bought at.",
    "TAGS": "The tags.", "CATEGORIES": "The categories the item is in.", "BODY": "An article's body.",
})


@dataclass
class State:
    title: str
    description: str
    price_cents: int
    currency: str
    tags: list[str]
    category_ids: list[str]
    body: dict[str, Any] | None = field(default=None)

    def fields(self) -> dict[RevisionField, Any]:
        return {RevisionField.TITLE: self.title, RevisionField.DESCRIPTION: self.description,
                RevisionField.PRICE: (self.price_cents, self.currency), RevisionField.TAGS: self.tags,
                RevisionField.CATEGORIES: self.category_ids, RevisionField.BODY: self.body}


async def state_of(session: AsyncSession, content: Content) -> State:
    ids = await repository.category_ids(session, content.organization_id, content.id)
    body = None
    if content.kind is ContentKind.ARTICLE:
        found = (await articles_repository.bodies(session, [content.id])).get(content.id)
        body = found.document if found else None
    return State(title=content.title, description=content.description, price_cents=content.price_cents,
                 currency=content.currency, tags=list(content.tags), category_ids=[str(i) for i in ids], body=body)


async def record(session: AsyncSession, viewer: Viewer, content: Content, before: State | None, after: State,
                 restored_from: uuid.UUID | None = None) -> ContentRevision | None:
    """The revision of a change from ``before`` (None: the item was created) to ``after``; None when nothing
    it records changed."""
    now, then = after.fields(), before.fields() if before else None
    changed = [name for name, value in now.items() if (then is None or then[name] != value)
               and not (name is RevisionField.BODY and content.kind is not ContentKind.ARTICLE)]
    if not changed:
        return None
    snapshot = {key: value for key, value in asdict(after).items() if key != "body"}
    return await repository.add(session, ContentRevision(
        organization_id=content.organization_id, content_id=content.id, actor_user_id=viewer.user_id,
        changed=[name.value for name in changed], snapshot=snapshot,
        body_document=after.body if RevisionField.BODY in changed else None, restored_from=restored_from))


async def restore(session: AsyncSession, viewer: Viewer, content: Content,
                  revision_id: uuid.UUID | None) -> ContentRevision | None:
    """Put the state of revision ``revision_id`` of ``content`` (locked, managed by the viewer) back; None when
    the item already is in that state. NOT_FOUND on ``revisionId`` for a revision of another item."""
    revision = await repository.by_id(session, content.organization_id, revision_id) if revision_id else None
    if revision is None or revision.content_id != content.id:
        raise DomainError(ErrorCode.NOT_FOUND, "This item has no revision with this id.", "revisionId")
    before = await state_of(session, content)
    snapshot = revision.snapshot
    content.title = rules.check_title(snapshot["title"])
    content.description = rules.check_description(snapshot["description"])
    content.price_cents = rules.check_price(snapshot["price_cents"])
    content.currency = snapshot["currency"]
    content.tags = rules.normalize_tags(snapshot["tags"])
    wanted = [uuid.UUID(i) for i in snapshot["category_ids"]]
    existing = await categories_repository.ids_in_organization(session, content.organization_id, wanted) if wanted \
        else set()
    await categories.set_for_content(session, content, [i for i in wanted if i in existing])
    if content.kind is ContentKind.ARTICLE:
        body = await repository.body_as_of(session, revision)
        if body is not None:
            await articles.set_body(session, content, body)
    await session.flush()
    return await record(session, viewer, content, before, await state_of(session, content), restored_from=revision.id)
