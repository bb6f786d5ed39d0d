"""bulkUpdateContent: the same change (tags, categories, price, listing; publish or unpublish) to up to 500 items,
each on its own. Services never commit.

The list is checked first (a refusal there changes nothing). Then each distinct item runs in its own savepoint
with exactly what updateContent / publishContent / unpublishContent do to one item (the ownership rule, the
checks, the revision, the status event): a refused item is reported with its errors and rolled back alone, the
others are changed. One audit entry lists the items changed and the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql import audit
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.categories import service as categories
from codex_graphql.content import service
from codex_graphql.content.models import Content
from codex_graphql.errors import DomainError, ErrorCode, UserError
from codex_graphql.revisions import service as revisions

MAX_ITEMS = 500


@dataclass(frozen=True, slots=True)
class BulkChange:
    tags: list[str] | None = None
    category_ids: list[uuid.UUID | None] | None = None
    price_cents: int | None = None
    listed: bool | None = None
    publish: bool = False
    unpublish: bool = False

    def described(self) -> dict[str, object]:
        return {key: value for key, value in {
            "tags": self.tags, "categoryIds": [str(i) for i in self.category_ids] if self.category_ids is not None
            else None, "priceCents": self.price_cents, "listed": self.listed, "publish": self.publish or None,
            "unpublish": self.unpublish or None}.items() if value is not None}


@dataclass
class ItemResult:
    raw_id: str
    content: Content | None = None
    errors: list[UserError] = field(default_factory=list)


def check(items: list[tuple[int, str, uuid.UUID | None]], change: BulkChange) -> None:
    if not items:
        raise DomainError(ErrorCode.INVALID_INPUT, "List at least one content id.", "contentIds")
    if len(items) > MAX_ITEMS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_ITEMS} content ids at once; split the list.",
                          "contentIds")
    if change.publish and change.unpublish:
        raise DomainError(ErrorCode.INVALID_INPUT, "Publish or unpublish, not both.", "unpublish")
    if not change.described():
        raise DomainError(ErrorCode.INVALID_INPUT, "Say what to change: `set`, `publish` or `unpublish`.", "set")


async def _one(session: AsyncSession, viewer: Viewer, content_id: uuid.UUID | None, change: BulkChange) -> Content:
    content = await service.managed(session, viewer, content_id)
    before = await revisions.state_of(session, content)
    if change.category_ids is not None:
        await categories.set_for_content(session, content, change.category_ids)
    content = await service.edit(session, content, service.ContentChanges(
        tags=change.tags, price_cents=change.price_cents, listed=change.listed))
    await revisions.record(session, viewer, content, before, await revisions.state_of(session, content))
    if change.publish:
        content = await service.publish(session, content)
    elif change.unpublish:
        content = await service.unpublish(session, content)
    return content


async def update_many(session: AsyncSession, viewer: Viewer, items: list[tuple[int, str, uuid.UUID | None]],
                      change: BulkChange) -> list[ItemResult]:
    """``items``: (first position in the input list, id as given, decoded id or None), distinct. An item's errors
    name its position (``["input", "contentIds", "3"]``)."""
    check(items, change)
    results: list[ItemResult] = []
    for index, raw_id, content_id in items:
        result = ItemResult(raw_id)
        try:
            async with session.begin_nested():
                result.content = await _one(session, viewer, content_id, change)
        except DomainError as error:
            result.errors = [UserError(code=e.code, message=e.message, field=["input", "contentIds", str(index)])
                             for e in error.errors]
        results.append(result)
    changed = [str(r.content.id) for r in results if r.content is not None]
    if changed:
        assert viewer.active_organization_id is not None
        await audit.record(session, audit.AuditAction.CONTENT_BULK_UPDATED, organization_id=viewer.active_organization_id,
                           target_type="Content", target_id=None, after={**change.described(), "contentIds": changed})
    return results
