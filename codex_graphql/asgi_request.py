"""A request read straight from the ASGI scope, for ``POST/GET /graphql`` served without the middleware.

``GraphQLEndpoint.asgi`` (the path ``app.CodexApp`` takes for most GraphQL requests) needs a few headers,
the method, the client address, the cookies when there is no bearer token, the query string for GET and
the body: ``ScopeRequest`` offers exactly the parts of Starlette's ``Request`` the endpoint reads, with the
headers looked up in one dict built once (Starlette's ``Headers`` scans the raw list on every lookup, and
the endpoint looks up five or six), cookies and query parameters parsed only when asked for.

Header names arrive lower-cased (ASGI); a repeated header answers its first value, as Starlette does.

Also here: the response media type negotiated from ``Accept`` (``negotiate``; ``negotiated`` remembers it
per header value), which the endpoint does first for every request.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import cookie_parser

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
CONTENT_TYPES = {JSON: JSON, GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"}
MAX_ACCEPT_CHARS = 4096


def negotiate(accept: str | None) -> str | None:
    """The response media type for an `Accept` header, or None when it accepts neither of ours (406).

    Each type takes the q-value of the most specific range naming it (`type/sub` over `type/*` over
    `*/*`); the highest q wins, then the more specific match; between two types named explicitly with
    equal q the spec's `application/graphql-response+json` wins, while wildcards alone and a missing or
    unparsable header mean `application/json` (the legacy default during the spec's watershed).
    """
    if accept is None or not accept.strip():
        return JSON
    ranges: list[tuple[str, str, float]] = []
    for part in accept[:MAX_ACCEPT_CHARS].split(","):
        media, _, params = part.partition(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = -1.0
        if q >= 0:
            ranges.append((kind, sub, q))
    if not ranges:
        return JSON
    best: tuple[float, int, bool] | None = None
    chosen: str | None = None
    for candidate in (JSON, GRAPHQL_RESPONSE_JSON):
        kind, _, sub = candidate.partition("/")
        match: tuple[int, float] | None = None  # (specificity, q) of the most specific matching range
        for range_kind, range_sub, q in ranges:
            if range_kind == kind and range_sub == sub:
                specificity = 2
            elif range_kind == kind and range_sub == "*":
                specificity = 1
            elif range_kind == "*" and range_sub == "*":
                specificity = 0
            else:
                continue
            if match is None or specificity > match[0] or (specificity == match[0] and q > match[1]):
                match = (specificity, q)
        if match is None or match[1] <= 0:
            continue
        key = (match[1], match[0], candidate == GRAPHQL_RESPONSE_JSON and match[0] == 2)
        if best is None or key > best:
            best, chosen = key, candidate
    return chosen


NEGOTIATED_KEPT = 256
_negotiated: dict[str | None, str | None] = {}


def negotiated(accept: str | None) -> str | None:
    """``negotiate``, remembered per ``Accept`` value (clients send the same few; at most NEGOTIATED_KEPT
    values are kept, then the memo starts over)."""
    if accept in _negotiated:
        return _negotiated[accept]
    chosen = negotiate(accept)
    if len(_negotiated) >= NEGOTIATED_KEPT:
        _negotiated.clear()
    if accept is None or len(accept) <= MAX_ACCEPT_CHARS:
        _negotiated[accept] = chosen
    return chosen


_NAMES: dict[str, bytes] = {}  # header names as asked for -> as sent (the endpoint's own few constants)


def _name(name: str) -> bytes:
    key = name.lower().encode("latin-1")
    if len(_NAMES) < 64:
        _NAMES[name] = key
    return key


class ScopeHeaders:
    """The request's headers by lower-cased name (first value wins), decoded as latin-1 when read."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        found: dict[bytes, bytes] = {}
        for name, value in raw:
            if name not in found:
                found[name] = value
        self._raw = found

    def get(self, name: str, default: Any = None) -> Any:
        key = _NAMES.get(name)
        if key is None:
            key = _name(name)
        value = self._raw.get(key)
        return value.decode("latin-1") if value is not None else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _name(name) in self._raw

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)


class ScopeRequest:
    """What ``GraphQLEndpoint`` reads of a request (``method``, ``headers``, ``cookies``, ``query_params``,
    ``receive``, ``scope``), without Starlette's ``Request``."""

    __slots__ = ("_cookies", "_query", "headers", "receive", "scope")

    def __init__(self, scope: dict[str, Any], receive: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.headers = ScopeHeaders(scope["headers"])
        self._cookies: dict[str, str] | None = None
        self._query: QueryParams | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def query_params(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self.scope.get("query_string", b""))
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            header = self.headers.get("cookie")
            self._cookies = cookie_parser(header) if header else {}
        return self._cookies
