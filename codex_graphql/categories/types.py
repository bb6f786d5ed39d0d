"""GraphQL shape of a category, and ``node(id:)`` for it."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.categories import loaders, repository, service
from codex_graphql.categories.models import Category as CategoryModel
from codex_graphql.context import Context
from codex_graphql.relay import Node, register_node
from codex_graphql.row_types import from_row


@strawberry.type(description="A named group of an organization's content items (e.g. \"Yoga\"), for browsing the "
                 "catalogue (`Organization.contents(filter: {category})`) and, later, what subscription tiers grant.")
class Category(Node):
    name: str = strawberry.field(description="Display name, 1 to 80 characters.")
    slug: str = strawberry.field(description="URL-safe handle, unique in the organization, e.g. `yoga-basics`.")
    description: str = strawberry.field(description="Description (plain text); may be empty.")
    position: int = strawberry.field(description="Sort key: lists show categories by position, then name.")
    created_at: datetime = strawberry.field(description="When the category was created.")
    updated_at: datetime = strawberry.field(description="When the category last changed.")
    row: strawberry.Private[CategoryModel]

    @classmethod
    def from_model(cls, category: CategoryModel) -> Category:
        return from_row(cls, category, "Category", row=category)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.row.organization_id

    @strawberry.field(description="How many items of this category the organization's content list shows the "
                      "viewer: published, listed, live items for everyone; every live item for its staff.")
    async def content_count(self, info: strawberry.Info) -> int:
        ctx: Context = info.context
        staff = service.sees_every_category(ctx.viewer, self.row.organization_id)
        return await loaders.listed_counts(ctx).load((self.row.id, self.row.organization_id, staff))


@register_node("Category")
async def visible_category(ctx: Context, category_id: uuid.UUID) -> Category | None:
    """What ``Organization.categories`` lists for the viewer: every category for its organization's staff, for
    everyone else the categories holding at least one item of the public list."""
    category = await repository.by_id(ctx.db, category_id)
    if category is None:
        return None
    if service.sees_every_category(ctx.viewer, category.organization_id):
        return Category.from_model(category)
    listed = await loaders.listed_counts(ctx).load((category.id, category.organization_id, False))
    return Category.from_model(category) if listed else None
