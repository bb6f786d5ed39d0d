"""Arranging reviews and downloads in tests: a shop with one published item, entitled customers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from codex_graphql.db import Database, TenantScope
from codex_graphql.relay import decode_id, to_global_id
from tests.support import Actors, Factory, GraphQLClient, Person
from tests.support.commerce import insert_content

SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } settings { moderationLevel downloadLimit } } }"""


@dataclass
class Store:
    org: uuid.UUID
    owner: Person
    item: str  # global id of a published item with reviews and downloads enabled
    item_id: uuid.UUID


async def make_store(db: Database, factory: Factory, *, reviews: bool = True, downloads: bool = True) -> Store:
    owner = await factory.user(name="Olive Owner")
    org = await factory.organization(owner, slug=f"store-{uuid.uuid4().hex[:6]}")
    item = await insert_content(db, org, owner.user_id, "Reviewed film", 900)
    item_id = decode_id(item, "Content")
    assert item_id is not None
    await set_item(db, org, item_id, reviews_enabled=reviews, allow_downloads=downloads)
    return Store(org=org, owner=owner, item=item, item_id=item_id)


async def set_item(db: Database, org: uuid.UUID, item_id: uuid.UUID, **values: Any) -> None:
    from sqlalchemy import update

    from codex_graphql.content.models import Content

    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(update(Content).where(Content.id == item_id).values(**values))


async def entitle(db: Database, org: uuid.UUID, item_id: uuid.UUID, person: Person) -> uuid.UUID:
    """An active entitlement, as a purchase writes it (commerce is not under test here)."""
    from sqlalchemy import text

    entitlement_id = uuid.uuid4()
    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(text(
            "insert into content_entitlement (id, organization_id, user_id, content_id, source, source_id) "
            "values (:id, :o, :u, :c, 'PURCHASE', :id)"),
            {"id": entitlement_id, "o": org, "u": person.user_id, "c": item_id})
    return entitlement_id


async def set_settings(gql: GraphQLClient, owner: Person, **settings: Any) -> dict[str, Any]:
    data = await gql.ok(SETTINGS, {"input": settings}, owner.token)
    return data["updateOrganizationSettings"]["settings"]


@dataclass
class Without(Actors):
    """The matrix's callers minus some (a root mutation naming another tenant's object is NOT_FOUND for
    that tenant's staff, tested on its own)."""

    skip: tuple[str, ...] = ()

    def tokens(self) -> dict[str, str | None]:
        return {name: token for name, token in super().tokens().items() if name not in self.skip}


def without(actors: Actors, *names: str) -> Without:
    return Without(**vars(actors), skip=names)


def review_gid(raw: str) -> uuid.UUID:
    found = decode_id(raw, "Review")
    assert found is not None
    return found


__all__ = ["Store", "Without", "without", "entitle", "make_store", "review_gid", "set_item", "set_settings", "to_global_id"]
