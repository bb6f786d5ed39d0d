"""The categories domain's fields on other domains' types: ``Organization.categories`` and
``Content.categories``, declared here and attached by schema assembly (codex_graphql/contributions.py)."""

from __future__ import annotations

import uuid

import strawberry

from codex_graphql.categories import loaders, repository, rules, service
from codex_graphql.categories.types import Category
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.context import Context


@strawberry.type(description="Categories' fields of `Organization` (never served as a type of its own).")
class OrganizationCategories:
    organization_id: strawberry.Private[uuid.UUID]  # ``self`` is the Organization object being resolved

    @strawberry.field(description=f"The organization's categories (at most {rules.MAX_CATEGORIES}), by position "
                      "then name. Public: everyone sees the categories holding at least one published, listed "
                      "item; staff with CONTENT_READ in this (active) organization see all of them.")
    async def categories(self, info: strawberry.Info) -> list[Category]:
        ctx: Context = info.context
        staff = service.sees_every_category(ctx.viewer, self.organization_id)
        rows = await repository.of_organization(ctx.db, self.organization_id, staff=staff)
        return [Category.from_model(row) for row in rows]


@strawberry.type(description="Categories' fields of `Content` (never served as a type of its own).")
class ContentCategories:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @strawberry.field(description="The categories this item is in, by position then name (set with "
                      "`updateContent(input: {categoryIds})`).")
    async def categories(self, info: strawberry.Info) -> list[Category]:
        rows = await loaders.content_categories(info.context).load(self.row.id)
        return [Category.from_model(row) for row in rows]
