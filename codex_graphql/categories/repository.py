"""SQL for categories and their links to content. Statements on ``category`` are scoped with
``in_organization``; the links are read by the item ids the caller already holds (row-level security,
migration 0021, admits a link exactly when its item is readable) and written in the active organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import in_organization
from codex_graphql.categories.models import Category, ContentCategory
from codex_graphql.content import access
from codex_graphql.content.models import Content

ORDER = (Category.position, Category.name, Category.id)


def _listed_in(category_id: object, *, staff: bool) -> object:
    """Items of the category that the organization's list shows the viewer (``access.listed_clause``)."""
    return (select(ContentCategory.content_id).join(Content, Content.id == ContentCategory.content_id)
            .where(ContentCategory.category_id == category_id, access.listed_clause(staff)))


async def of_organization(session: AsyncSession, organization_id: uuid.UUID, *, staff: bool) -> list[Category]:
    """The organization's categories in their order: all of them for staff, for everyone else those holding
    at least one item of the public list (an empty category, or one of drafts only, is not on the shelf)."""
    statement = in_organization(select(Category), Category, organization_id)
    if not staff:
        statement = statement.where(exists(_listed_in(Category.id, staff=False)))
    return list((await session.scalars(statement.order_by(*ORDER))).all())


async def count_in_organization(session: AsyncSession, organization_id: uuid.UUID) -> int:
    statement = in_organization(select(func.count()).select_from(Category), Category, organization_id)
    return int(await session.scalar(statement) or 0)


async def for_update(session: AsyncSession, organization_id: uuid.UUID, category_id: uuid.UUID) -> Category | None:
    statement = in_organization(select(Category), Category, organization_id).where(Category.id == category_id)
    return await session.scalar(statement.with_for_update())


async def slug_taken(session: AsyncSession, organization_id: uuid.UUID, slug: str,
                     other_than: uuid.UUID | None = None) -> bool:
    statement = in_organization(select(Category.id), Category, organization_id).where(Category.slug == slug)
    if other_than is not None:
        statement = statement.where(Category.id != other_than)
    return await session.scalar(statement.limit(1)) is not None


async def ids_in_organization(session: AsyncSession, organization_id: uuid.UUID,
                              category_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``category_ids`` are the organization's categories."""
    statement = in_organization(select(Category.id), Category, organization_id).where(Category.id.in_(category_ids))
    return set((await session.scalars(statement)).all())


async def add(session: AsyncSession, category: Category) -> Category:
    session.add(category)
    await session.flush()
    return category


async def remove(session: AsyncSession, category: Category) -> None:
    """Delete the category and its links (the items stay)."""
    await session.execute(delete(ContentCategory).where(ContentCategory.category_id == category.id,
                                                        ContentCategory.organization_id == category.organization_id))
    await session.delete(category)
    await session.flush()


async def replace_links(session: AsyncSession, organization_id: uuid.UUID, content_id: uuid.UUID,
                        category_ids: Sequence[uuid.UUID]) -> None:
    """Make the item's categories exactly ``category_ids`` (checked by the caller to be the organization's)."""
    wanted = list(dict.fromkeys(category_ids))
    statement = delete(ContentCategory).where(ContentCategory.organization_id == organization_id,
                                              ContentCategory.content_id == content_id)
    if wanted:
        statement = statement.where(ContentCategory.category_id.not_in(wanted))
    await session.execute(statement)
    if wanted:
        await session.execute(insert(ContentCategory).values([
            {"content_id": content_id, "category_id": category_id, "organization_id": organization_id}
            for category_id in wanted
        ]).on_conflict_do_nothing(index_elements=[ContentCategory.content_id, ContentCategory.category_id]))


async def categories_of(session: AsyncSession, content_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Category]]:
    """Each item's categories in their order, for a batch of items in one statement."""
    statement = (select(ContentCategory.content_id, Category).join(Category, Category.id == ContentCategory.category_id)
                 .where(ContentCategory.content_id.in_(content_ids)).order_by(ContentCategory.content_id, *ORDER))
    found: dict[uuid.UUID, list[Category]] = {}
    for content_id, category in (await session.execute(statement)).all():
        found.setdefault(content_id, []).append(category)
    return found


async def listed_counts(session: AsyncSession, category_ids: Sequence[uuid.UUID], organization_id: uuid.UUID,
                        staff: bool) -> dict[uuid.UUID, int]:
    """Per category, how many items the organization's list shows the viewer (``access.listed_clause``)."""
    statement = (in_organization(select(ContentCategory.category_id, func.count()), ContentCategory, organization_id)
                 .join(Content, Content.id == ContentCategory.content_id)
                 .where(ContentCategory.category_id.in_(category_ids), access.listed_clause(staff))
                 .group_by(ContentCategory.category_id))
    return {category_id: int(count) for category_id, count in (await session.execute(statement)).all()}


async def by_id(session: AsyncSession, category_id: uuid.UUID) -> Category | None:
    """A category row-level security lets this transaction see (the active organization's, or one holding an
    item the viewer may see); the caller applies the listing rule (``service.sees_every_category``)."""
    return await session.scalar(select(Category).where(Category.id == category_id))
