"""Stripe's webhook signature scheme (``Stripe-Signature: t=<unix>,v1=<hex hmac-sha256>``): signing (the
local provider signs the events it sends itself, tests sign what they deliver) and the one verification
both providers use.

Verification is stricter than Stripe's own library, which rejects only timestamps older than the
tolerance. We also reject timestamps more than the tolerance in the *future*: a signature dated ahead
(a signing clock that is wrong, or a signing secret leaked to someone who pre-dates payloads) would
otherwise stay replayable for as long as it is ahead plus the tolerance, which defeats the point of the
window. Stripe signs with the time it sends, so an honest delivery is never more than clock skew ahead;
NTP-synchronised servers are well inside five minutes.

A body whose signature is valid but which is not an event (a JSON object with string ``id`` and ``type``
and an object ``data.object``) raises ``MalformedEvent``: the webhook intake answers 400 and records it
for inspection, once per distinct body.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import orjson

from codex_graphql.payments import WebhookError

TOLERANCE_SECONDS = 300


class MalformedEvent(WebhookError):
    """Correctly signed (it came from the provider, or from someone holding the secret) but not an event."""

    def __init__(self, message: str, payload: bytes) -> None:
        super().__init__(message)
        self.payload = payload


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    return f"t={ts},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def verify(payload: bytes, header: str | None, secret: str, *, tolerance: int = TOLERANCE_SECONDS,
           now: float | None = None) -> None:
    """Raise WebhookError unless some ``v1`` signature matches ``"{t}.{payload}"`` and ``t`` lies within
    ``tolerance`` seconds of now, in either direction."""
    if not header:
        raise WebhookError("Missing Stripe-Signature header.")
    parts = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k == "t"]
    signatures = [v for k, v in parts if k == "v1"]
    if len(timestamps) != 1 or not signatures or not timestamps[0].isdigit() or len(timestamps[0]) > 12:
        raise WebhookError("Malformed Stripe-Signature header.")
    timestamp = int(timestamps[0])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookError("No signature matches the payload.")
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookError("The signature timestamp is older than the tolerance.")
    if timestamp > current + tolerance:
        raise WebhookError("The signature timestamp is further in the future than the tolerance.")


def parse_event(payload: bytes) -> dict[str, Any]:
    """The event in a verified body; MalformedEvent when the body is not one."""
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent("The payload is not valid JSON.", payload) from exc
    if not isinstance(event, dict):
        raise MalformedEvent("The payload is not a JSON object.", payload)
    if b"\\u0000" in payload:  # valid JSON, but PostgreSQL's jsonb cannot store it
        raise MalformedEvent("The payload contains a NUL character.", payload)
    if not isinstance(event.get("id"), str) or not event["id"] or len(event["id"]) > 255:
        raise MalformedEvent("The event has no valid id.", payload)
    if not isinstance(event.get("type"), str) or not event["type"] or len(event["type"]) > 100:
        raise MalformedEvent("The event has no valid type.", payload)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("The event has no data.object.", payload)
    return event


def verify_event(payload: bytes, header: str | None, secret: str, *, tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """Verify the signature, then parse: the webhook intake's one check."""
    verify(payload, header, secret, tolerance=tolerance)
    return parse_event(payload)
