"""createCategory, updateCategory and deleteCategory (staff with CONTENT_MANAGE_ALL: a category spans every
creator's items). An item's categories are set by ``updateContent(input: {categoryIds})``."""

from __future__ import annotations

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.categories import rules, service
from codex_graphql.categories.types import Category
from codex_graphql.context import Context
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import HasOrgPermission
from codex_graphql.relay import decode_id, to_global_id

NAME = f"Display name, 1 to {rules.MAX_NAME} characters (inner runs of white space become one space)."
SLUG = (f"URL-safe handle, unique in the organization: 1 to {rules.MAX_SLUG} lower-case letters, digits and single "
        "hyphens. ALREADY_EXISTS when another category has it.")
DESCRIPTION = f"Plain text, at most {rules.MAX_DESCRIPTION} characters."
POSITION = f"Sort key, 0 to {rules.MAX_POSITION}: lists show categories by position, then name."


@strawberry.input(description="A new category of the active organization.")
class CreateCategoryInput:
    name: str = strawberry.field(description=NAME)
    slug: str | None = strawberry.field(default=None, description=SLUG + " Omitted: derived from the name.")
    description: str = strawberry.field(default="", description=DESCRIPTION)
    position: int = strawberry.field(default=0, description=POSITION + " Default 0.")


@strawberry.input(description="Changes to a category; omitted fields stay as they are.")
class UpdateCategoryInput:
    category_id: strawberry.ID = strawberry.field(description="The category, in the active organization.")
    name: str | None = strawberry.field(default=None, description=NAME)
    slug: str | None = strawberry.field(default=None, description=SLUG)
    description: str | None = strawberry.field(default=None, description=DESCRIPTION)
    position: int | None = strawberry.field(default=None, description=POSITION)


@strawberry.input(description="The category to delete.")
class DeleteCategoryInput:
    category_id: strawberry.ID = strawberry.field(description="The category, in the active organization.")


RULE = " NOT_FOUND for a category id that is not the active organization's."


@strawberry.type
class CategoryMutations:
    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE_ALL),
        description=f"Create a category in the active organization (at most {rules.MAX_CATEGORIES}). INVALID_INPUT "
        "for an empty or oversized name, slug or description; ALREADY_EXISTS for a slug in use.",
        input_description="The name, and optionally the slug, description and position.",
        payload={"category": (Category, "The new category.")},
    )
    async def create_category(ctx: Context, input: CreateCategoryInput) -> dict:
        changes = service.CategoryChanges(name=input.name, slug=input.slug, description=input.description,
                                          position=input.position)
        return {"category": Category.from_model(await service.create(ctx.db, ctx.viewer, changes))}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE_ALL),
        description="Rename, re-slug, describe or move a category. INVALID_INPUT and ALREADY_EXISTS as for "
        "createCategory." + RULE,
        input_description="The category and the fields to change; omitted fields keep their value.",
        payload={"category": (Category, "The category after the change.")},
    )
    async def update_category(ctx: Context, input: UpdateCategoryInput) -> dict:
        category = await service.managed(ctx.db, ctx.viewer, decode_id(input.category_id, "Category"))
        changes = service.CategoryChanges(name=input.name, slug=input.slug, description=input.description,
                                          position=input.position)
        return {"category": Category.from_model(await service.edit(ctx.db, category, changes))}

    @mutation_field(
        HasOrgPermission(Permission.CONTENT_MANAGE_ALL),
        description="Delete a category: its items leave it, the items themselves stay as they are." + RULE,
        input_description="The category to delete.",
        payload={"deleted_category_id": (strawberry.ID, "Global id of the deleted category.")},
    )
    async def delete_category(ctx: Context, input: DeleteCategoryInput) -> dict:
        category = await service.managed(ctx.db, ctx.viewer, decode_id(input.category_id, "Category"))
        return {"deleted_category_id": to_global_id("Category", await service.delete(ctx.db, category))}


__all__ = ["CategoryMutations"]
