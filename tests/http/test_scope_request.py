"""The request read from the ASGI scope (``asgi_request.ScopeRequest``) answers what Starlette's ``Request``
answers for every part the GraphQL endpoint reads."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from codex_graphql.asgi_request import ScopeRequest
from codex_graphql.graphql_http import bearer_token, client_ip, organization_hint


def scope(headers: list[tuple[bytes, bytes]], *, method: str = "POST", query: bytes = b"",
          client: tuple[str, int] | None = ("203.0.113.9", 5000)) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": "/graphql", "query_string": query, "headers": headers,
            "client": client, "server": ("testserver", 80), "scheme": "http", "root_path": ""}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


HEADERS = [(b"accept", b"application/json"), (b"cookie", b"codex_session=abc; other=1"),
           (b"x-codex-organization", b"shop"), (b"accept", b"text/html"), (b"user-agent", b"caf\xe9"),
           (b"content-length", b"2")]


@pytest.mark.parametrize("headers", [HEADERS, HEADERS[:2], [], [(b"authorization", b"Bearer  tok ")]])
@pytest.mark.parametrize("client", [("203.0.113.9", 5000), None])
def test_every_part_the_endpoint_reads_is_the_same(headers: list[tuple[bytes, bytes]],
                                                     client: tuple[str, int] | None) -> None:
    raw = scope(headers, method="GET", query=b"query=%7B__typename%7D&extensions=x&query=second", client=client)
    ours, theirs = ScopeRequest(dict(raw), receive), Request(dict(raw), receive)
    for name in ("accept", "Accept", "cookie", "X-Codex-Organization", "user-agent", "content-length",
                 "authorization", "absent"):
        assert ours.headers.get(name) == theirs.headers.get(name), name  # the first of repeated values
        assert ours.headers.get(name, "d") == theirs.headers.get(name, "d")
        assert (name in ours.headers) == (name in theirs.headers)
    assert ours.method == theirs.method == "GET"
    assert ours.cookies == theirs.cookies
    assert dict(ours.query_params) == dict(theirs.query_params) and ours.query_params.getlist("query") == [
        "{__typename}", "second"]
    assert client_ip(ours) == client_ip(theirs) == (client[0] if client else "")
    assert bearer_token(ours, "codex_session") == bearer_token(theirs, "codex_session")
    assert organization_hint(ours) == organization_hint(theirs)
    assert ours.receive is receive and ours.scope["path"] == "/graphql"


def test_a_missing_header_is_a_key_error_as_in_starlette() -> None:
    ours = ScopeRequest(scope([(b"accept", b"*/*")]), receive)
    assert ours.headers["Accept"] == "*/*"
    with pytest.raises(KeyError):
        ours.headers["cookie"]
