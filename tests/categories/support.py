"""Arranging categories in tests: documents, a shop with items in several states, state snapshots."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from codex_graphql.authz import OrgRole
from codex_graphql.db import Database, TenantScope
from codex_graphql.relay import decode_id
from tests.support import Actors, Factory, GraphQLClient, make_actors
from tests.support.commerce import insert_content

CATEGORY_FIELDS = "id name slug description position contentCount"
CREATE = f"""mutation($input: CreateCategoryInput!) {{ createCategory(input: $input) {{
  errors {{ code field message }} category {{ {CATEGORY_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateCategoryInput!) {{ updateCategory(input: $input) {{
  errors {{ code field message }} category {{ {CATEGORY_FIELDS} }} }} }}"""
DELETE = """mutation($input: DeleteCategoryInput!) { deleteCategory(input: $input) {
  errors { code field message } deletedCategoryId } }"""
SET = """mutation($input: UpdateContentInput!) { updateContent(input: $input) {
  errors { code field message } content { id title categories { id name slug } } } }"""
LIST = f"""query($slug: String!) {{ organization(slug: $slug) {{ categories {{ {CATEGORY_FIELDS} }} }} }}"""
ITEM = """query($id: ID!) { content(id: $id) { id categories { id name slug position } } }"""


@dataclass
class Shelf:
    """A shop (the matrix's organization) with a published item, a draft and an unlisted published item."""

    actors: Actors
    published: str
    draft: str
    unlisted: str

    @property
    def owner_token(self) -> str:
        return self.actors.staff_with.token


async def make_shelf(db: Database, factory: Factory) -> Shelf:
    # CREATOR holds CONTENT_MANAGE (their own items) but not CONTENT_MANAGE_ALL: the categories are refused.
    actors = await make_actors(factory, without_role=OrgRole.CREATOR)
    owner = actors.staff_with.user_id
    published = await insert_content(db, actors.org, owner, "Published film", 500)
    draft = await insert_content(db, actors.org, owner, "Draft film", 500)
    unlisted = await insert_content(db, actors.org, owner, "Unlisted film", 500)
    await set_item(db, actors.org, draft, status="READY")
    await set_item(db, actors.org, unlisted, listed=False)
    return Shelf(actors=actors, published=published, draft=draft, unlisted=unlisted)


async def set_item(db: Database, org: uuid.UUID, item: str, **values: Any) -> None:
    sets = ", ".join(f"{name} = :{name}" for name in values)
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(text(f"update content set {sets} where id = :id"),  # noqa: S608 (test's own names)
                              {"id": decode_id(item, "Content"), **values})


async def create(gql: GraphQLClient, token: str | None, **fields: Any) -> dict[str, Any]:
    return (await gql(CREATE, {"input": fields}, token))["data"]["createCategory"]


async def created(gql: GraphQLClient, token: str, name: str, **fields: Any) -> dict[str, Any]:
    result = await create(gql, token, name=name, **fields)
    assert result["errors"] == [], result
    return result["category"]


async def assign(gql: GraphQLClient, token: str, item: str, categories: list[str]) -> dict[str, Any]:
    return (await gql(SET, {"input": {"contentId": item, "categoryIds": categories}}, token))["data"]["updateContent"]


async def state(admin_db: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every category and link in the database (as the owner: no row-level security)."""
    categories = await admin_db.fetch("select id, organization_id, name, slug, description, position, updated_at "
                                      "from category order by id")
    links = await admin_db.fetch("select content_id, category_id, organization_id from content_category "
                                 "order by content_id, category_id")
    return [tuple(r) for r in categories], [tuple(r) for r in links]


def names(categories: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in categories]
