"""OAuth tokens at rest and the OAuth ``state`` (docs/conferencing.md, "Credentials").

Tokens are encrypted with AES-256-GCM under a key derived from ``SECRET_KEY`` (HKDF-SHA256, its own ``info``),
bound to the organization and the token's role as associated data: a ciphertext copied to another
organization's row (or from the refresh to the access column) does not decrypt. The OAuth ``state`` is an
HMAC-signed, expiring statement of who started the connection, for which organization and provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_INFO = b"codex-conferencing-token:v1"
_STATE_INFO = b"codex-conferencing-state:v1"
STATE_TTL_SECONDS = 600


class CredentialsUnavailable(Exception):
    """A stored token that does not decrypt (another SECRET_KEY, another organization, damaged)."""


class BadState(Exception):
    """An OAuth ``state`` that is not ours, was tampered with or has expired."""


def _key(secret_key: str, info: bytes) -> bytes:
    if not secret_key:
        raise ValueError("conferencing credentials need SECRET_KEY")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


def _bound(organization_id: uuid.UUID, role: str) -> bytes:
    return f"{organization_id}|{role}".encode()


def encrypt(secret_key: str, organization_id: uuid.UUID, role: str, token: str) -> bytes:
    """``nonce || AES-GCM(token)`` bound to the organization and ``role`` (``access`` or ``refresh``)."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_key(secret_key, _INFO)).encrypt(nonce, token.encode(), _bound(organization_id, role))


def decrypt(secret_key: str, organization_id: uuid.UUID, role: str, sealed: bytes) -> str:
    try:
        return AESGCM(_key(secret_key, _INFO)).decrypt(
            sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _bound(organization_id, role)).decode()
    except (InvalidTag, ValueError) as exc:
        raise CredentialsUnavailable("the stored conferencing token does not decrypt") from exc


@dataclass(frozen=True, slots=True)
class State:
    organization_id: uuid.UUID
    user_id: uuid.UUID
    provider: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_state(secret_key: str, state: State, now: float | None = None) -> str:
    body = json.dumps({"o": str(state.organization_id), "u": str(state.user_id), "p": state.provider,
                       "e": int((now or time.time()) + STATE_TTL_SECONDS), "n": _b64(os.urandom(9))},
                      separators=(",", ":")).encode()
    mac = hmac.new(_key(secret_key, _STATE_INFO), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def open_state(secret_key: str, token: str, now: float | None = None) -> State:
    try:
        body_text, mac_text = token.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError) as exc:
        raise BadState("malformed state") from exc
    expected = hmac.new(_key(secret_key, _STATE_INFO), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise BadState("state signature does not match")
    try:
        data = json.loads(body)
        state = State(uuid.UUID(data["o"]), uuid.UUID(data["u"]), str(data["p"]))
        expires = int(data["e"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadState("malformed state") from exc
    if expires < (now or time.time()):
        raise BadState("state expired")
    return state
