"""client-examples/integrator/listener.py against a live server that restarts between two purchases."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import httpx
import pytest

from codex_graphql.relay import to_global_id
from tests.support import Factory, GraphQLClient
from tests.support.client_examples import EXAMPLES, serve
from tests.support.commerce import insert_content
from tests.support.live_server import free_port

START = """mutation($c: ID!, $s: String!, $k: String!) { startCheckout(input: {contentId: $c, successUrl: $s,
  cancelUrl: $s, idempotencyKey: $k}) { errors { code message } checkoutUrl } }"""


async def buy(base: str, db, token: str, content: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        started = await GraphQLClient(http).ok(START, {"c": content, "s": f"{base}/thanks", "k": uuid.uuid4().hex},
                                               token)
        paid = await http.post(started["startCheckout"]["checkoutUrl"], follow_redirects=False)
        assert paid.status_code == 303, paid.text


async def next_line(stream: asyncio.StreamReader, key: str, timeout: float = 20) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            raw = await stream.readline()
            assert raw, "listener exited"
            line = json.loads(raw)
            if key in line:
                return line


@pytest.mark.timeout(110)
async def test_listener_prints_events_and_resumes_after_a_server_restart(settings, db):
    port = free_port()
    listener = None
    try:
        with serve(settings, port) as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                factory = Factory(db, GraphQLClient(http))
                owner = await factory.user()
                org = await factory.organization(owner, slug="integrations")
                first = await insert_content(db, org, owner.user_id, "First film", 700)
                second = await insert_content(db, org, owner.user_id, "Second film", 800)
                customer = await factory.user(email="integrator-buyer@example.com")
            listener = await asyncio.create_subprocess_exec(
                sys.executable, str(EXAMPLES / "integrator" / "listener.py"), "--url", base,
                "--organization", to_global_id("Organization", org), "--max-backoff", "1",
                env={**os.environ, "CODEX_TOKEN": owner.token}, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
            assert (await next_line(listener.stdout, "connected"))["connected"].endswith("/graphql")
            await asyncio.sleep(0.3)  # the subscription is registered just after connection_ack
            await buy(base, db, customer.token, first)
            event = await next_line(listener.stdout, "eventId")
            assert event["type"] == "COMPLETED" and event["purchase"]["contentTitle"] == "First film"
            assert event["purchase"]["amountCents"] == 700
            assert event["purchase"]["customerEmail"] == "integrator-buyer@example.com"

        # The server stopped (a restart or deploy): the listener notices and backs off.
        assert (await next_line(listener.stdout, "disconnected"))["retryInSeconds"] <= 1.2
        with serve(settings, port) as restarted:
            await next_line(listener.stdout, "connected", timeout=30)
            await asyncio.sleep(0.3)
            await buy(restarted, db, customer.token, second)
            event = await next_line(listener.stdout, "eventId")
            assert event["type"] == "COMPLETED" and event["purchase"]["contentTitle"] == "Second film"
    finally:
        if listener is not None and listener.returncode is None:
            listener.terminate()
            await listener.wait()


async def test_listener_stops_on_a_permission_error(app, factory):
    from tests.support.live_server import live_server

    customer = await factory.user()
    other = await factory.user()
    org = await factory.organization(other, slug="not-yours")
    async with live_server(app) as address:
        listener = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLES / "integrator" / "listener.py"), "--url", f"http://{address}",
            "--organization", to_global_id("Organization", org),
            env={**os.environ, "CODEX_TOKEN": customer.token}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        try:
            line = await next_line(listener.stdout, "error")
            assert line["error"] == "FORBIDDEN"
            assert await asyncio.wait_for(listener.wait(), 10) == 2
        finally:
            if listener.returncode is None:
                listener.terminate()
                await listener.wait()


@pytest.mark.timeout(60)
async def test_listener_stops_when_its_session_ends(app, factory, gql):
    """logout everywhere closes the socket with 4401: the listener says so and exits instead of
    reconnecting forever with a dead token."""
    from tests.support.live_server import live_server

    owner = await factory.user()
    org = await factory.organization(owner, slug="logging-out")
    async with live_server(app) as address:
        listener = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLES / "integrator" / "listener.py"), "--url", f"http://{address}",
            "--organization", to_global_id("Organization", org), "--max-backoff", "1",
            env={**os.environ, "CODEX_TOKEN": owner.token}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        try:
            await next_line(listener.stdout, "connected")
            await asyncio.sleep(0.3)
            await gql.ok("mutation { logout(input: {everywhere: true}) { errors { code } } }", token=owner.token)
            line = await next_line(listener.stdout, "error")
            assert line["error"] == "UNAUTHENTICATED" and "4401" in line["message"]
            assert await asyncio.wait_for(listener.wait(), 10) == 2
        finally:
            if listener.returncode is None:
                listener.terminate()
                await listener.wait()
