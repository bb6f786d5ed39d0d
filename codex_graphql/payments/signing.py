"""Stripe's webhook signature scheme (``Stripe-Signature: t=<unix>,v1=<hex hmac-sha256>``), used by
the local provider to sign the events it sends itself and by tests to sign what they deliver."""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    return f"t={ts},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"
