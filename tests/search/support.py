"""Shared set-up of the search tests: items inserted directly in a shop's tenant scope (the search vectors follow
through the triggers) and the search query (the ``shop`` fixture is in conftest.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from codex_graphql.articles.models import ArticleBody
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.relay import to_global_id

BASE = datetime(2026, 1, 1, 12, 0, 0).astimezone()

SEARCH = """query($slug: String!, $query: String!, $first: Int, $after: String, $filter: SearchFilter) {
  organization(slug: $slug) { search(query: $query, first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { rank headline content { id title status } } } } } }"""

LIST = """query($slug: String!) { organization(slug: $slug) { contents(first: 100) { nodes { id } } } }"""


def gid(content_id: uuid.UUID) -> str:
    return to_global_id("Content", content_id)


async def insert(db: Any, org: uuid.UUID, creator_id: uuid.UUID, specs: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert items in the organization's scope: each spec may set any ``Content`` column, and ``body`` (the
    text of an article, which makes the item an ARTICLE)."""
    ids = []
    async with db.transaction(TenantScope(organization_id=org)) as session:
        for index, spec in enumerate(specs):
            spec = dict(spec)
            content_id = uuid.uuid4()
            body = spec.pop("body", None)
            status = spec.pop("status", ContentStatus.PUBLISHED)
            kind = ContentKind.ARTICLE if body is not None else spec.pop("kind", ContentKind.VIDEO)
            session.add(Content(
                id=content_id, organization_id=org, creator_id=creator_id, kind=kind, status=status,
                title=spec.pop("title", "Untitled"), created_at=BASE - timedelta(seconds=index),
                storage_key="" if body is not None else f"orgs/{org}/content/{content_id}/original.mp4",
                mime_type="video/mp4", original_filename="file.mp4", size_bytes=1000,
                published_at=BASE if status is ContentStatus.PUBLISHED else None, **spec,
            ))
            if body is not None:
                await session.flush()
                session.add(ArticleBody(content_id=content_id, organization_id=org, document={"type": "doc"},
                                        html=f"<p>{body}</p>", excerpt_html="", plain_text=body,
                                        word_count=len(body.split()), reading_minutes=1))
            ids.append(content_id)
    return ids


async def update(db: Any, org: uuid.UUID, content_id: uuid.UUID, **values: Any) -> None:
    from sqlalchemy import update as sql_update

    async with db.transaction(TenantScope(organization_id=org)) as session:
        await session.execute(sql_update(Content).where(Content.id == content_id).values(**values))


async def search(gql: Any, token: str | None, query: str, *, slug: str = "shop", first: int | None = 100,
                 after: str | None = None, **filter: Any) -> dict[str, Any]:
    data = await gql.ok(SEARCH, {"slug": slug, "query": query, "first": first, "after": after,
                                 "filter": filter or None}, token)
    return data["organization"]["search"]


def titles(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["content"]["title"] for edge in connection["edges"]]


def found_ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["content"]["id"] for edge in connection["edges"]]


__all__ = ["BASE", "LIST", "SEARCH", "found_ids", "gid", "insert", "search", "titles", "update", "utcnow"]
