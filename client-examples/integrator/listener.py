"""Follow an organization's purchases live and print each event as one JSON line.

    pip install 'gql[websockets]'
    CODEX_TOKEN=... python listener.py --url http://127.0.0.1:8000 --organization <Organization global id>

The token is a bearer token from `login` for an account with the PURCHASES_READ permission in the
organization (an owner or admin). It is sent in the `connection_init` payload of the
graphql-transport-ws protocol; WebSockets never use cookies.

Delivery guarantees, and what to do about them:
- While connected, each COMPLETED / PARTIALLY_REFUNDED / REFUNDED event arrives once per subscription. Events carry an
  `eventId`; this listener drops ids it has already printed, so a consumer may see an event at least
  once but never twice in a row from this process (keep your own dedupe store across restarts).
- The server does NOT replay: events published while the listener is disconnected (server restart,
  network drop, deploy) are missed. After every reconnect, reconcile by reading
  `organization(slug:) { purchases(first:, after:) }` (see ../operations/admin.graphql,
  OrganizationPurchases) from the last purchase you processed. This listener prints a
  `{"disconnected": ...}` line before each reconnect
  and a `{"connected": ...}` line after it, marking those gaps.
- Reconnects use exponential backoff with jitter (0.5 s doubling to 30 s), reset after a connection
  that lasted; authentication or permission errors stop the listener (exit 2) instead of retrying, and
  so does a socket the server closes because the session ended (4401: logout, password reset) or the
  organization is no longer the caller's (4403).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import OrderedDict
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

SUBSCRIPTION = """
subscription PurchaseEvents($organizationId: ID!) {
  purchaseEvents(organizationId: $organizationId) {
    eventId
    type
    purchase { id kind status amountCents currency contentTitle customerEmail createdAt }
  }
}
"""
FATAL_CODES = {"UNAUTHENTICATED", "FORBIDDEN"}
# graphql-transport-ws close codes that reconnecting cannot fix: the session ended (logout, password
# reset: 4401) or the organization is no longer the caller's (4403). Get a new token instead.
FATAL_CLOSE_CODES = {4401: "UNAUTHENTICATED", 4403: "FORBIDDEN"}


def close_code(error: BaseException | None) -> int | None:
    """The WebSocket close code behind a transport error, wherever in the exception chain it sits."""
    while error is not None:
        for candidate in (getattr(error, "code", None), getattr(getattr(error, "rcvd", None), "code", None)):
            if isinstance(candidate, int):
                return candidate
        error = error.__cause__ or error.__context__
    return None


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Listener:
    def __init__(self, url: str, token: str, organization: str, max_backoff: float = 30.0) -> None:
        self.ws_url = url.rstrip("/").replace("http", "ws", 1) + "/graphql"
        self.token = token
        self.organization = organization
        self.max_backoff = max_backoff
        self.seen: OrderedDict[str, None] = OrderedDict()  # recent event ids, for dedupe

    async def listen_once(self) -> None:
        transport = WebsocketsTransport(
            url=self.ws_url, init_payload={"authorization": f"Bearer {self.token}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            ping_interval=10, pong_timeout=10, connect_timeout=10,
        )
        request = GraphQLRequest(SUBSCRIPTION, variable_values={"organizationId": self.organization})
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            emit({"connected": self.ws_url})
            async for data in session.subscribe(request):
                event = data["purchaseEvents"]
                if event["eventId"] in self.seen:
                    continue
                self.seen[event["eventId"]] = None
                if len(self.seen) > 10_000:
                    self.seen.popitem(last=False)
                emit(event)

    async def run(self) -> int:
        backoff = 0.5
        while True:
            started = time.monotonic()
            try:
                await self.listen_once()
                reason = "the server completed the subscription"
            except TransportQueryError as error:
                code = ((error.errors or [{}])[0].get("extensions") or {}).get("code")
                if code in FATAL_CODES:
                    emit({"error": code, "message": str(error)})
                    return 2
                reason = str(error)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # connection refused or dropped, server restarting, timeouts
                code = close_code(error)
                if code in FATAL_CLOSE_CODES:
                    emit({"error": FATAL_CLOSE_CODES[code], "message": f"the server closed the connection ({code})"})
                    return 2
                reason = f"{type(error).__name__}: {error}"
            if time.monotonic() - started > 60:
                backoff = 0.5  # the last connection was healthy: start over
            delay = min(self.max_backoff, backoff) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)
            emit({"disconnected": reason, "retryInSeconds": round(delay, 2),
                  "note": "events published while disconnected are not replayed; reconcile with purchases"})
            await asyncio.sleep(delay)
            backoff = min(self.max_backoff, backoff * 2)


def main() -> int:
    parser = argparse.ArgumentParser(description="Print an organization's purchase events as JSON lines.")
    parser.add_argument("--url", default=os.environ.get("CODEX_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--organization", required=True, help="Organization global id")
    parser.add_argument("--max-backoff", type=float, default=30.0)
    args = parser.parse_args()
    token = os.environ.get("CODEX_TOKEN")
    if not token:
        parser.error("set CODEX_TOKEN to a bearer token with PURCHASES_READ")
    try:
        return asyncio.run(Listener(args.url, token, args.organization, args.max_backoff).run())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
