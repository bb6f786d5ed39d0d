"""Statement counts: staff listing the preview links of a page of items (and who made them) cost as many SQL
statements for 5 items as for 25, on the resolvers and on the compiled path (which grafts `previewLinks`): one
batch of links per page (PreviewLinksLoader), one of users."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.content.models import Content, ContentKind, ContentStatus
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.previews.models import ContentPreviewLink
from tests.support import GraphQLClient, statements

ITEMS = 25
PAGE = """query($slug: String!, $first: Int!) { organization(slug: $slug) { contents(first: $first) {
  nodes { id previewLinks(includeInactive: true) { id status createdBy { name } } } } } }"""


@pytest.fixture
async def resolvers_gql(settings) -> AsyncIterator[tuple[Any, GraphQLClient]]:
    app = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, GraphQLClient(http)


async def test_listing_links_of_a_page_is_flat(app, gql, resolvers_gql, factory, db):
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="previewed")
    now = utcnow()
    async with db.transaction(TenantScope(user_id=owner.user_id, organization_id=org)) as session:
        for n in range(ITEMS):
            content_id = uuid.uuid4()
            session.add(Content(id=content_id, organization_id=org, creator_id=owner.user_id, kind=ContentKind.VIDEO,
                                status=ContentStatus.READY, title=f"Item {n}", storage_key=f"orgs/{org}/{n}.mp4",
                                mime_type="video/mp4", original_filename="a.mp4", size_bytes=10,
                                created_at=now - timedelta(minutes=n)))
            await session.flush()
            for k in range(n % 3):
                session.add(ContentPreviewLink(organization_id=org, content_id=content_id, token_hash=uuid.uuid4().hex * 2,
                                               expires_at=now + timedelta(hours=1 - k), created_by_user_id=owner.user_id,
                                               created_at=now - timedelta(seconds=k)))
    for app_, gql_ in ((app, gql), resolvers_gql):
        await gql_.ok(PAGE, {"slug": "previewed", "first": 1}, owner.token)  # warm the session cache
        counts = {}
        for first in (5, ITEMS):
            async with statements(app_) as seen:
                nodes = (await gql_.ok(PAGE, {"slug": "previewed", "first": first}, owner.token)
                         )["organization"]["contents"]["nodes"]
            counts[first] = len(seen)
            assert [len(node["previewLinks"]) for node in nodes] == [n % 3 for n in range(first)]
            assert all(link["createdBy"]["name"] == "Owner" for node in nodes for link in node["previewLinks"])
            assert sum("content_preview_link" in s for s in seen) == 1, seen
        assert counts[5] == counts[ITEMS], counts
