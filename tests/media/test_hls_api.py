"""``Content.processing`` (staff with CONTENT_MANAGE) and ``Content.renditions`` (whoever sees the item): the
authorization matrix on a published item, and what each caller reads. Rows are inserted directly: the ladder
itself is tested in test_hls_ladder.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update

from codex_graphql.authz import OrgRole
from codex_graphql.content.models import Content, ContentStatus
from codex_graphql.db import TenantScope
from codex_graphql.media import repository
from codex_graphql.media.models import ProcessingStage
from tests.content.scheduling_support import gid, item, rows
from tests.support import Actors, assert_authz_matrix, make_actors

QUERY = """query($id: ID!) { content(id: $id) { id status renditions { height width bandwidth }
  processing { stage percent message updatedAt } } }"""
RENDITIONS = [{"name": "360p", "width": 640, "height": 360, "bandwidth": 900_000},
              {"name": "240p", "width": 426, "height": 240, "bandwidth": 400_000}]
PROCESSING_ROWS = "select content_id, stage, percent, message, hls_prefix, done from content_processing order by 1"


@pytest.fixture(params=[OrgRole.OWNER, OrgRole.CREATOR])
async def actors(request: Any, factory: Any) -> Actors:
    # MEMBER is the staff role without CONTENT_MANAGE.
    return await make_actors(factory, with_role=request.param, without_role=OrgRole.MEMBER)


async def _published_with_ladder(db: Any, actors: Actors) -> uuid.UUID:
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    async with db.transaction(TenantScope(organization_id=actors.org)) as session:
        prefix = f"hls/{actors.org}/{content_id}/v1/"
        await repository.start(session, actors.org, content_id, prefix)
        await repository.set_progress(session, actors.org, content_id, ProcessingStage.DONE, 100)
        await session.execute(update(Content).where(Content.id == content_id).values(
            hls_prefix=prefix, hls_renditions=RENDITIONS))
    return content_id


async def test_processing_matrix(gql: Any, db: Any, admin_db: Any, actors: Actors) -> None:
    content_id = await _published_with_ladder(db, actors)

    async def snapshot() -> Any:
        return await rows(admin_db, PROCESSING_ROWS)

    results = await assert_authz_matrix(gql, actors, QUERY, {"id": gid(content_id)}, path=["content", "processing"],
                                        allowed={"staff_with_permission"}, snapshot=snapshot)
    allowed = results["staff_with_permission"]["data"]["content"]["processing"]
    assert allowed["stage"] == "DONE" and allowed["percent"] == 100 and allowed["message"] is None
    # The refused callers still see the published item and its public renditions, never the progress.
    for name in ("anonymous", "customer", "other_org_staff", "staff_without_permission"):
        content = results[name]["data"]["content"]
        assert content["status"] == "PUBLISHED" and content["processing"] is None, name
        assert [r["height"] for r in content["renditions"]] == [240, 360], name


async def test_processing_is_null_without_a_ladder_and_renditions_empty(gql: Any, db: Any, actors: Actors) -> None:
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.READY)
    body = await gql.ok(QUERY, {"id": gid(content_id)}, actors.staff_with.token)
    assert body["content"]["processing"] is None and body["content"]["renditions"] == []


async def test_failed_processing_shows_its_message(gql: Any, db: Any, actors: Actors) -> None:
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.FAILED)
    async with db.transaction(TenantScope(organization_id=actors.org)) as session:
        await repository.start(session, actors.org, content_id, f"hls/{actors.org}/{content_id}/v1/")
        await repository.set_progress(session, actors.org, content_id, ProcessingStage.FAILED, 40, "Bad frames.")
    body = await gql.ok(QUERY, {"id": gid(content_id)}, actors.staff_with.token)
    assert body["content"]["processing"]["stage"] == "FAILED"
    assert body["content"]["processing"]["message"] == "Bad frames." and body["content"]["processing"]["percent"] == 40
