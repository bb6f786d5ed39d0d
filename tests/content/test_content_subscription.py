"""contentStatusChanged over a real WebSocket (graphql-transport-ws) against uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from codex_graphql.authz import PlatformRole
from tests.support.content import PUBLISH, ready_content
from tests.support.live_server import live_server

SUBSCRIBE = "subscription { contentStatusChanged { contentId status content { title status } } }"


async def open_subscription(address: str, token: str | None, query: str = SUBSCRIBE):
    ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return ws


async def next_message(ws, timeout: float = 10.0) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] != "ping" and message["type"] != "pong":
            return message


@pytest.fixture
async def studio(factory):
    owner = await factory.user(role=PlatformRole.CUSTOMER)
    org = await factory.organization(owner, slug="live-studio")
    other = await factory.user()
    await factory.organization(other, slug="other-studio")
    return owner, org, other


async def test_staff_receive_status_changes_and_other_orgs_do_not(app, gql, http, studio, media_dir):
    owner, org, other = studio
    content_id = await ready_content(app, gql, http, owner.token, org, media_dir / "tone.mp3", publish=False)
    await app.state.runtime["services"].relay.publish_pending()  # earlier events are out before we subscribe
    async with live_server(app) as address:
        staff_ws = await open_subscription(address, owner.token)
        other_ws = await open_subscription(address, other.token)
        await asyncio.sleep(0.3)  # both subscriptions are listening before the change commits
        published = (await gql(PUBLISH, {"id": content_id}, owner.token))["data"]["publishContent"]
        assert published["errors"] == []
        message = await next_message(staff_ws)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["contentStatusChanged"]
        assert event == {"contentId": content_id, "status": "PUBLISHED",
                         "content": {"title": "A title", "status": "PUBLISHED"}}
        with pytest.raises(TimeoutError):
            await next_message(other_ws, timeout=1.0)
        await staff_ws.close()
        await other_ws.close()


async def test_subscription_requires_permission(app, factory):
    customer = await factory.user()
    async with live_server(app) as address:
        anonymous = await open_subscription(address, None)
        message = await next_message(anonymous)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        await anonymous.close()
        ws = await open_subscription(address, customer.token)
        message = await next_message(ws)
        assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        await ws.close()


async def test_invalid_token_is_rejected_at_connection_init(app):
    async with live_server(app) as address:
        ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 4403
