"""Comparing responses of the servers under benchmark.

Two answers to one request differ only where time enters: a signed storage URL carries its expiry
second (``exp``) and a signature over it, and ``playback.expiresAt`` is that expiry. ``normalize``
verifies every signed URL with the storage backend (when it can verify: the local backend), checks that
``expiresAt`` is its URL's expiry, then replaces those parts with placeholders. ``extensions`` (the
rate limiter's cost report, which only our server sends) is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import orjson

EXP = "<exp>"
SIG = "<sig>"
EXPIRES_AT = "<expiresAt>"
# Presigned S3 URLs: the signing time and the signature change from second to second.
S3_VOLATILE = {"X-Amz-Date": EXP, "X-Amz-Signature": SIG, "X-Amz-Credential": "<credential>"}


def normalize(response: Any, storage: Any = None) -> dict[str, Any]:
    """The response body (a dict, JSON bytes/str, or an object with ``.json()``) with signed URLs and
    expiry times made comparable. Raises AssertionError for a URL whose signature does not verify."""
    if hasattr(response, "json") and not isinstance(response, dict):
        body = response.json()
    elif isinstance(response, bytes | str):
        body = orjson.loads(response)
    else:
        body = response
    body = {k: v for k, v in body.items() if k != "extensions"}
    return _walk(body, storage)


def _walk(value: Any, storage: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _walk(v, storage) for k, v in value.items()}
        url, expires = value.get("url"), value.get("expiresAt")
        if isinstance(url, str) and isinstance(expires, str):
            exp = dict(parse_qsl(urlsplit(url).query)).get("exp")
            if exp is not None:
                assert datetime.fromtimestamp(int(exp), UTC).isoformat() == expires, (url, expires)
            out["expiresAt"] = EXPIRES_AT
        return out
    if isinstance(value, list):
        return [_walk(v, storage) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return _signed_url(value, storage)
    return value


def _signed_url(url: str, storage: Any) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in query}
    if {"op", "exp", "sig"} <= names and "/storage/" in parts.path:
        if storage is not None and hasattr(storage, "verify"):
            key = unquote(parts.path.split("/storage/", 1)[1])
            try:
                storage.verify(key, dict(query), ("get", "put", "part"))
            except Exception as exc:  # storage.local.SignedUrlError: forged, altered or expired
                raise AssertionError(f"signed URL does not verify ({exc}): {url}") from exc
        placeholders = {"exp": EXP, "sig": SIG}
    elif "X-Amz-Signature" in names:
        placeholders = S3_VOLATILE
    else:
        return url
    normalized = [(name, placeholders.get(name, value)) for name, value in query]
    return urlunsplit(parts._replace(query=urlencode(normalized, safe="<>")))
