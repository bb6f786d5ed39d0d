"""Category rules with the database: create, edit and delete an organization's categories, and set an
item's categories. Every input is checked before anything is written; services never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from codex_graphql.authz import Permission, Viewer
from codex_graphql.categories import repository, rules
from codex_graphql.categories.models import Category
from codex_graphql.content.models import Content
from codex_graphql.db import utcnow
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.savepoints import add_unique


@dataclass(frozen=True, slots=True)
class CategoryChanges:
    """What to set; None leaves a value as it is (on creation: the slug is derived from the name)."""

    name: str | None = None
    slug: str | None = None
    description: str | None = None
    position: int | None = None


def _slug_error() -> DomainError:
    return DomainError(ErrorCode.ALREADY_EXISTS, "Another category of this organization has this slug.", "slug")


def _active(viewer: Viewer) -> uuid.UUID:
    organization_id = viewer.active_organization_id
    assert organization_id is not None  # the mutations' guard (HasOrgPermission) needs one
    return organization_id


async def create(session: AsyncSession, viewer: Viewer, changes: CategoryChanges) -> Category:
    organization_id = _active(viewer)
    name = rules.check_name(changes.name or "")
    slug = rules.check_slug(changes.slug) if changes.slug is not None else rules.slug_from(name)
    description = rules.check_description(changes.description or "")
    position = rules.check_position(changes.position if changes.position is not None else 0)
    if await repository.count_in_organization(session, organization_id) >= rules.MAX_CATEGORIES:
        raise DomainError(ErrorCode.NOT_ALLOWED, f"An organization has at most {rules.MAX_CATEGORIES} categories.")
    if await repository.slug_taken(session, organization_id, slug):
        raise _slug_error()
    category = Category(organization_id=organization_id, name=name, slug=slug, description=description,
                        position=position)
    await add_unique(session, category, _slug_error())  # a concurrent twin that committed first
    return category


async def managed(session: AsyncSession, viewer: Viewer, category_id: uuid.UUID | None) -> Category:
    """Lock one of the active organization's categories; NOT_FOUND for any other id."""
    organization_id = _active(viewer)
    category = await repository.for_update(session, organization_id, category_id) if category_id else None
    if category is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No category has this id in your organization.", "categoryId")
    return category


async def edit(session: AsyncSession, category: Category, changes: CategoryChanges) -> Category:
    name = rules.check_name(changes.name) if changes.name is not None else None
    slug = rules.check_slug(changes.slug) if changes.slug is not None else None
    description = rules.check_description(changes.description) if changes.description is not None else None
    position = rules.check_position(changes.position) if changes.position is not None else None
    if slug is not None and slug != category.slug and await repository.slug_taken(
            session, category.organization_id, slug, other_than=category.id):
        raise _slug_error()
    category.name = name if name is not None else category.name
    category.slug = slug if slug is not None else category.slug
    category.description = description if description is not None else category.description
    category.position = position if position is not None else category.position
    category.updated_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:  # the unique slug, taken by a concurrent edit that committed first
        raise _slug_error() from error
    return category


async def delete(session: AsyncSession, category: Category) -> uuid.UUID:
    """Delete the category and its links; the items themselves stay as they are."""
    category_id = category.id
    await repository.remove(session, category)
    return category_id


async def set_for_content(session: AsyncSession, content: Content, category_ids: Sequence[uuid.UUID | None]) -> None:
    """Make the item's categories exactly ``category_ids`` (the caller holds the item, locked, and may manage it).
    An id that is malformed, unknown or another organization's is a NOT_FOUND on ``categoryIds``; then
    nothing changes."""
    wanted = list(dict.fromkeys(category_ids))
    if len(wanted) > rules.MAX_CATEGORIES_PER_ITEM:
        raise DomainError(ErrorCode.INVALID_INPUT, f"An item is in at most {rules.MAX_CATEGORIES_PER_ITEM} categories.",
                          "categoryIds")
    known = await repository.ids_in_organization(
        session, content.organization_id, [i for i in wanted if i is not None]) if wanted else set()
    if any(category_id is None or category_id not in known for category_id in wanted):
        raise DomainError(ErrorCode.NOT_FOUND, "No category of this organization has one of these ids.",
                          "categoryIds")
    await repository.replace_links(session, content.organization_id, content.id,
                                   [i for i in wanted if i is not None])


def sees_every_category(viewer: Viewer, organization_id: uuid.UUID) -> bool:
    """Staff see every category of their organization; everyone else those holding a listed item."""
    return viewer.can(Permission.CONTENT_READ, organization_id)
