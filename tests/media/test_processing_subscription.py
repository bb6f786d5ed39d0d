"""``contentProcessing(contentId)`` over a real WebSocket (graphql-transport-ws, uvicorn on loopback): staff follow
an item's processing job from PROBING to DONE as each step commits, the stream completes after DONE, a late
subscriber gets the final state at once, and nobody outside the organization's content managers gets anything."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.content.test_content_subscription import next_message, open_subscription
from tests.media.hls_support import run_job, uploaded
from tests.support import Actors, make_actors
from tests.support.live_server import live_server

FOLLOW = "subscription($id: ID!) { contentProcessing(contentId: $id) { contentId stage percent message occurredAt } }"


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)


async def subscribe(address: str, token: str | None, content_id: str) -> Any:
    ws = await open_subscription(address, token, "subscription { __typename }")
    await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": FOLLOW,
                                                                          "variables": {"id": content_id}}}))
    return ws


async def messages_of(ws: Any, operation: str = "2", timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every message of ``operation`` until it completes or fails."""
    seen = []
    while True:
        message = await next_message(ws, timeout)
        if message.get("id") != operation:
            continue
        seen.append(message)
        if message["type"] in ("complete", "error"):
            return seen


@pytest.mark.timeout(90)
async def test_staff_follow_processing_to_done_and_the_stream_completes(app: Any, gql: Any, http: Any,
                                                                        actors: Actors, hls_media: Any) -> None:
    content_id = await uploaded(gql, http, actors.staff_with.token, hls_media["small"])
    await app.state.runtime["services"].relay.publish_pending()
    async with live_server(app) as address:
        ws = await subscribe(address, actors.staff_with.token, content_id)
        await asyncio.sleep(0.5)  # listening before the job starts
        assert await run_job(app, actors.org, content_id) == "READY"
        seen = await messages_of(ws)
        await ws.close()
        assert seen[-1]["type"] == "complete", seen
        events = [m["payload"]["data"]["contentProcessing"] for m in seen[:-1]]
        assert all(e["contentId"] == content_id for e in events)
        stages = [e["stage"] for e in events]
        assert stages[0] == "PROBING" and stages[-1] == "DONE", stages
        assert "PACKAGING" in stages
        percents = [e["percent"] for e in events]
        assert percents == sorted(percents) and percents[-1] == 100, percents

        late = await subscribe(address, actors.staff_with.token, content_id)
        [current, done] = await messages_of(late)
        assert current["payload"]["data"]["contentProcessing"]["stage"] == "DONE" and done["type"] == "complete"
        await late.close()


@pytest.mark.timeout(60)
async def test_only_content_managers_of_the_organization_follow_processing(app: Any, gql: Any, http: Any,
                                                                           actors: Actors, hls_media: Any) -> None:
    content_id = await uploaded(gql, http, actors.staff_with.token, hls_media["small"])
    async with live_server(app) as address:
        expected = {None: "UNAUTHENTICATED", actors.customer.token: "FORBIDDEN",
                    actors.staff_without.token: "FORBIDDEN",  # MEMBER: no CONTENT_MANAGE
                    actors.other_staff.token: "BAD_USER_INPUT"}  # not an item of their organization
        for token, code in expected.items():
            ws = await subscribe(address, token, content_id)
            assert refusal(await messages_of(ws)) == code
            await ws.close()
        ws = await subscribe(address, actors.staff_with.token, "not-an-id")
        assert refusal(await messages_of(ws)) == "BAD_USER_INPUT"
        await ws.close()


def refusal(seen: list[dict[str, Any]]) -> str:
    """The code of a refused subscription: an ``error`` message (refused by the guard before the stream starts),
    or one ``next`` carrying only the error and then ``complete`` (refused by the stream's first step)."""
    if seen[0]["type"] == "error":
        assert len(seen) == 1, seen
        return seen[0]["payload"][0]["extensions"]["code"]
    assert [m["type"] for m in seen] == ["next", "complete"] and seen[0]["payload"]["data"] is None, seen
    return seen[0]["payload"]["errors"][0]["extensions"]["code"]
