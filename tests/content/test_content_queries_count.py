"""Statement counts: the catalogue with nested fields costs the same number of SQL statements for
5 items as for 50, through the resolvers (dataloaders batch creators, entitlements and playback
positions) and through the compiled path (one statement for the root, one batch of parents for the
fields it grafts onto the resolvers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.content.models import (
    Content,
    ContentEntitlement,
    ContentKind,
    ContentStatus,
    EntitlementSource,
    PlaybackPosition,
)
from codex_graphql.db import TenantScope
from codex_graphql.relay import to_global_id
from tests.support import GraphQLClient, statements

ITEMS = 110
BASE = datetime(2026, 1, 1, 12, 0, 0).astimezone()

CATALOGUE = """query($slug: String!, $first: Int!) { organization(slug: $slug) { contents(first: $first) {
  totalCount edges { cursor node { id title priceCents tags thumbnailUrl creator { name }
  viewerHasAccess playbackPosition } } } } }"""


@pytest.fixture
async def catalogue(factory, db) -> dict[str, Any]:
    """ITEMS published items by four creators (some with thumbnails), plus drafts; a customer with
    entitlements to every third item and saved positions on every fifth."""
    owner = await factory.user(name="Owner")
    org = await factory.organization(owner, slug="counted")
    creators = [owner]
    for n in range(3):
        creator = await factory.user(name=f"Creator {n}")
        await factory.member(org, creator, OrgRole.CREATOR)
        creators.append(creator)
    customer = await factory.user(name="Customer")
    content_ids = [uuid.uuid4() for _ in range(ITEMS)]
    async with db.transaction(TenantScope(user_id=customer.user_id, organization_id=org)) as session:
        for n, content_id in enumerate(content_ids):
            thumbnails = [{"key": f"orgs/{org}/content/{content_id}/thumb-{w}.jpg", "width": w, "height": w * 9 // 16}
                          for w in (640, 320)] if n % 2 == 0 else []
            session.add(Content(
                id=content_id, organization_id=org, creator_id=creators[n % 4].user_id, kind=ContentKind.VIDEO,
                status=ContentStatus.PUBLISHED, title=f"Item {n}", price_cents=100 * n, tags=[f"tag-{n % 3}", "all"],
                thumbnails=thumbnails, storage_key=f"orgs/{org}/content/{content_id}/original.mp4",
                mime_type="video/mp4", original_filename="clip.mp4", size_bytes=1000, duration_seconds=600.0,
                created_at=BASE - timedelta(minutes=n), published_at=BASE,
            ))
        for n in range(5):
            session.add(Content(
                organization_id=org, creator_id=owner.user_id, kind=ContentKind.AUDIO, status=ContentStatus.READY,
                title=f"Draft {n}", storage_key=f"orgs/{org}/draft-{n}.mp3", mime_type="audio/mpeg",
                original_filename="tone.mp3", size_bytes=1000, created_at=BASE + timedelta(minutes=n + 1),
            ))
        await session.flush()
        for n, content_id in enumerate(content_ids):
            if n % 3 == 0:
                session.add(ContentEntitlement(organization_id=org, user_id=customer.user_id, content_id=content_id,
                                               source=EntitlementSource.PURCHASE))
            if n % 5 == 0:
                session.add(PlaybackPosition(user_id=customer.user_id, content_id=content_id, organization_id=org,
                                             position_seconds=float(n)))
    return {"owner": owner, "customer": customer, "org": org, "ids": content_ids}


@pytest.fixture
async def resolvers_app(settings) -> AsyncIterator[Any]:
    """The same server with compiled execution turned off: the statements the resolvers send."""
    app = create_app(settings.model_copy(update={"fast_path_enabled": False}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def resolvers_gql(resolvers_app) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=resolvers_app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


@pytest.fixture
def executors(app, gql, resolvers_app, resolvers_gql) -> dict[str, tuple[Any, GraphQLClient]]:
    """Each executor's app and client: the resolvers only, and the default compiled (and grafting) path."""
    return {"resolvers": (resolvers_app, resolvers_gql), "compiled": (app, gql)}


async def count_request(app: Any, gql: Any, token: str | None, first: int) -> tuple[list[str], dict[str, Any]]:
    async with statements(app) as seen:
        data = await gql.ok(CATALOGUE, {"slug": "counted", "first": first}, token)
    return seen, data["organization"]["contents"]


# One request through the resolvers costs, whatever the page size (the viewer comes from the
# process's in-memory session copy, warmed by an earlier request, so authenticating costs nothing):
#   1. set_config(role, codex.user_id, codex.organization_id)  -- the request's tenant transaction begins
#   2. select organization where slug = ...                     -- Query.organization
#   3. select content ... order by created_at desc, id desc limit N+1   -- the page
#   4. select count(*) from content ...                         -- totalCount
#   5. select user_account where id = any($ids)                -- creator { name }: one UserLoader batch
#   6. select content_entitlement.content_id where user_id = viewer and content_id = any($ids)
#                                                               -- viewerHasAccess / playbackPosition: one batch
#   7. select playback_position where user_id = viewer and content_id = any($ids)  -- one PositionLoader batch
# thumbnailUrl is signed locally (no SQL).
STATEMENTS_PER_REQUEST = 7
# The compiled path answers the organization, the page, totalCount and the compiled fields in one
# statement, and grafts the fields it does not compile (playbackPosition) onto parents loaded by id in
# one batch: its count must not depend on the page size either, whatever it is.
COMPILED_ROOT = "JOIN LATERAL"
GRAFT_PARENTS = "content.id IN"


async def warm(gql: GraphQLClient, token: str | None) -> None:
    """One request first, as any client's: it warms the session cache and gives the compiled path's pooled
    connection its tenant scope (a statement the following requests under the same scope do not repeat)."""
    await gql.ok(CATALOGUE, {"slug": "counted", "first": 1}, token)


def describe(seen: list[str]) -> str:
    return "\n".join(f"{n}. {statement[:160]}" for n, statement in enumerate(seen, start=1))


def assert_compiled_flat(counted: dict[int, list[str]]) -> None:
    """The compiled path's statements for every page size: as many, one root statement (so the compiled path
    answered), at most one batch of parents."""
    sizes = {first: len(seen) for first, seen in counted.items()}
    assert len(set(sizes.values())) == 1, "\n\n".join(f"first={f}:\n{describe(s)}" for f, s in counted.items())
    for first, seen in counted.items():
        assert sum(COMPILED_ROOT in s for s in seen) == 1, f"first={first}:\n{describe(seen)}"
        assert sum(GRAFT_PARENTS in s for s in seen) <= 1, f"first={first}:\n{describe(seen)}"


async def test_customer_catalogue_statement_count_is_flat(executors, catalogue):
    customer, ids = catalogue["customer"], catalogue["ids"]
    for executor, (app, gql) in executors.items():
        await warm(gql, customer.token)
        counted: dict[int, list[str]] = {}
        for first in (5, 50, 100):
            seen, page = await count_request(app, gql, customer.token, first)
            counted[first] = seen
            if executor == "resolvers":
                assert len(seen) == STATEMENTS_PER_REQUEST, f"first={first}:\n{describe(seen)}"
            # The data behind those statements is right, item by item.
            assert page["totalCount"] == ITEMS
            nodes = [edge["node"] for edge in page["edges"]]
            assert [node["id"] for node in nodes] == [to_global_id("Content", i) for i in ids[:first]]
            for n, node in enumerate(nodes):
                assert node["creator"]["name"] == ("Owner" if n % 4 == 0 else f"Creator {n % 4 - 1}"), n
                assert node["viewerHasAccess"] is (n % 3 == 0), n
                assert node["playbackPosition"] == (float(n) if n % 15 == 0 else None), n  # entitled and saved
                assert (node["thumbnailUrl"] is not None) is (n % 2 == 0), n
                assert node["priceCents"] == 100 * n and node["tags"] == [f"tag-{n % 3}", "all"]
        if executor == "resolvers":
            assert {first: len(seen) for first, seen in counted.items()} == {
                5: STATEMENTS_PER_REQUEST, 50: STATEMENTS_PER_REQUEST, 100: STATEMENTS_PER_REQUEST}
        else:
            assert_compiled_flat(counted)


async def test_staff_catalogue_statement_count_is_flat(executors, catalogue):
    owner = catalogue["owner"]
    for executor, (app, gql) in executors.items():
        await warm(gql, owner.token)
        counted: dict[int, list[str]] = {}
        for first in (5, 50, 100):
            seen, page = await count_request(app, gql, owner.token, first)
            counted[first] = seen
            # The same seven statements: staff have access to everything, so positions are looked up for the
            # whole page (statement 7), and the entitlement batch still runs (statement 6).
            if executor == "resolvers":
                assert len(seen) == STATEMENTS_PER_REQUEST, f"first={first}:\n{describe(seen)}"
            assert page["totalCount"] == ITEMS + 5  # drafts too
            nodes = [edge["node"] for edge in page["edges"]]
            assert [node["title"] for node in nodes[:5]] == [f"Draft {n}" for n in range(4, -1, -1)][:first]
            assert all(node["viewerHasAccess"] for node in nodes)
            assert all(node["playbackPosition"] is None for node in nodes)
        if executor == "compiled":
            assert_compiled_flat(counted)


async def test_anonymous_catalogue_statement_count_is_flat(executors, catalogue):
    for executor, (app, gql) in executors.items():
        await warm(gql, None)
        counted: dict[int, list[str]] = {}
        for first in (5, 100):
            seen, page = await count_request(app, gql, None, first)
            counted[first] = seen
            # No session check and no per-viewer lookups: set_config, organization, page, count, creators.
            if executor == "resolvers":
                assert len(seen) == 5, f"first={first}:\n{describe(seen)}"
            assert len(page["edges"]) == first
            assert all(edge["node"]["viewerHasAccess"] is False for edge in page["edges"])
        if executor == "compiled":
            assert_compiled_flat(counted)
