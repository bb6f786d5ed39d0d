"""A real uvicorn server on loopback for an already started app (WebSocket and browser-style tests)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def live_server(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.025)
    assert server.started, "uvicorn did not start"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def subscribe(address: str, token: str | None, query: str, variables: dict[str, Any], *,
                    acting_in: str | None = None) -> Any:
    """A ``graphql-transport-ws`` connection to the live server, acknowledged, with one subscription started
    (``id`` "s"): signed in with ``token`` when given, acting in the organization ``acting_in`` when given."""
    ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"], open_timeout=5)
    init: dict[str, Any] = {"authorization": f"Bearer {token}"} if token else {}
    if acting_in:
        init["organization"] = acting_in
    await ws.send(json.dumps({"type": "connection_init", "payload": init}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
    return ws


async def next_message(ws: Any, timeout: float) -> dict[str, Any]:
    """The next message that is not a ping or a pong."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] not in ("ping", "pong"):
            return message
