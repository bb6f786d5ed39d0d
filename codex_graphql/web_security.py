"""Browser-facing security: CORS allow-list, security headers, introspection policy, suggestion hiding.

CSRF needs nothing here: POST /graphql accepts only JSON content types (which a cross-site form cannot
send without a CORS preflight, and the preflight is refused for origins not in CORS_ALLOWED_ORIGINS),
and GET cannot carry mutations (graphql_http.py).
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from codex_graphql.settings import Settings

# JSON and media answers never need to run or embed anything.
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML pages: GraphiQL loads its bundle from unpkg (with subresource integrity) and runs inline
# bootstrap code; the account pages run a small inline script calling /graphql.
HTML_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https:; font-src 'self' data: https://unpkg.com; "
    "connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _defaults(html: bool, hsts: bool) -> tuple[tuple[bytes, bytes], ...]:
    defaults = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", (HTML_CSP if html else STRICT_CSP).encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if hsts:
        defaults.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return tuple(defaults)


# (html, hsts) -> the header pairs, built once.
_DEFAULTS = {(html, hsts): _defaults(html, hsts) for html in (False, True) for hsts in (False, True)}
_NAMES = frozenset(name for name, _ in _DEFAULTS[False, True])


def add_security_headers(headers: list[tuple[bytes, bytes]], hsts: bool) -> list[tuple[bytes, bytes]]:
    """Appends the security headers a response's raw ``headers`` lack (a route's own values win), in place."""
    present: set[bytes] | None = None
    html = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-type":
            html = value.startswith(b"text/html")
        elif lowered in _NAMES:
            present = present or set()
            present.add(lowered)
    pairs = _DEFAULTS[html, hsts]
    headers.extend(pairs if present is None else [pair for pair in pairs if pair[0] not in present])
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (a route's own values win)."""

    def __init__(self, app: Any, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = add_security_headers(list(message.get("headers", ())), self.hsts)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_middleware(settings: Settings) -> list[Middleware]:
    """Security headers outside, CORS inside (so preflight answers get the headers too)."""
    middleware = [Middleware(SecurityHeadersMiddleware, hsts=settings.public_base_url.startswith("https://"))]
    origins = settings.cors_origins
    if origins:
        middleware.append(Middleware(
            CORSMiddleware,
            allow_origins=sorted(origins),
            allow_credentials=True,  # only ever echoed for the listed origins
            allow_methods=["GET", "POST", "PUT", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id", "x-codex-organization",
                           "idempotency-key"],
            expose_headers=["ETag", "Retry-After", "X-Request-Id"],
            max_age=600,
        ))
    return middleware


def introspection_allowed(settings: Settings, viewer: Any) -> bool:
    """``on``: everyone; ``off``: no one; ``staff``: signed-in members of an organization, platform owners."""
    mode = settings.introspection
    if mode == "on":
        return True
    if mode == "off":
        return False
    return bool(viewer.is_authenticated and (viewer.memberships or viewer.is_platform_owner))


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Drops graphql-core's "Did you mean ...?" hints, which reveal schema names to probing clients."""
    for error in errors:
        if "Did you mean" in error.message:
            error.message = SUGGESTION.sub("", error.message)
