"""Less fixed cost per request (issue 22, item 5): POST/GET /graphql answered without the middleware stack,
headers added once, one write per response, request ids from a counter, metrics without locks.

These assert behaviour, not time: what a response carries (the same headers as through the middleware
stack, each once), which path a request takes, what the server writes to the socket, the request ids, and
that /metrics exposes the same series as prometheus_client's own classes.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from codex_graphql import app as app_module
from codex_graphql.app import CoalescingHttpToolsProtocol, create_app
from codex_graphql.observability import SAFE_REQUEST_ID, LocalCounter, LocalHistogram, pick_request_id
from codex_graphql.web_security import STRICT_CSP
from tests.support.live_server import free_port

TYPENAME = json.dumps({"query": "query Typename { __typename }", "operationName": "Typename"}).encode()
SECURITY = {"x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy",
            "cross-origin-opener-policy"}


async def _call(app: Any, *, path: str = "/graphql", method: str = "POST", body: bytes = TYPENAME,
                headers: list[tuple[bytes, bytes]] | None = None,
                messages: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One request through the ASGI app; the messages it sent (also into ``messages`` when given)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "server": ("testserver", 80), "client": ("203.0.113.7", 4321),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()), *(headers or [])]}
    messages = [] if messages is None else messages
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return messages


def _headers(start: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in start["headers"]:
        found.setdefault(name.decode().lower(), []).append(value.decode())
    return found


class StackSpy:
    """Counts the requests that went through Starlette's middleware stack."""

    def __init__(self, app: Any) -> None:
        self.inner = app.middleware_stack or app.build_middleware_stack()
        self.paths: list[str] = []
        app.middleware_stack = self

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope.get("path", ""))
        await self.inner(scope, receive, send)


async def test_graphql_answers_in_two_messages_with_every_header_once(app):
    spy = StackSpy(app)
    messages = await _call(app)
    assert spy.paths == []  # answered without the middleware stack
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    start, body = messages
    assert start["status"] == 200
    headers = _headers(start)
    assert all(len(values) == 1 for values in headers.values()), headers
    assert headers["cache-control"] == ["no-store"]
    assert headers["vary"] == ["Accept"]
    assert headers["content-type"] == ["application/json"]
    assert headers["content-security-policy"] == [STRICT_CSP]
    assert set(headers) >= SECURITY
    assert SAFE_REQUEST_ID.match(headers["x-request-id"][0])
    assert int(headers["content-length"][0]) == len(body["body"])
    assert json.loads(body["body"])["data"] == {"__typename": "Query"}
    assert body.get("more_body", False) is False


async def test_the_direct_answer_carries_what_the_middleware_stack_adds(app):
    """The same request through the stack (the endpoint as a route) and directly: the same header names."""
    direct = _headers((await _call(app))[0])
    endpoint = app.direct_graphql
    app.direct_graphql = None
    try:
        spy = StackSpy(app)
        stacked = _headers((await _call(app))[0])
        assert spy.paths == ["/graphql"]
    finally:
        app.direct_graphql = endpoint
    assert set(direct) == set(stacked)
    for name in ("cache-control", "vary", "content-type", "content-security-policy", "x-frame-options"):
        assert direct[name] == stacked[name]


async def test_a_client_request_id_is_echoed_and_an_unsafe_one_replaced(app):
    echoed = _headers((await _call(app, headers=[(b"x-request-id", b"client-trace:42")]))[0])
    assert echoed["x-request-id"] == ["client-trace:42"]
    replaced = _headers((await _call(app, headers=[(b"x-request-id", b"bad id\twith spaces")]))[0])
    assert replaced["x-request-id"][0] != "bad id\twith spaces"
    assert SAFE_REQUEST_ID.match(replaced["x-request-id"][0])
    other_route = _headers((await _call(app, path="/healthz", method="GET", body=b""))[0])  # through the stack
    assert SAFE_REQUEST_ID.match(other_route["x-request-id"][0]) and len(other_route["x-request-id"]) == 1


def test_request_ids_come_from_a_process_prefix_and_a_counter():
    ids = [pick_request_id(None) for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    prefixes = {i.rpartition("-")[0] for i in ids}
    assert len(prefixes) == 1 and re.fullmatch(r"[0-9a-f]{12}", prefixes.pop())
    counters = [int(i.rpartition("-")[2], 16) for i in ids]
    assert counters == sorted(counters) and counters[-1] - counters[0] == len(ids) - 1
    assert all(SAFE_REQUEST_ID.match(i) and len(i) <= 100 for i in ids)
    assert pick_request_id("abc.DEF:1-2_3") == "abc.DEF:1-2_3"


async def test_with_cors_a_request_with_an_origin_goes_through_the_cors_middleware(settings):
    application = create_app(settings.model_copy(update={"cors_allowed_origins": "https://shop.example"}))
    async with application.router.lifespan_context(application):
        spy = StackSpy(application)
        without = _headers((await _call(application))[0])
        assert spy.paths == []
        assert "access-control-allow-origin" not in without
        with_origin = _headers((await _call(application, headers=[(b"origin", b"https://shop.example")]))[0])
        assert spy.paths == ["/graphql"]
        assert with_origin["access-control-allow-origin"] == ["https://shop.example"]
        assert set(with_origin) >= SECURITY and with_origin["cache-control"] == ["no-store"]


async def test_an_unexpected_failure_answers_500_and_is_counted(app, monkeypatch):
    async def broken(request: Any, request_id: str) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.direct_graphql, "_respond", broken)
    sent: list[dict[str, Any]] = []
    with pytest.raises(RuntimeError, match="boom"):  # re-raised for the server to log, as Starlette does
        await _call(app, messages=sent)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 500 and sent[1]["body"] == b"Internal Server Error"
    metrics = generate_latest(app.state.metrics.registry).decode()
    assert 'codex_http_requests_total{route="/graphql",status="500"} 1.0' in metrics


async def test_metrics_count_direct_requests_under_the_same_names(app, http):
    for _ in range(3):
        await _call(app)
    text = (await http.get("/metrics")).text
    assert 'codex_http_requests_total{route="/graphql",status="200"} 3.0' in text
    assert 'codex_graphql_requests_total{operation="Typename"} 3.0' in text
    assert 'codex_graphql_request_duration_seconds_count{operation="Typename"} 3.0' in text
    assert 'codex_graphql_request_duration_seconds_bucket{le="+Inf",operation="Typename"} 3.0' in text
    assert re.search(r'codex_graphql_requests_created\{operation="Typename"\} \d', text)


def test_lock_free_metrics_expose_what_prometheus_client_exposes():
    buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

    def exposition(counter: Any, histogram: Any) -> str:
        registry = CollectorRegistry()
        requests = counter("x_requests_total", "Requests.", ["operation"], registry=registry)
        errors = counter("x_errors_total", "Errors.", ["operation", "code"], registry=registry)
        latency = histogram("x_seconds", "Latency.", ["operation"], registry=registry, buckets=buckets)
        for value in (0.0005, 0.001, 0.003, 0.7, 10, 20):
            latency.labels("Q").observe(value)
            requests.labels("Q").inc()
        errors.labels("Q", "BAD").inc(2)
        requests.labels("R").inc()
        return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", generate_latest(registry).decode())

    ours = exposition(LocalCounter, LocalHistogram)
    assert ours == exposition(Counter, Histogram)
    assert 'x_seconds_bucket{le="0.001",operation="Q"} 2.0' in ours  # a value on a bound counts in it


def test_the_coalescing_transport_joins_the_writes_of_one_turn():
    class Inner:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            assert not self.closed
            self.writes.append(data)

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def get_extra_info(self, name: str) -> str:
            return f"info:{name}"

    loop = asyncio.new_event_loop()
    try:
        inner = Inner()
        transport = app_module._CoalescingTransport(inner, loop)
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"body")
        assert inner.writes == []
        loop.run_until_complete(asyncio.sleep(0))
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        transport.write(b"last")
        transport.close()  # flushes before closing
        assert inner.writes[-1] == b"last" and inner.closed
        assert transport.get_extra_info("peername") == "info:peername"
    finally:
        loop.close()


async def test_a_real_server_writes_each_response_once_and_still_upgrades_websockets(app, monkeypatch):
    flushed: list[int] = []
    original = app_module._CoalescingTransport.flush

    def counting_flush(self: Any) -> None:
        if self._pending:
            flushed.append(len(self._pending))
        original(self)

    monkeypatch.setattr(app_module._CoalescingTransport, "flush", counting_flush)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           http=CoalescingHttpToolsProtocol))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:  # one kept-alive connection
            for _ in range(5):
                response = await client.post("/graphql", content=TYPENAME, headers={"content-type": "application/json"})
                assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}
                assert response.headers["cache-control"] == "no-store"
        assert len(flushed) == 5 and all(count >= 2 for count in flushed)  # head and body: one write each time
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"],
                                      open_timeout=5)
        try:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        finally:
            await ws.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
